"""Read a template (YAML or JSON) into a ``Document`` without losing a byte of its text.

YAML is composed, not constructed: the composer accepts every ``!Tag`` (known intrinsic or not) and
records where each node sits. JSON goes through ``json.loads`` first, because YAML would accept
what JSON and CloudFormation refuse (trailing commas, single quotes, comments). Duplicate keys are
refused in both, since CloudFormation refuses them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import ClassVar

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from shimimg.errors import ShimimgError
from shimimg.readfile import TEMPLATE_MAX, read_bytes
from shimimg.template.document import MERGE_TAG, Document, Format, get
from shimimg.template.expansion import check as check_expansion
from shimimg.template.jsonpos import JsonShapeError, compose_json
from shimimg.trust import checkout_root, inside

_LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")
_TEMPLATE_HINT = "a template is a mapping with a Resources section:\n    Resources:\n      MyFunction: ..."


class _Resolver(Resolver):
    """YAML 1.1's implicit tags, cached: a template repeats the same plain scalars (Type, Properties,
    bin/..., !Ref targets) thousands of times, and the regex walk per scalar dominated composing."""

    _cache: ClassVar[dict[str, str]] = {}

    def resolve(self, kind, value, implicit):  # PyYAML's signature
        if kind is not ScalarNode or not implicit[0]:
            return super().resolve(kind, value, implicit)
        tag = self._cache.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[value] = tag
        return tag


class _PyLoader(Reader, Scanner, Parser, Composer, _Resolver):
    """PyYAML's pure-Python composer, for installations without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


try:
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Loader: type = _PyLoader
else:
    # libyaml: ~15x faster, and it caps nesting depth instead of exhausting the stack.
    class _CLoader(CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _Loader = _CLoader


def load_document(path: Path) -> Document:
    """Read and parse ``path``; every problem is a ``ShimimgError`` naming the file and line."""
    path = Path(path)
    try:
        data = read_bytes(path, TEMPLATE_MAX, "template")
    except FileNotFoundError:
        raise ShimimgError(
            f"{path}: no such template", hint="name the template with -t, e.g. -t template.yaml"
        ) from None
    except IsADirectoryError:
        raise ShimimgError(
            f"{path} is a directory", hint=f"name the template file, e.g. -t {path / 'template.yaml'}"
        ) from None
    except OSError as e:
        raise ShimimgError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ShimimgError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})",
            hint="CloudFormation reads templates as UTF-8; save the file as UTF-8",
        ) from None
    return parse_document(text, path)


