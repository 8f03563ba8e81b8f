"""New values as template text: YAML scalars that read back exactly, flow and block members, JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Union

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from shimimg.template.document import Document

# New values: a string, a list of strings, or a mapping of those (insertion order kept).
Value = Union[str, list, dict]

_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@+=~-]*(?::[A-Za-z0-9_./@+=~-]+)*")
# Characters neither YAML nor UTF-8 output may hold raw (lone surrogates come from JSON's \ud800).
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_RESOLVER = Resolver()


def yaml_scalar(value: str, *, flow: bool = False) -> str:
    """``value`` as a YAML scalar that reads back as exactly that string."""
    plain_ok = _PLAIN.fullmatch(value) is not None and not (flow and ":" in value)
    if plain_ok and _RESOLVER.resolve(ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str":
        return value
    return double_quoted(value)


def double_quoted(value: str) -> str:
    """A JSON string, which is also a YAML double-quoted scalar (JSON's escapes are YAML's too)."""
    dumped = json.dumps(value, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def scalar_like(doc: Document, node: ScalarNode, value: str, *, flow: bool) -> str:
    """``value`` written the way ``node`` is (same quote style where it can be)."""
    if doc.format == "json":
        return double_quoted(value)
    if node.style == "'" and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    if node.style == '"':
        return double_quoted(value)
    return yaml_scalar(value, flow=flow)


@dataclass(frozen=True)
class Style:
    """How new members are written into one collection."""

    json: bool
    flow: bool
    multiline: bool
    indent: str  # of the collection's members
    unit: str  # one more level of nesting
    newline: str
    sep: str = ", "  # between members on one line / ("," + newline + indent) across lines
    colon: str = ": "


def render_inline(value: Value, style: Style) -> str:
    if style.json:
        return _json_value(value, style, style.indent, multiline=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render_inline(v, style)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render_inline(v, style) for v in value) + "]"
    return yaml_scalar(value, flow=True)


def _json_value(value: Value, style: Style, indent: str, *, multiline: bool) -> str:
    if isinstance(value, dict) and value:
        if multiline:
            inner = indent + style.unit
            body = ("," + style.newline).join(
                f"{inner}{json.dumps(k)}{style.colon}{_json_value(v, style, inner, multiline=True)}"
                for k, v in value.items()
            )
            return "{" + style.newline + body + style.newline + indent + "}"
        return "{" + ", ".join(f"{json.dumps(k)}{style.colon}{_json_value(v, style, indent, multiline=False)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_value(v, style, indent, multiline=False) for v in value) + "]"
    return double_quoted(value)


def render_flow_member(key: str | None, value: Value, style: Style) -> str:
    if style.json:
        text = _json_value(value, style, style.indent, multiline=style.multiline)
        return text if key is None else f"{json.dumps(key)}{style.colon}{text}"
    text = render_inline(value, style)
    return text if key is None else f"{key}: {text}"


def render_block_member(key: str, value: Value, indent: str, unit: str, nl: str) -> str:
    """``key: value`` as block YAML lines at ``indent``, each ending with ``nl``."""
    if isinstance(value, dict):
        head = f"{indent}{key}:{nl}"
        return head + "".join(render_block_member(k, v, indent + unit, unit, nl) for k, v in value.items())
    style = Style(json=False, flow=False, multiline=False, indent=indent, unit=unit, newline=nl)
    if isinstance(value, list):
        return f"{indent}{key}: {render_inline(value, style)}{nl}"
    return f"{indent}{key}: {yaml_scalar(value)}{nl}"
