"""Find the Go functions a template runs from zip packages and group them into one image per package.

A function is moved when, after SAM's Globals are applied:
- its Runtime is ``go1.x`` (every go1.x Handler is the path of a binary in the package), or
- its Runtime is ``provided``/``provided.al2``/``provided.al2023`` and its Handler is not
  ``bootstrap`` but names a file in the package, or the package is a Go module (has go.mod):
  the multi-binary layout with a dispatching bootstrap. A provided function whose Handler is
  ``bootstrap``, an intrinsic, or names nothing there is a single-binary custom runtime that
  already works: it is left alone.

A Go function shimimg cannot build (code in S3, a Handler or code location given by an intrinsic,
no code location at all, inline code) is recorded in ``Plan.skipped`` with the fix; ``migrate``
refuses such templates, because go1.x functions left behind cannot be deployed any more.
Functions in other runtimes, and those already on images, are ``Plan.untouched``, each with the
reason. A provided function with ``Handler: bin/x`` whose CodeUri is the package of moving go1.x
functions moves with them, built or not: it is one of that multi-binary package's handlers.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shimimg.errors import ShimimgError
from shimimg.fsutil import has_go_files
from shimimg.plan.records import Arch, Function, Package, Plan, Skipped, Untouched
from shimimg.template.document import (
    MERGE_TAG,
    Document,
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    get,
    members,
)
from shimimg.template.intrinsics import integer, is_intrinsic, literal
from shimimg.template.packages import Local, Probe, image_name, strip_dot_slash, unique_image

GO_RUNTIME = "go1.x"
PROVIDED_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
ARCHES: tuple[Arch, ...] = ("arm64", "x86_64")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, eq=False)
class Site:
    """Where one function sits in the document: the nodes the rewrite edits."""

    logical_id: str
    resource_type: str
    key: ScalarNode  # the logical id as written
    resource: MappingNode
    properties: Node | None  # the Properties value; None when the resource has none


HANDLER_MAX = 128  # Lambda's limit for Handler (CreateFunction API)

def check_arch(arch: str) -> Arch:
    if arch not in ARCHES:
        raise ShimimgError(f"unknown architecture {arch!r}", hint="use --arch arm64 or --arch x86_64")
    return arch  # type: ignore[return-value]


def function_sites(doc: Document) -> Iterator[Site]:
    for key, resource in doc.resources():
        rtype = literal(get(resource, "Type"))
        if rtype in (SAM_FUNCTION, LAMBDA_FUNCTION):
            yield Site(str(key.value), rtype, key, resource, get(resource, "Properties"))


def globals_function(doc: Document) -> MappingNode | None:
    node = get(get(doc.root, "Globals"), "Function")
    return node if isinstance(node, MappingNode) else None


def ignored_globals(resource: MappingNode) -> Literal["*"] | frozenset[str]:
    """SAM's ``IgnoreGlobals`` resource attribute: "*" or the property names listed."""
    node = get(resource, "IgnoreGlobals")
    if literal(node) == "*":
        return "*"
    if isinstance(node, SequenceNode):
        return frozenset(v for v in (literal(item) for item in node.value) if v)
    return frozenset()


def inherited(doc: Document, site: Site) -> dict[str, Node]:
    """The Globals.Function properties SAM merges into this function (before its own apply)."""
    glob = globals_function(doc)
    if site.resource_type != SAM_FUNCTION or glob is None:
        return {}
    ignore = ignored_globals(site.resource)
    if ignore == "*":
        return {}
    return {k.value: v for k, v in members(glob) if k.value not in ignore}


def effective(doc: Document, site: Site) -> dict[str, Node]:
    """Top-level properties after Globals: the function's own win (SAM merges collections deeper,
    which only Environment needs here; see ``_environment``). YAML merge keys count as own."""
    props = dict(inherited(doc, site))
    props.update(_merged(site.properties))
    props.update((k.value, v) for k, v in members(site.properties))
    return props


