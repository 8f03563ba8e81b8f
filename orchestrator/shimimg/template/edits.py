"""Text edits on a template, and where a node's text starts and ends.

An ``Edit`` replaces ``text[start:end]``; edits never overlap, so applying them in order of position
leaves every other byte of the template as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shimimg.errors import ShimimgError
from shimimg.template.document import Document
from shimimg.template.render import scalar_like


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits; insertions at one offset keep the order they were made in."""
    ordered = sorted(enumerate(edits), key=lambda ie: (ie[1].start, ie[1].end != ie[1].start, ie[0]))
    out: list[str] = []
    pos = 0
    for _, e in ordered:
        if e.start < pos:
            raise RuntimeError(f"overlapping template edits at offset {e.start}")
        out.append(text[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


class LayoutError(ShimimgError):
    """A spot the rewrite cannot edit without touching more than it should."""


_PROPERTY = re.compile(r"[&!]\S*\s+")


def replace_scalar(doc: Document, node: ScalarNode, value: str, *, flow: bool) -> Edit:
    """Replace a scalar's text, keeping an ``&anchor`` or ``!!tag`` written before it."""
    if id(node) in doc.shared:
        raise LayoutError(
            f"{doc.where(node)}: {node.value!r} is shared through a YAML alias, so changing it here would "
            "change it everywhere it is used",
            hint="write the value out in full where it is used (no *alias), then migrate again",
        )
    start = node.start_mark.index
    while doc.text[start : start + 1] in ("&", "!"):
        m = _PROPERTY.match(doc.text, start)
        if not m:
            raise LayoutError(f"{doc.where(node)}: cannot find where the value {node.value!r} starts")
        start = m.end()
    return Edit(start, node.end_mark.index, scalar_like(doc, node, value, flow=flow))


def content_end(doc: Document, node: Node) -> int:
    """Offset just after the last character of ``node``'s own text (not trailing comments/blanks)."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    end = node.end_mark.index
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        # A block scalar's end mark sits after its trailing line breaks.
        start = node.start_mark.index
        end = start + len(doc.text[start:end].rstrip())
    return end


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def line_end(text: str, offset: int) -> int:
    """Offset after the newline ending the line that holds ``offset - 1``."""
    nl = text.find("\n", max(offset - 1, 0))
    return len(text) if nl < 0 else nl + 1


def colon_end(doc: Document, key: ScalarNode) -> int:
    i = doc.text.find(":", key.end_mark.index)
    if i < 0 or doc.text[key.end_mark.index : i].strip():
        raise LayoutError(f"{doc.where(key)}: cannot find the ':' after {key.value!r}")
    return i + 1
