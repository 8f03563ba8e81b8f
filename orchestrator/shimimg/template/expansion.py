"""A bound on what a YAML template expands to, not on its text (issue 19).

Aliases share composed nodes, so a few lines (``&a [*b, *b, ...]`` nine levels deep) stand for
billions of values: harmless while shimimg works on nodes, fatal where a value is built from them
(``invoke`` turns a function's Environment into values). The expanded size is counted once per
distinct node, bottom up, so counting costs the text's size, never the expansion's.
"""

from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shimimg.errors import ShimimgError

NODE_COST = 32  # roughly what a value costs beyond its characters
# What aliases may add beyond the template's own nodes: ample for anchors reused as intended
# (shared Environment blocks, Globals-like mappings), far below exhausting memory.
EXTRA_MAX = 64 * 1024 * 1024


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check(root: Node, path: Path) -> None:
    """Refuse a tree whose expansion costs more than ``EXTRA_MAX`` beyond its distinct nodes."""
    expanded: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in expanded:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in expanded)
            continue
        own = NODE_COST + (len(node.value) if isinstance(node, ScalarNode) else 0)
        distinct += own
        total = own + sum(expanded[id(c)] for c in _children(node))
        expanded[id(node)] = total
        if total - distinct > EXTRA_MAX:
            mark = node.start_mark
            raise ShimimgError(
                f"{path}:{mark.line + 1}: YAML aliases here expand to more than {EXTRA_MAX // (1024 * 1024)} MiB "
                "of values (an alias bomb)",
                hint="use each anchor (&name) a few times, not nested aliases of aliases")
