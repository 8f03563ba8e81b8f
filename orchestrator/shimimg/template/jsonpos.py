"""Compose JSON into the same node tree as YAML, with exact positions.

Composing JSON as YAML would mostly work, but YAML rejects tab indentation and some escapes that
JSON allows, so JSON gets its own small composer. The text must already have passed ``json.loads``
(which gives JSON's own error messages); this only adds positions. Iterative, so depth costs no
Python stack.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from json.decoder import scanstring

from yaml import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LINE = re.compile(r"\n")
_TAG = "tag:yaml.org,2002:"
_LITERALS = {"true": "bool", "false": "bool", "null": "null"}


class JsonShapeError(ValueError):
    """The text is not the JSON ``json.loads`` accepted (a bug if it ever escapes)."""


def compose_json(text: str, name: str = "<json>") -> Node:
    starts = [0] + [m.end() for m in _LINE.finditer(text)]

    def mark(index: int) -> Mark:
        line = bisect_right(starts, index) - 1
        return Mark(name, index, line, index - starts[line], None, None)

    ws = _WS.match
    pos = ws(text, 0).end()
    # Each frame: the open collection, and for mappings the key waiting for its value.
    stack: list[list] = []
    while True:
        value: Node | None
        ch = text[pos] if pos < len(text) else ""
        if ch in "{[":
            mapping = ch == "{"
            node: MappingNode | SequenceNode = (
                MappingNode(_TAG + "map", [], mark(pos), None, flow_style=True)
                if mapping
                else SequenceNode(_TAG + "seq", [], mark(pos), None, flow_style=True)
            )
            pos = ws(text, pos + 1).end()
            if text[pos : pos + 1] == ("}" if mapping else "]"):
                node.end_mark = mark(pos + 1)
                pos += 1
                value = node
            else:
                key: ScalarNode | None = None
                if mapping:
                    key, pos = _key(text, pos, mark)
                stack.append([node, key])
                continue
        elif ch == '"':
            s, end = scanstring(text, pos + 1)
            value = ScalarNode(_TAG + "str", s, mark(pos), mark(end), style='"')
            pos = end
        else:
            m = _NUMBER.match(text, pos)
            if m and m.end() > pos:
                tag = "float" if (m.group(1) or m.group(2)) else "int"
                value = ScalarNode(_TAG + tag, m.group(), mark(pos), mark(m.end()))
                pos = m.end()
            else:
                for word, tag in _LITERALS.items():
                    if text.startswith(word, pos):
                        value = ScalarNode(_TAG + tag, word, mark(pos), mark(pos + len(word)))
                        pos += len(word)
                        break
                else:
                    raise JsonShapeError(f"unexpected {ch!r} at {pos}")
        # Attach the finished value, closing every collection it completes.
        while True:
            pos = ws(text, pos).end()
            if not stack:
                if pos != len(text):
                    raise JsonShapeError(f"extra data at {pos}")
                return value
            frame = stack[-1]
            parent = frame[0]
            if isinstance(parent, MappingNode):
                parent.value.append((frame[1], value))
            else:
                parent.value.append(value)
            ch = text[pos : pos + 1]
            if ch == ",":
                pos = ws(text, pos + 1).end()
                if isinstance(parent, MappingNode):
                    frame[1], pos = _key(text, pos, mark)
                break
            if ch not in "}]" or not ch:
                raise JsonShapeError(f"expected ',' or a closing bracket at {pos}")
            parent.end_mark = mark(pos + 1)
            pos += 1
            stack.pop()
            value = parent


def _key(text: str, pos: int, mark) -> tuple[ScalarNode, int]:
    if text[pos : pos + 1] != '"':
        raise JsonShapeError(f"expected a key at {pos}")
    s, end = scanstring(text, pos + 1)
    key = ScalarNode(_TAG + "str", s, mark(pos), mark(end), style='"')
    pos = _WS.match(text, end).end()
    if text[pos : pos + 1] != ":":
        raise JsonShapeError(f"expected ':' at {pos}")
    return key, _WS.match(text, pos + 1).end()
