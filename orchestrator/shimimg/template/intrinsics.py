"""CloudFormation intrinsics: the short-form YAML tags, and what a node means as plain data.

The rewrite never re-dumps a value, so every tag, known or not, survives as written; this module
only answers "is this a literal, and which one?" for discovery, and turns nodes into the long-form
data CloudFormation itself would see (``to_data``) for tests and checks.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shimimg.errors import ShimimgError

# The short forms CloudFormation documents; `!Ref` and `!Condition` are the two whose long form
# does not start with "Fn::".
SHORT_FORMS = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Not": "Fn::Not",
    "!FindInMap": "Fn::FindInMap",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Cidr": "Fn::Cidr",
    "!GetAZs": "Fn::GetAZs",
    "!Transform": "Fn::Transform",
}

STR = "tag:yaml.org,2002:str"
_STANDARD = "tag:yaml.org,2002:"


def long_name(tag: str) -> str:
    """``!GetAtt`` → ``Fn::GetAtt``; an unknown local tag ``!Foo`` → ``Fn::Foo``, as cfn-lint reads it."""
    return SHORT_FORMS.get(tag) or "Fn::" + tag.lstrip("!")


def is_tagged(node: Node) -> bool:
    """A local tag (``!Ref``, ``!Tags``, ...): something only CloudFormation or a macro resolves."""
    return not node.tag.startswith(_STANDARD)


def is_intrinsic(node: Node) -> bool:
    """Short form (any local tag) or long form (``{Ref: X}``, ``{"Fn::Sub": ...}``)."""
    if is_tagged(node):
        return True
    if isinstance(node, MappingNode) and len(node.value) == 1:
        key = node.value[0][0]
        return isinstance(key, ScalarNode) and (key.value == "Ref" or key.value.startswith("Fn::"))
    return False


def literal(node: Node | None) -> str | None:
    """The string CloudFormation would see for a plain scalar; None for intrinsics and collections.

    Numbers keep their spelling ("256"), booleans become "true"/"false", null becomes "".
    """
    if not isinstance(node, ScalarNode) or is_tagged(node):
        return None
    tag = node.tag
    if tag == "tag:yaml.org,2002:bool":
        return "true" if _construct(node) else "false"
    if tag == "tag:yaml.org,2002:null":
        return ""
    return node.value


def integer(node: Node | None) -> int | None:
    """An int literal (``256``, ``"256"``); None for intrinsics and anything else."""
    text = literal(node)
    if text is None:
        return None
    try:
        return int(text.strip(), 10)
    except ValueError:
        return None


class _Constructor(SafeConstructor):
    """SafeConstructor that reads every local tag as the long-form intrinsic it stands for."""


def _construct_tagged(loader: _Constructor, tag_suffix: str, node: Node) -> Any:
    tag = "!" + tag_suffix
    name = long_name(tag)
    if isinstance(node, ScalarNode):
        value: Any = node.value
        if tag == "!GetAtt":
            # `!GetAtt A.B` splits at the first dot; `!GetAtt A.B.C` (nested attribute) keeps the rest.
            head, _, tail = node.value.partition(".")
            value = [head, tail] if tail else node.value
    elif isinstance(node, SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Constructor.add_multi_constructor("!", _construct_tagged)


def _construct(node: Node) -> Any:
    return _Constructor().construct_document(node)


def to_data(node: Node) -> Any:
    """The plain data CloudFormation sees (short forms in long form), e.g. for the SAM translator."""
    try:
        return _construct(node)
    except RecursionError:
        limit = sys.getrecursionlimit() // 4
        raise ShimimgError("the template nests values too deeply to read", hint=f"keep under {limit} levels") from None
    except yaml.YAMLError as e:
        raise ShimimgError(f"cannot read a value: {e}") from None
