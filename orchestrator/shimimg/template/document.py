"""A loaded template: its exact text plus the composed node tree that says where each value sits.

Nodes are PyYAML's (``MappingNode``, ``SequenceNode``, ``ScalarNode``) for YAML and JSON alike,
so discovery and the rewrite read one shape; ``start_mark.index`` / ``end_mark.index`` are
character offsets into ``Document.text``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Document",
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "get",
    "member",
    "members",
    "MERGE_TAG",
]

Format = Literal["yaml", "json"]
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, eq=False)
class Document:
    path: Path  # as the user named it: messages quote it that way
    text: str  # exactly as read, line endings included, minus a leading BOM (see ``bom``)
    format: Format
    root: MappingNode
    newline: str  # "\n" or "\r\n": what inserted lines end with
    # ids of nodes reached more than once (YAML aliases): editing them would edit every user.
    shared: frozenset = frozenset()
    bom: bool = False  # the file starts with a UTF-8 BOM, which node offsets do not count

    @property
    def original(self) -> str:
        """The file's text exactly as read."""
        return "\ufeff" + self.text if self.bom else self.text

    @property
    def directory(self) -> Path:
        """The absolute directory relative paths in the template are resolved against."""
        return self.path.absolute().parent

    def line(self, node: Node) -> int:
        return node.start_mark.line + 1

    def where(self, node: Node) -> str:
        """``template.yaml:12:7`` for messages."""
        return f"{self.path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def resources(self) -> Iterator[tuple[ScalarNode, MappingNode]]:
        """(logical id as written, resource mapping) for every resource that is a mapping."""
        for key, value in members(get(self.root, "Resources")):
            if isinstance(value, MappingNode):
                yield key, value


def key_text(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def members(node: Node | None) -> list[tuple[ScalarNode, Node]]:
    """The key/value pairs of a mapping, merge keys (``<<``) left out; [] for anything else."""
    if not isinstance(node, MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.tag != MERGE_TAG]


def member(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in members(node):
        if k.value == key:
            return k, v
    return None


def get(node: Node | None, key: str) -> Node | None:
    found = member(node, key)
    return found[1] if found else None


def index_of(node: MappingNode, key: str) -> int | None:
    for i, (k, _) in enumerate(node.value):
        if isinstance(k, ScalarNode) and k.value == key and k.tag != MERGE_TAG:
            return i
    return None


Collection = Union[MappingNode, SequenceNode]