def parse_document(text: str, path: Path, *, format: Format | None = None) -> Document:
    """Parse template text; ``format`` defaults to JSON for ``*.json`` or JSON-looking text."""
    # Offsets count from after a BOM (libyaml does not count it); the rewrite puts it back.
    bom = text.startswith("\ufeff")
    body = text[1:] if bom else text
    if not body.strip():
        raise ShimimgError(f"{path} is empty", hint=_TEMPLATE_HINT)
    fmt = format or _sniff(path, body)
    root = _compose_json(body, path) if fmt == "json" else _compose_yaml(body, path)
    if root is None or (isinstance(root, ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        raise ShimimgError(f"{path} holds no template, only comments", hint=_TEMPLATE_HINT)
    if not isinstance(root, MappingNode):
        shown = "" if _elsewhere(path) else f" ({str(root.value)[:40]!r})"
        kind = "a list" if isinstance(root, SequenceNode) else f"a single value{shown}"
        raise ShimimgError(f"{path}: the template is {kind}, not a mapping", hint=_TEMPLATE_HINT)
    shared = _check_tree(root, path)
    if shared:  # aliases: bound what they expand to before anything builds values from them
        check_expansion(root, path)
    resources = get(root, "Resources")
    if resources is None:
        raise ShimimgError(f"{path} has no Resources section", hint=_TEMPLATE_HINT)
    if not isinstance(resources, MappingNode):
        raise ShimimgError(
            f"{path}:{resources.start_mark.line + 1}: Resources must be a mapping of logical ids to resources",
            hint=_TEMPLATE_HINT,
        )
    bad = [k for k, _ in resources.value if isinstance(k, ScalarNode) and not _LOGICAL_ID.fullmatch(str(k.value))]
    if bad:
        # CloudFormation refuses them too; printed raw, a newline in one would forge a line of
        # shimimg's output (issue 19), so they are named escaped and go no further.
        raise ShimimgError(f"{path}: {len(bad)} resource name(s) are not alphanumeric",
                           problems=[f"{path}:{k.start_mark.line + 1}: {str(k.value)[:80]!r}" for k in bad[:10]],
                           hint="CloudFormation logical ids are letters and digits only: rename them")
    first_line = body[: body.find("\n") + 1]
    newline = "\r\n" if first_line.endswith("\r\n") else "\n"
    return Document(path=path, text=body, format=fmt, root=root, newline=newline, shared=shared, bom=bom)


def _elsewhere(path: Path) -> bool:
    """Whether ``path`` is a link the checkout holds to a file outside it (say ~/.aws/credentials):
    an error then names the path only, never what the file says (issue 19)."""
    try:
        return not inside(os.path.realpath(path), checkout_root(Path(os.path.abspath(path)).parent))
    except (OSError, ValueError):
        return True


def _sniff(path: Path, body: str) -> Format:
    if path.suffix.lower() == ".json":
        return "json"
    if body.lstrip().startswith("{"):
        # A YAML template may be flow style too: JSON only if JSON accepts it.
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return "yaml"
        return "json"
    return "yaml"


def _compose_yaml(text: str, path: Path) -> Node | None:
    try:
        return _Loader(text).get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (e.context, e.problem) if p)
        at = text[mark.index : mark.index + 1] if mark else ""
        raise ShimimgError(f"{where}: invalid YAML: {problem}", hint=_yaml_hint(problem, at)) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise ShimimgError(
            f"{path}:{line}: invalid YAML: character {e.character!r} is not allowed",
            hint="remove the control character (YAML allows only printable characters, tab and newlines)",
        ) from None
    except yaml.YAMLError as e:
        raise ShimimgError(f"{path}: invalid YAML: {e}") from None
    except RecursionError:
        raise ShimimgError(f"{path}: values are nested too deeply", hint="flatten the template") from None
    except UnicodeError as e:
        raise ShimimgError(f"{path}: invalid text: {e}") from None


def _yaml_hint(problem: str, at: str) -> str:
    if at == "\t" or "'\\t'" in problem:
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "expected a single document" in problem:
        return "a template is one YAML document: remove the extra '---' documents"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before using the alias (*name)"
    return "fix the YAML at that line and column"


def _compose_json(body: str, path: Path) -> Node:
    try:
        json.loads(body, parse_constant=_not_json)
    except json.JSONDecodeError as e:
        raise ShimimgError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}", hint=_json_hint(body, e)) from None
    except RecursionError:
        raise ShimimgError(f"{path}: values are nested too deeply", hint="flatten the template") from None
    except ValueError as e:
        raise ShimimgError(f"{path}: invalid JSON: {e}", hint="write numbers as digits") from None
    try:
        node = compose_json(body, str(path))
    except JsonShapeError as e:  # json.loads accepted it: the composer is wrong, not the file
        raise RuntimeError(f"JSON composer disagrees with json.loads on {path}: {e}") from None
    return node


def _not_json(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON and CloudFormation do not.
    raise ValueError(f"{name} is not a JSON value")


def _json_hint(body: str, e: json.JSONDecodeError) -> str:
    before = body[: e.pos].rstrip()
    if before.endswith(",") and body[e.pos : e.pos + 1] in ("}", "]"):
        return "remove the comma after the last item: JSON (and CloudFormation) refuse trailing commas"
    if body[e.pos : e.pos + 1] == "'":
        return "JSON strings take double quotes"
    if body[e.pos : e.pos + 2] in ("//", "/*") or body[e.pos : e.pos + 1] == "#":
        return "JSON has no comments: remove them, or write the template in YAML"
    return "fix the JSON at that position (python -m json.tool shows it too)"


def _check_tree(root: MappingNode, path: Path) -> frozenset:
    """Refuse duplicate and non-scalar keys; return the ids of nodes reached more than once."""
    problems: list[tuple[int, str]] = []
    seen: set[int] = set()
    shared: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, ScalarNode] = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    problems.append((key.start_mark.index,
                        f"{path}:{key.start_mark.line + 1}:{key.start_mark.column + 1}: a key is a "
                        f"{'list' if isinstance(key, SequenceNode) else 'mapping'}; "
                        "CloudFormation keys are strings: write the key as plain text",
                    ))
                elif key.tag != MERGE_TAG:
                    earlier = first.get(key.value)
                    if earlier is not None:
                        problems.append((key.start_mark.index,
                            f"{path}:{key.start_mark.line + 1}:{key.start_mark.column + 1}: duplicate key "
                            f"{key.value!r} (first at line {earlier.start_mark.line + 1}); "
                            "CloudFormation refuses duplicate keys: keep one",
                        ))
                    else:
                        first[key.value] = key
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    if problems:
        problems.sort()
        n = len(problems)
        raise ShimimgError(
            f"{path}: {n} key problem{'s' if n > 1 else ''}",
            problems=[p for _, p in problems],
            hint="CloudFormation rejects the template as it is; fix each line above",
        )
    return frozenset(shared)