def _merged(node: Node | None) -> dict[str, Node]:
    """What YAML merge keys (``<<: *base``) bring into a mapping, first source winning."""
    out: dict[str, Node] = {}
    if not isinstance(node, MappingNode):
        return out
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == MERGE_TAG:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                for k, v in members(source):
                    out.setdefault(k.value, v)
    return out


def discover(doc: Document, *, arch: str = "arm64", consolidate: bool = False) -> Plan:
    """The plan for ``doc``: its Go zip functions grouped into packages, one image each.

    ``consolidate``: provided.* functions with Handler bootstrap built from Go (SAM's Go layout)
    move too; ``shimimg.plan.consolidate`` then merges packages into one image per Go module."""
    target = check_arch(arch)
    found: dict[Path, tuple[Local, list[Function]]] = {}
    skipped: list[Skipped] = []
    untouched: list[Untouched] = []
    pending: list[tuple[Local, Function, str]] = []  # provided functions whose package decides
    probe = Probe()
    for site in function_sites(doc):
        outcome = _classify(doc, site, probe, consolidate)
        if isinstance(outcome, Untouched):
            untouched.append(outcome)
        elif isinstance(outcome, Skipped):
            skipped.append(outcome)
        elif isinstance(outcome, _Pending):
            pending.append((outcome.local, outcome.fn, outcome.reason))
        else:
            local, fn = outcome
            found.setdefault(local.path, (local, []))[1].append(fn)
    for local, fn, reason in pending:
        if local.path in found and any(f.runtime == GO_RUNTIME for f in found[local.path][1]):
            found[local.path][1].append(fn)
        else:
            untouched.append(Untouched(fn.logical_id, reason))
    order = {site.logical_id: i for i, site in enumerate(function_sites(doc))}
    taken: dict[str, Path] = {}
    packages = []
    for path, (local, fns) in found.items():
        image = unique_image(image_name(local, doc.directory), path, taken)
        fns.sort(key=lambda f: order[f.logical_id])
        packages.append(Package(local.code_uri, path, local.kind, image, target, tuple(fns)))
    packages, folded = _refuse_make_folding(packages, doc)
    skipped += folded
    untouched.sort(key=lambda u: order[u.logical_id])
    skipped.sort(key=lambda s: order[s.logical_id])
    return Plan(doc.path.absolute(), tuple(packages), tuple(skipped), tuple(untouched))


def _refuse_make_folding(packages: list[Package], doc: Document) -> tuple[list[Package], list[Skipped]]:
    """Functions of one package that share a Handler while SAM builds each with its own
    ``make build-<LogicalId>`` target (Metadata BuildMethod: makefile): each had its own binary
    under that name, and one image holds one file there. Refused, never folded onto one binary."""
    kept: list[Package] = []
    skipped: list[Skipped] = []
    sites = {s.logical_id: s for s in function_sites(doc)}
    for pkg in packages:
        by_binary: dict[str, list[Function]] = {}
        for fn in pkg.functions:
            by_binary.setdefault(fn.binary, []).append(fn)
        folded = {fn.logical_id for fns in by_binary.values() if len(fns) > 1
                  and any((f.build_method or "").lower() == "makefile" for f in fns) for fn in fns}
        for fns in by_binary.values():
            if not folded & {f.logical_id for f in fns}:
                continue
            names = ", ".join(f.logical_id for f in fns)
            for fn in fns:
                skipped.append(Skipped(
                    fn.logical_id,
                    f"shares Handler {fn.handler} in CodeUri {pkg.code_uri} with {names}, but SAM builds each of "
                    f"them with its own `make build-<LogicalId>` target (Metadata BuildMethod: makefile): their "
                    f"binaries differ, and one image holds one {fn.binary}",
                    fix=f"give each function its own Handler (e.g. Handler: bin/{_snake(fn.logical_id)}) and map it "
                    "to its main package in shimimg.toml [handlers]",
                    line=doc.line(sites[fn.logical_id].key)))
        rest = tuple(fn for fn in pkg.functions if fn.logical_id not in folded)
        if rest:
            kept.append(dataclasses.replace(pkg, functions=rest))
    return kept, skipped


