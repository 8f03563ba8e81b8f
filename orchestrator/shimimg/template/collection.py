"""Minimal edits to one mapping or sequence: delete, insert or replace members, nothing else.

Block YAML is edited by whole lines (a block key always starts its line), with the siblings'
indentation; flow collections (YAML ``{...}``/``[...]`` and all of JSON) are edited between their
members, reusing the file's own separators so commas stay valid and untouched members keep their
lines. Nothing is ever re-dumped, so comments, quoting, key order and tags survive by construction.

(Longer than the project's usual module: block and flow edits share one ``CollectionEdit`` and its
ordering checks, and splitting them would put that state in two places.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shimimg.template.document import MERGE_TAG, Document
from shimimg.template.edits import Edit, LayoutError, colon_end, content_end, line_end, line_start
from shimimg.template.render import (
    Style,
    Value,
    render_block_member,
    render_flow_member,
    render_inline,
    yaml_scalar,
)


def _subtree_shared(doc: Document, node: Node) -> bool:
    if not doc.shared:
        return False
    stack = [node]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in doc.shared:
            return True
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, MappingNode):
            for k, v in n.value:
                stack += [k, v]
        elif isinstance(n, SequenceNode):
            stack.extend(n.value)
    return False


def _alias_error(doc: Document, node: Node, what: str) -> LayoutError:
    return LayoutError(
        f"{doc.where(node)}: {what} uses YAML anchors, aliases or merge keys, which the rewrite "
        "cannot change without changing every place that shares them",
        hint="write the shared values out in full there (no &anchor, *alias or <<), then migrate again",
    )


@dataclass(eq=False)
class CollectionEdit:
    """Changes to one mapping or sequence, turned into text edits by ``edits()``.

    Positions refer to the original members: ``inserts[p]`` go before member ``p`` (``p == len``
    appends). Replaced values keep their key where it is.
    """

    doc: Document
    node: MappingNode | SequenceNode
    what: str  # for messages: "Globals.Function", "the Properties of CreateOrderFunction", ...
    parent_key: ScalarNode | None = None
    deletes: set[int] = field(default_factory=set)
    replaces: dict[int, Value] = field(default_factory=dict)
    inserts: dict[int, list[tuple[str | None, Value]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if id(self.node) in self.doc.shared:
            raise _alias_error(self.doc, self.node, self.what)
        if isinstance(self.node, MappingNode) and any(
            not isinstance(k, ScalarNode) or k.tag == MERGE_TAG for k, _ in self.node.value
        ):
            raise _alias_error(self.doc, self.node, self.what)

    @property
    def size(self) -> int:
        return len(self.node.value)

    def index(self, key: str) -> int | None:
        if isinstance(self.node, MappingNode):
            for i, (k, _) in enumerate(self.node.value):
                if k.value == key:
                    return i
        return None

    def value(self, i: int) -> Node:
        item = self.node.value[i]
        return item[1] if isinstance(self.node, MappingNode) else item

    def check_own(self, i: int) -> None:
        """Refuse to change member ``i`` when its value is shared through an anchor."""
        if _subtree_shared(self.doc, self.value(i)):
            raise _alias_error(self.doc, self.value(i), self.what)

    def delete(self, i: int) -> None:
        self.check_own(i)
        self.deletes.add(i)

    def replace(self, i: int, value: Value) -> None:
        self.check_own(i)
        self.replaces[i] = value

    def insert(self, at: int, key: str | None, value: Value) -> None:
        self.inserts.setdefault(at, []).append((key, value))

    def touched(self) -> bool:
        return bool(self.deletes or self.replaces or self.inserts)

    def edits(self) -> list[Edit]:
        if not self.touched():
            return []
        self._check_order()
        if self.doc.format == "json" or self.node.flow_style:
            return _flow_edits(self)
        if isinstance(self.node, MappingNode):
            return _block_mapping_edits(self)
        return _block_sequence_edits(self)

    def _check_order(self) -> None:
        # An alias's node is its anchor's, positioned where the anchor is: out of order here. Edits
        # computed from such positions would cut the wrong text, so refuse instead.
        pos = self.node.start_mark.index
        for i in range(self.size):
            item = self.node.value[i]
            value = self.value(i)
            first = item[0] if isinstance(self.node, MappingNode) else value
            end = content_end(self.doc, value)
            after_key = value is first or value.start_mark.index >= first.end_mark.index
            if first.start_mark.index < pos or not after_key or end < pos:
                raise _alias_error(self.doc, first, self.what)
            pos = max(end, first.end_mark.index)


def _member_start(ce: CollectionEdit, i: int) -> int:
    item = ce.node.value[i]
    return (item[0] if isinstance(ce.node, MappingNode) else item).start_mark.index


def _block_unit(ce: CollectionEdit, indent: int) -> str:
    if ce.parent_key is not None and indent > ce.parent_key.start_mark.column:
        return " " * (indent - ce.parent_key.start_mark.column)
    return "  "


def _block_mapping_edits(ce: CollectionEdit) -> list[Edit]:
    doc, text = ce.doc, ce.doc.text
    node: MappingNode = ce.node  # type: ignore[assignment]
    column = node.value[0][0].start_mark.column
    indent, unit, nl = " " * column, _block_unit(ce, column), doc.newline
    spans = []
    for key, value in node.value:
        start = line_start(text, key.start_mark.index)
        if text[start : key.start_mark.index].strip(" "):
            raise LayoutError(f"{doc.where(key)}: {ce.what} shares a line with other content; cannot edit it")
        spans.append((start, line_end(text, content_end(doc, value))))
    edits = [Edit(*spans[i], "") for i in sorted(ce.deletes)]
    for i, new in ce.replaces.items():
        key, value = node.value[i]
        start, end = colon_end(doc, key), content_end(doc, value)
        if isinstance(new, dict):
            lines = "".join(render_block_member(k, v, indent + unit, unit, nl) for k, v in new.items())
            edits.append(Edit(start, end, nl + lines[: -len(nl)]))
        else:
            style = Style(json=False, flow=False, multiline=False, indent=indent, unit=unit, newline=nl)
            edits.append(Edit(start, end, " " + render_inline(new, style)))
    for at, news in sorted(ce.inserts.items()):
        offset = spans[at][0] if at < len(spans) else spans[-1][1]
        lines = "".join(render_block_member(k or "", v, indent, unit, nl) for k, v in news)
        if offset == len(text) and not text.endswith("\n"):
            lines = nl + lines
        edits.append(Edit(offset, offset, lines))
    return edits


_DASH = re.compile(r"( *)- +")


def _block_sequence_edits(ce: CollectionEdit) -> list[Edit]:
    doc, text = ce.doc, ce.doc.text
    spans, dash = [], ""
    for item in ce.node.value:
        start = line_start(text, item.start_mark.index)
        m = _DASH.fullmatch(text, start, item.start_mark.index)
        if not m:
            raise LayoutError(f"{doc.where(item)}: {ce.what} has an item sharing a line; cannot edit it")
        dash = dash or m.group(1)
        spans.append((start, line_end(text, content_end(doc, item))))
    if ce.replaces:
        raise LayoutError(f"{doc.where(ce.node)}: replacing items of {ce.what} is not supported")
    edits = [Edit(*spans[i], "") for i in sorted(ce.deletes)]
    for at, news in sorted(ce.inserts.items()):
        offset = spans[at][0] if at < len(spans) else spans[-1][1]
        lines = "".join(f"{dash}- {yaml_scalar(v) if isinstance(v, str) else render_inline(v, _plain(doc))}"
                        f"{doc.newline}" for _, v in news)
        if offset == len(text) and not text.endswith("\n"):
            lines = doc.newline + lines
        edits.append(Edit(offset, offset, lines))
    return edits


def _plain(doc: Document) -> Style:
    return Style(json=False, flow=True, multiline=False, indent="", unit="  ", newline=doc.newline)


def _opening(ce: CollectionEdit) -> int:
    bracket = "{" if isinstance(ce.node, MappingNode) else "["
    i = ce.doc.text.find(bracket, ce.node.start_mark.index, ce.node.end_mark.index)
    if i < 0:
        raise LayoutError(f"{ce.doc.where(ce.node)}: cannot find the start of {ce.what}")
    return i


def _flow_style(ce: CollectionEdit, spans: list[tuple[int, int]], open_: int, close: int) -> Style:
    doc, text = ce.doc, ce.doc.text
    between = [text[spans[i][1] : spans[i + 1][0]] for i in range(len(spans) - 1)]
    head = text[open_ + 1 : spans[0][0]] if spans else text[open_ + 1 : close]
    multiline = any("\n" in s for s in between) or "\n" in head
    outer = _line_indent(text, open_)
    indent = outer
    for start, _ in reversed(spans):
        prefix = text[line_start(text, start) : start]
        if not prefix.strip():
            indent = prefix
            break
    else:
        if multiline:
            indent = outer + _document_unit(doc)
    unit = indent[len(outer) :] if indent.startswith(outer) and len(indent) > len(outer) else _document_unit(doc)
    if multiline:
        sep = "," + doc.newline + indent
    elif between and between[0].startswith(",") and not between[0].startswith(", "):
        sep = ","
    else:
        sep = ", "
    colon = ": "
    if doc.format == "json" and isinstance(ce.node, MappingNode) and ce.node.value:
        key, value = ce.node.value[0]
        found = text[key.end_mark.index : value.start_mark.index]
        if "\n" not in found and found.strip() == ":":
            colon = found
    return Style(json=doc.format == "json", flow=True, multiline=multiline, indent=indent, unit=unit,
                 newline=doc.newline, sep=sep, colon=colon)


def _line_indent(text: str, offset: int) -> str:
    start = line_start(text, offset)
    m = re.match(r"[ \t]*", text[start:offset])
    return m.group() if m else ""


def _flow_edits(ce: CollectionEdit) -> list[Edit]:
    doc, text = ce.doc, ce.doc.text
    n = ce.size
    spans = [(_member_start(ce, i), content_end(doc, ce.value(i))) for i in range(n)]
    open_, close = _opening(ce), ce.node.end_mark.index - 1
    style = _flow_style(ce, spans, open_, close)
    mapping = isinstance(ce.node, MappingNode)

    def new_texts(positions: range) -> list[str]:
        return [render_flow_member(k if mapping else None, v, style)
                for p in positions for k, v in ce.inserts.get(p, [])]

    edits: list[Edit] = []
    for i, new in ce.replaces.items():
        value = ce.value(i)
        edits.append(Edit(value.start_mark.index, spans[i][1], render_flow_member(None, new, style)))

    kept = [i for i in range(n) if i not in ce.deletes]
    if not kept:
        news = new_texts(range(0, n + 1))
        if not news:
            return edits + [Edit(open_ + 1, close, "")]
        if n == 0:
            if style.json and "\n" in text.strip():
                # An empty object in pretty-printed JSON: members on their own lines, one level in.
                outer = _line_indent(text, open_)
                unit = _document_unit(doc)
                inner = outer + unit
                style = Style(json=True, flow=True, multiline=True, indent=inner, unit=unit,
                              newline=doc.newline, colon=style.colon)
                news = new_texts(range(0, 1))
                body = ("," + doc.newline + inner).join(news)
                return edits + [Edit(open_ + 1, close, doc.newline + inner + body + doc.newline + outer)]
            return edits + [Edit(open_ + 1, close, style.sep.join(news))]
        return edits + [Edit(spans[0][0], spans[-1][1], style.sep.join(news))]

    def sep_after(i: int) -> str:
        return text[spans[i][1] : spans[i + 1][0]]

    # Gap before the first kept member.
    first = kept[0]
    news = new_texts(range(0, first + 1))
    if first > 0 or news:
        if first == 0:
            edits.append(Edit(spans[0][0], spans[0][0], "".join(t + style.sep for t in news)))
        else:
            tail = sep_after(first - 1)
            edits.append(Edit(spans[0][0], spans[first][0], (style.sep.join(news) + tail) if news else ""))
    # Gaps between kept members.
    for a, b in zip(kept, kept[1:]):
        news = new_texts(range(a + 1, b + 1))
        if b == a + 1 and not news:
            continue
        lead = sep_after(a)
        tail = sep_after(b - 1) if b - 1 != a else style.sep
        middle = style.sep.join(news)
        edits.append(Edit(spans[a][1], spans[b][0], lead + middle + tail if news else lead))
    # Gap after the last kept member.
    last = kept[-1]
    news = new_texts(range(last + 1, n + 1))
    if last < n - 1 or news:
        lead = sep_after(last) if last < n - 1 else style.sep
        end = spans[-1][1]
        edits.append(Edit(spans[last][1], end, (lead + style.sep.join(news)) if news else ""))
    return edits


def _document_unit(doc: Document) -> str:
    """One level of indentation as the document's top-level members use it ("  ", "    ", "\t")."""
    if doc.root.value:
        start = doc.root.value[0][0].start_mark.index
        prefix = doc.text[line_start(doc.text, start) : start]
        if prefix and not prefix.strip():
            return prefix
    return "  "


class Editor:
    """One ``CollectionEdit`` per collection, so changes to one mapping are planned together."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._collections: dict[int, CollectionEdit] = {}
        self.raw: list[Edit] = []

    def collection(self, node: Node, what: str, parent_key: ScalarNode | None = None) -> CollectionEdit:
        if not isinstance(node, (MappingNode, SequenceNode)):
            raise LayoutError(f"{self.doc.where(node)}: {what} is not a mapping")
        ce = self._collections.get(id(node))
        if ce is None:
            ce = self._collections[id(node)] = CollectionEdit(self.doc, node, what, parent_key)
        return ce

    def delete(self, ce: CollectionEdit, key: str) -> bool:
        i = ce.index(key)
        if i is None:
            return False
        ce.delete(i)
        return True

    def edits(self) -> list[Edit]:
        out = list(self.raw)
        for ce in self._collections.values():
            out += ce.edits()
        return out
