"""Local paths a template keeps, and where they point from another directory.

When the migrated template is written somewhere else (``.aws-sam/build/template.yaml`` by
default), every relative path that stays in it must still reach the same file, as ``sam build``
does with its output template. The properties are those ``sam package`` / ``aws cloudformation
package`` upload from local paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from shimimg.template.document import Document, MappingNode, Node, ScalarNode, SequenceNode, get, members
from shimimg.template.intrinsics import is_tagged, literal

_APPSYNC = ("RequestMappingTemplateS3Location", "ResponseMappingTemplateS3Location", "CodeS3Location")
LOCAL_PATHS: dict[str, tuple[str, ...]] = {
    "AWS::Serverless::Function": ("CodeUri",),
    "AWS::Serverless::Api": ("DefinitionUri",),
    "AWS::Serverless::HttpApi": ("DefinitionUri",),
    "AWS::Serverless::StateMachine": ("DefinitionUri",),
    "AWS::Serverless::LayerVersion": ("ContentUri",),
    "AWS::Serverless::Application": ("Location",),
    "AWS::Serverless::GraphQLApi": ("SchemaUri", "Functions.*.CodeUri", "Resolvers.*.*.CodeUri"),
    "AWS::Lambda::Function": ("Code",),
    "AWS::Lambda::LayerVersion": ("Content",),
    "AWS::ApiGateway::RestApi": ("BodyS3Location",),
    "AWS::AppSync::GraphQLSchema": ("DefinitionS3Location",),
    "AWS::AppSync::Resolver": _APPSYNC,
    "AWS::AppSync::FunctionConfiguration": _APPSYNC,
    "AWS::ElasticBeanstalk::ApplicationVersion": ("SourceBundle",),
    "AWS::CloudFormation::Stack": ("TemplateURL",),
    "AWS::CloudFormation::ModuleVersion": ("ModulePackage",),
    "AWS::CloudFormation::ResourceVersion": ("SchemaHandlerPackage",),
    "AWS::Glue::Job": ("Command.ScriptLocation",),
    "AWS::StepFunctions::StateMachine": ("DefinitionS3Location",),
}
# sam build reads an image function's Docker context relative to the template.
METADATA_PATHS: dict[str, tuple[str, ...]] = {
    "AWS::Serverless::Function": ("DockerContext",),
    "AWS::Lambda::Function": ("DockerContext",),
}
GLOBALS_PATHS: dict[str, tuple[str, ...]] = {"Function": ("CodeUri",), "Api": ("DefinitionUri",)}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def relocated(value: str, template_dir: Path, out_dir: Path) -> str | None:
    """``value`` rewritten to reach the same place from ``out_dir``; None when it needs no change."""
    if not value or _URL.match(value) or os.path.isabs(value):
        return None
    target = os.path.normpath(os.path.join(template_dir, value))
    new = os.path.relpath(target, out_dir).replace(os.sep, "/")
    if value.endswith("/") and not new.endswith("/"):
        new += "/"
    return None if new == value else new


def local_path_nodes(doc: Document) -> Iterator[tuple[ScalarNode, bool]]:
    """Every scalar that holds a local path, with whether it sits in a flow collection."""
    for _, resource in doc.resources():
        rtype = literal(get(resource, "Type")) or ""
        for spec in LOCAL_PATHS.get(rtype, ()):
            yield from _select(get(resource, "Properties"), spec.split("."))
        for spec in METADATA_PATHS.get(rtype, ()):
            yield from _select(get(resource, "Metadata"), spec.split("."))
    glob = get(doc.root, "Globals")
    for section, specs in GLOBALS_PATHS.items():
        for spec in specs:
            yield from _select(get(glob, section), spec.split("."))
    if "AWS::Include" in doc.text:
        yield from _includes(doc.root)


def _select(node: Node | None, steps: list[str]) -> Iterator[tuple[ScalarNode, bool]]:
    if not isinstance(node, MappingNode) or is_tagged(node):
        return
    step, rest = steps[0], steps[1:]
    pairs = members(node) if step == "*" else [(k, v) for k, v in members(node) if k.value == step]
    for _, value in pairs:
        if rest:
            yield from _select(value, rest)
        elif isinstance(value, ScalarNode) and literal(value):
            yield value, bool(node.flow_style)


def _includes(root: Node) -> Iterator[tuple[ScalarNode, bool]]:
    """``Location`` of every ``Fn::Transform`` / ``!Transform`` naming ``AWS::Include``."""
    stack: list[Node] = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            if node.tag == "!Transform":
                yield from _include_location(node)
            for key, value in members(node):
                if key.value == "Fn::Transform" and isinstance(value, MappingNode):
                    yield from _include_location(value)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _include_location(transform: MappingNode) -> Iterator[tuple[ScalarNode, bool]]:
    if literal(get(transform, "Name")) == "AWS::Include":
        yield from _select(get(transform, "Parameters"), ["Location"])