def _snake(logical_id: str) -> str:
    base = re.sub(r"Function$", "", logical_id) or logical_id
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()


def _build_method(resource: MappingNode) -> str | None:
    return literal(get(get(resource, "Metadata"), "BuildMethod"))


def is_cdk(doc: Document) -> bool:
    """A template the AWS CDK synthesised (cdk.out): its source is the CDK app, not this file."""
    for _, resource in doc.resources():
        if literal(get(resource, "Type")) == "AWS::CDK::Metadata":
            return True
        meta = get(resource, "Metadata")
        if get(meta, "aws:cdk:path") is not None or get(meta, "aws:asset:path") is not None:
            return True
    return False


@dataclass(frozen=True)
class _Pending:
    local: Local
    fn: Function
    reason: str  # why it stays when no go1.x function shares its package


def sam_build_dockerfile(doc: Document, site: Site) -> str | None:
    """The Dockerfile SAM builds the function from (Metadata), when ``migrate --sam-build`` wrote it."""
    from shimimg.image.samdockerfile import read_inputs
    from shimimg.readfile import CONFIG_MAX, read_bytes

    meta = get(site.resource, "Metadata")
    dockerfile, context = literal(get(meta, "Dockerfile")), literal(get(meta, "DockerContext")) or "."
    if not dockerfile:
        return None
    path = doc.directory / context / dockerfile
    try:
        text = read_bytes(path, CONFIG_MAX, "Dockerfile").decode("utf-8", "replace")
    except (OSError, ShimimgError):
        return None
    return str(path) if read_inputs(text) is not None else None


def _classify(doc: Document, site: Site, probe: Probe,
              consolidate: bool = False) -> tuple[Local, Function] | Skipped | Untouched | _Pending:
    props = effective(doc, site)
    leave = functools.partial(Untouched, site.logical_id)
    package_type = props.get("PackageType")
    if package_type is not None and literal(package_type) != "Zip":
        shown = literal(package_type)
        ours = sam_build_dockerfile(doc, site)
        if ours:
            return leave(f"PackageType {shown}: already a container image, built by `sam build` from {ours}, "
                         "which `shimimg migrate --sam-build` wrote")
        return leave(f"PackageType {shown}: already a container image" if shown
                     else "PackageType is given by an intrinsic")
    runtime = literal(props.get("Runtime"))
    if runtime != GO_RUNTIME and runtime not in PROVIDED_RUNTIMES:
        return leave(f"Runtime {runtime}: not Go" if runtime else "no literal Runtime (an intrinsic, or none)")
    go = runtime == GO_RUNTIME
    line = doc.line(site.key)

    def skip(reason: str, fix: str) -> Skipped | Untouched:
        # A provided function we cannot inspect may be an ordinary custom runtime: leave it.
        if go:
            return Skipped(site.logical_id, reason, fix=fix, line=line)
        return leave(f"{runtime}, {reason}: left as a custom runtime")

    handler_node = props.get("Handler")
    handler = literal(handler_node)
    if handler_node is None or handler == "":
        return skip("has no Handler", "set Handler to the binary's path in the package, e.g. Handler: bin/my_function")
    if handler is None:
        return skip(
            f"Handler is given by an intrinsic ({_describe(handler_node)}), so the binary is unknown",
            "write the binary's path in the package, e.g. Handler: bin/my_function",
        )
    bootstrap = not go and strip_dot_slash(handler) == "bootstrap"
    if bootstrap:
        method = _build_method(site.resource)
        if method and method.lower() != "go1.x":
            return leave(f"{runtime} with Handler bootstrap built by BuildMethod {method}: what that build makes is "
                         "not known to shimimg; left as a custom runtime")
    bad = _bad_handler(handler)
    if bad:
        return skip(f"Handler {handler!r} {bad}", "write the binary's path relative to the package, e.g. bin/my_func")

    if site.resource_type == LAMBDA_FUNCTION and get(site.properties, "CodeUri") is not None:
        # CloudFormation rejects it; which of Code and CodeUri the author meant is a guess.
        return skip("is an AWS::Lambda::Function with CodeUri, a property only AWS::Serverless::Function has",
                    "remove CodeUri (this resource's package is Code), or make it an AWS::Serverless::Function")
    code = _code_location(doc, site, props, probe)
    if isinstance(code, tuple):
        return skip(*code)
    if bootstrap:
        why = _bootstrap_untouched(runtime or "", code, _build_method(site.resource), consolidate)
        if why:
            return leave(why)
    if _merged(site.properties):
        return skip(
            "its Properties use a YAML merge key (<<), which the rewrite cannot edit without changing "
            "every resource that shares the merged values",
            "write the merged properties out in full in this function",
        )
    env = _environment(inherited(doc, site).get("Environment"), get(site.properties, "Environment"))
    arches = props.get("Architectures")
    first = arches.value[0] if isinstance(arches, SequenceNode) and len(arches.value) == 1 else None
    fn = Function(
        logical_id=site.logical_id,
        resource_type=site.resource_type,
        handler=handler,
        runtime=runtime or "",
        memory=integer(props.get("MemorySize")),
        timeout=integer(props.get("Timeout")),
        environment=env,
        layers=get(site.properties, "Layers") is not None,
        template_arch=literal(first) if first is not None else None,
        build_method=_build_method(site.resource),
        go_bootstrap=bootstrap,
    )
    if not go and not bootstrap and not probe.holds(code, handler):
        return _Pending(code, fn, f"{runtime} with Handler {handler}, but {code.code_uri} holds no such file and no "
                                  "go.mod, and no go1.x function shares it: an ordinary custom runtime")
    return code, fn


# cfn-lint's runtime data: provided.al2 (and provided before it) are deprecated; after these dates
# functions on them can no longer be created, then no longer updated.
AL2_DATES = ("deprecated on 2026-07-31; creating functions on it is blocked from 2027-02-01, updating them "
             "from 2027-03-03")


def _bootstrap_untouched(runtime: str, code: Local, method: str | None, consolidate: bool) -> str | None:
    """Why a provided.* function with Handler bootstrap stays as it is, or None when it moves."""
    if code.kind == "zip":
        return f"{runtime} with Handler bootstrap in a zip ({code.code_uri}): one prebuilt bootstrap, left as a " \
               "custom runtime"
    go = (method or "").lower() == "go1.x" or has_go_files(code.path)
    if not go:
        return f"{runtime} with Handler bootstrap and no Go in {code.code_uri}: left as a custom runtime"
    if consolidate:
        return None
    if runtime == "provided.al2023":
        return ("provided.al2023 Go function (a bootstrap of its own): a current runtime, left as it is; "
                "--consolidate moves it into one image per Go module")
    return (f"{runtime} Go function (a bootstrap of its own): {runtime} is {AL2_DATES}; --consolidate moves it into "
            "one image per Go module")


def _bad_handler(handler: str) -> str | None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in handler):
        return "holds control characters"
    if len(handler) > HANDLER_MAX:
        # Lambda's own limit; a longer one also makes file names no file system takes.
        return f"is longer than Lambda's {HANDLER_MAX} characters"
    if handler.startswith("/"):
        return "is an absolute path"
    if ".." in handler.split("/"):
        return "points outside the package"
    if handler.endswith("/"):
        return "names a directory"
    if {".", ""} & set(strip_dot_slash(handler).split("/")):
        # bin/./x is bin/x to a file system but not to the image's COPY and discovery: one name only.
        return "has '.' or empty path components"
    return None


def _describe(node: Node) -> str:
    if node.tag.startswith("!"):
        return node.tag
    if isinstance(node, MappingNode) and node.value:
        return str(node.value[0][0].value)
    return "a " + type(node).__name__.replace("Node", "").lower()


def _code_location(doc: Document, site: Site, props: dict[str, Node], probe: Probe) -> Local | tuple[str, str]:
    """The local package, or (reason, fix) why there is none to build from."""
    sam = site.resource_type == SAM_FUNCTION
    field = "CodeUri" if sam else "Code"
    fix_local = f"build the binaries locally and set {field} to the directory or .zip holding them, e.g. {field}: ./"
    if sam and "InlineCode" in props:
        return "has InlineCode, which cannot hold a Go binary", fix_local
    node = props.get(field)
    if node is None:
        where = "" if not sam else " (nor does Globals)"
        return f"has no {field}{where}", fix_local
    if is_intrinsic(node):
        return f"{field} is given by an intrinsic ({_describe(node)}), so the package is unknown", fix_local
    if isinstance(node, MappingNode):
        keys = {k.value for k, _ in members(node)}
        if sam and {"Bucket", "Key"} <= keys:
            uri = f"s3://{_shown(get(node, 'Bucket'))}/{_shown(get(node, 'Key'))}"
            return f"CodeUri is an S3 object ({uri}); shimimg builds from local files", _fix_s3(field, doc, site)
        if not sam and "S3Bucket" in keys:
            uri = f"s3://{_shown(get(node, 'S3Bucket'))}/{_shown(get(node, 'S3Key'))}"
            return f"Code is an S3 object ({uri}); shimimg builds from local files", _fix_s3(field, doc, site)
        if not sam and "ZipFile" in keys:
            return "Code.ZipFile is inline source, which cannot hold a Go binary", fix_local
        if not sam and "ImageUri" in keys:
            return "Code is already an image but PackageType is not Image", "set PackageType: Image"
        return f"{field} is a mapping shimimg does not know ({', '.join(sorted(keys))})", fix_local
    text = literal(node)
    if not text:
        return f"{field} is empty", fix_local
    if _URL.match(text):
        scheme = text.split(":", 1)[0].lower()
        if scheme == "s3":
            return f"{field} is in S3 ({text}); shimimg builds from local files", _fix_s3(field, doc, site)
        return f"{field} is a remote URL ({text}); shimimg builds from local files", fix_local
    found = probe.locate(doc.directory, text)
    return found if isinstance(found, Local) else (f"{field} {found}", fix_local)


def _shown(node: Node | None) -> str:
    text = literal(node)
    return text if text is not None else "<intrinsic>"


def _fix_s3(field: str, doc: Document, site: Site) -> str:
    if is_cdk(doc):
        asset = literal(get(get(site.resource, "Metadata"), "aws:asset:path"))
        where = f" (its asset folder: {asset} in cdk.out)" if asset else ""
        return ("this template is synthesised by the AWS CDK, so a rewrite would be lost at the next `cdk synth`: "
                f"change the function in the CDK app instead, to an image function{where}, e.g. "
                "lambda.DockerImageFunction with DockerImageCode.fromImageAsset")
    return f"download the package (aws s3 cp) next to the template and set {field} to its local path"


def _environment(glob: Node | None, own: Node | None) -> tuple[tuple[str, str | None], ...]:
    """Environment.Variables after Globals; SAM merges the two mappings, own values win."""
    merged: dict[str, str | None] = {}
    for env in (glob, own):
        if env is None:
            continue
        variables = get(env, "Variables")
        if env is own and (is_intrinsic(env) or (variables is not None and is_intrinsic(variables))):
            return ()  # SAM takes the function's intrinsic as is: nothing is known statically
        if isinstance(variables, MappingNode) and not is_intrinsic(variables):
            for k, v in members(variables):
                merged[str(k.value)] = literal(v)
    return tuple(merged.items())
