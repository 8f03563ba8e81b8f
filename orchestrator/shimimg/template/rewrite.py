"""Rewrite a template so its Go functions run from container images, changing only what must change.

Per migrated function: ``PackageType: Image``, ``ImageUri`` (SAM) or ``Code: {ImageUri}``
(CloudFormation), ``ImageConfig`` and ``Architectures`` replace Runtime, Handler and CodeUri, at
the place the first of those stood.

Globals: Runtime, Handler, CodeUri and Layers (and an Architectures that differs from the target)
leave ``Globals.Function`` when no function that stays a zip package depends on them. When one
does, they stay, and each image function opts out with ``IgnoreGlobals`` so SAM does not merge
them (see ``samglobals``). Older SAM versions (and cfn-lint) concatenate a global and a local
``Architectures`` (aws/serverless-application-model#3939), so an image function that sets its own
opts out of the global one as well.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Mapping
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.plan.records import Function, Package, Plan
from shimimg.template.collection import CollectionEdit, Editor
from shimimg.template.discovery import SAM_FUNCTION, Site, function_sites, ignored_globals
from shimimg.template.document import Document, Node, ScalarNode, SequenceNode, get, member
from shimimg.template.edits import Edit, LayoutError, apply_edits, replace_scalar
from shimimg.template.intrinsics import literal
from shimimg.template.load import parse_document
from shimimg.template.packages import placeholder_uri
from shimimg.template.paths import local_path_nodes, relocated
from shimimg.template.render import Value
from shimimg.template.samglobals import GlobalsPlan, edit_globals, is_arch, plan_globals


def render_migrated(
    doc: Document,
    plan: Plan,
    *,
    image_uris: Mapping[Path, str] | None = None,
    direct: bool = False,
    drop_layers: bool = False,
    output_path: Path,
    relocations: list[tuple[str, str]] | None = None,
    sam_build: Mapping[Path, Mapping[str, str]] | None = None,
) -> str:
    """The text of ``doc`` with every function of ``plan`` moved to its package's image.

    ``image_uris`` maps ``Package.path`` to the ImageUri to write (default: a placeholder naming
    ``shimimg build``, see ``packages.placeholder_uri``). ``direct`` runs the binary as the entry point, no shim.
    Relative paths are rewritten to work from ``output_path``'s directory (each (old, new) is
    appended to ``relocations`` when given). ``sam_build`` maps ``Package.path`` to the
    ``Metadata`` (Dockerfile, DockerContext, DockerTag) every function of the package gets instead
    of an ImageUri: ``sam build`` builds the image (``shimimg migrate --sam-build``).
    """
    check_migratable(doc, plan, drop_layers)
    uris = dict(image_uris or {})
    sites = {s.logical_id: s for s in function_sites(doc)}
    moving: dict[str, tuple[Package, Function, Site]] = {}
    for pkg in plan.packages:
        for fn in pkg.functions:
            site = sites.get(fn.logical_id)
            if site is None:
                raise ShimimgError(
                    f"{doc.path}: the plan names {fn.logical_id}, which the template does not have",
                    hint="discover the plan from this template again",
                )
            moving[fn.logical_id] = (pkg, fn, site)

    editor = Editor(doc)
    if moving:
        globals_ = plan_globals(doc, sites, moving)
        for pkg, fn, site in moving.values():
            uri = uris.get(pkg.path) or placeholder_uri(pkg.image)
            meta = (sam_build or {}).get(pkg.path)
            _migrate_function(editor, site, pkg, fn, uri, direct, drop_layers, globals_, meta)
        edit_globals(editor, globals_, sites.values())
    edits = editor.edits()
    edits += _relocations(doc, Path(output_path), edits, relocations)
    text = apply_edits(doc.text, edits)
    if text != doc.text:
        _verify(doc, text)
    return ("\ufeff" if doc.bom else "") + text


def check_migratable(doc: Document, plan: Plan, drop_layers: bool) -> None:
    """Refuse, listing every function, when the plan holds Go functions that cannot move."""
    problems = []
    for s in plan.skipped:
        where = f"{doc.path}:{s.line}: " if s.line else ""
        problems.append(f"{where}{s.logical_id}: {s.reason}" + (f"; fix: {s.fix}" if s.fix else ""))
    if not drop_layers:
        lines = {site.logical_id: doc.line(site.key) for site in function_sites(doc)}
        problems += [
            f"{doc.path}:{lines.get(fn.logical_id, '?')}: {fn.logical_id}: has Layers, which container images "
            "cannot use; fix: put what the layers provide into the package, or pass --drop-layers to remove them"
            for pkg in plan.packages
            for fn in pkg.functions
            if fn.layers
        ]
    if problems:
        n = len(problems)
        raise ShimimgError(
            f"{doc.path}: cannot migrate {n} function{'s' if n > 1 else ''}; nothing was written",
            problems=problems,
            hint="fix each function above, then run the command again",
        )


def _migrate_function(
    editor: Editor,
    site: Site,
    pkg: Package,
    fn: Function,
    uri: str,
    direct: bool,
    drop_layers: bool,
    globals_: GlobalsPlan,
    sam_meta: Mapping[str, str] | None = None,
) -> None:
    sam = site.resource_type == SAM_FUNCTION
    new: dict[str, Value] = {"PackageType": "Image"}
    if sam and sam_meta is None:
        new["ImageUri"] = uri
    new["ImageConfig"] = {"EntryPoint": [f"/var/task/{fn.binary}"]} if direct else {"Command": [fn.handler]}
    set_arch, opt_out = _globals_for(site, pkg, globals_) if sam else (True, [])
    props = site.properties
    if props is None or (isinstance(props, ScalarNode) and literal(props) == ""):
        # Everything came from Globals: the function gets a Properties mapping of its own.
        if set_arch:
            new["Architectures"] = [pkg.arch]
        res = editor.collection(site.resource, f"resource {site.logical_id}", site.key)
        if props is None:
            res.insert(res.size, "Properties", new)
        else:
            res.replace(res.index("Properties"), new)  # type: ignore[arg-type]
    else:
        _edit_properties(editor, site, props, new, uri, pkg.arch if set_arch else None, drop_layers)
    if opt_out:
        _opt_out(editor, site, opt_out)
    if sam_meta is not None:
        _set_build_metadata(editor, site, sam_meta)
    else:
        _drop_go_build_metadata(editor, site)


# SAM's keys for building an image function (its Metadata); a function that has any of them
# is built by a Dockerfile someone wrote, which --sam-build must not silently replace.
DOCKER_KEYS = ("Dockerfile", "DockerContext", "DockerTag", "DockerBuildArgs", "DockerBuildTarget",
               "DockerBuildExtraParams")


def _set_build_metadata(editor: Editor, site: Site, values: Mapping[str, str]) -> None:
    """``Metadata`` of a --sam-build function: SAM's Go builder keys go, ours are set; anything
    else in Metadata stays (it must be the same for every function of the package, or SAM builds
    the image once per function)."""
    meta = get(site.resource, "Metadata")
    res = editor.collection(site.resource, f"resource {site.logical_id}", site.key)
    if meta is None:
        res.insert(res.size, "Metadata", dict(values))
        return
    me = editor.collection(meta, f"the Metadata of {site.logical_id}", member(site.resource, "Metadata")[0])
    for i in sorted((i for i in (me.index(k) for k in ("BuildMethod", "BuildProperties")) if i is not None),
                    reverse=True):
        me.delete(i)
    for key, value in values.items():
        i = me.index(key)
        if i is None:
            me.insert(me.size, key, value)
        elif literal(me.value(i)) != value:
            me.replace(i, value)


def _drop_go_build_metadata(editor: Editor, site: Site) -> None:
    """SAM's Go builder (``Metadata: BuildMethod: go1.x``, its ``BuildProperties``) built the zip
    the function no longer has: it goes, and Metadata with it when nothing else is left."""
    meta = get(site.resource, "Metadata")
    if (literal(get(meta, "BuildMethod")) or "").lower() != "go1.x":
        return
    res = editor.collection(site.resource, f"resource {site.logical_id}", site.key)
    me = editor.collection(meta, f"the Metadata of {site.logical_id}", member(site.resource, "Metadata")[0])
    keys = [i for i in (me.index(k) for k in ("BuildMethod", "BuildProperties")) if i is not None]
    if len(keys) == me.size:
        res.delete(res.index("Metadata"))  # type: ignore[arg-type]
        return
    for i in sorted(keys, reverse=True):
        me.delete(i)


def _globals_for(site: Site, pkg: Package, globals_: GlobalsPlan) -> tuple[bool, list[str]]:
    """(whether the function needs its own Architectures, the Globals it must opt out of)."""
    ignore_now = ignored_globals(site.resource)
    if ignore_now == "*":
        return True, []
    opt_out = [p for p in globals_.kept if p not in ignore_now]
    arch_inherited = (
        globals_.arch is not None and "Architectures" not in globals_.removed and "Architectures" not in ignore_now
    )
    if not arch_inherited:
        return True, opt_out
    if get(site.properties, "Architectures") is None and is_arch(globals_.arch, pkg.arch):  # type: ignore[arg-type]
        return False, opt_out  # inherits exactly the target: nothing to add
    if "Architectures" not in opt_out:
        opt_out.append("Architectures")
    return True, opt_out


def _edit_properties(
    editor: Editor,
    site: Site,
    props: Node,
    new: dict[str, Value],
    uri: str,
    arch: str | None,
    drop_layers: bool,
) -> None:
    sam = site.resource_type == SAM_FUNCTION
    pkey = member(site.resource, "Properties")[0]  # type: ignore[index]
    pe = editor.collection(props, f"the Properties of {site.logical_id}", pkey)
    zip_keys = ["Runtime", "Handler"] + (["CodeUri"] if sam else []) + (["Layers"] if drop_layers else [])
    deleted = [i for i in (pe.index(k) for k in zip_keys) if i is not None]
    for i in deleted:
        pe.delete(i)
    if not sam:
        code = pe.index("Code")
        if code is None:  # discovery skips such functions; a hand-made plan may not
            raise ShimimgError(f"{editor.doc.where(site.key)}: {site.logical_id} has no Code")
        pe.replace(code, {"ImageUri": uri})
    inserts: dict[str, Value] = {}
    for key, value in new.items():
        _set(editor, pe, key, value, inserts)
    if arch is not None:
        i = pe.index("Architectures")
        if i is None:
            inserts["Architectures"] = [arch]
        elif not is_arch(pe.value(i), arch):
            _replace_arch(editor, pe, i, arch)
    # New keys go where the first zip key stood, so the diff stays in one place.
    at = min(deleted) if deleted else pe.size
    for key, value in inserts.items():
        pe.insert(at, key, value)


def _set(editor: Editor, pe: CollectionEdit, key: str, value: Value, inserts: dict[str, Value]) -> None:
    i = pe.index(key)
    if i is None:
        inserts[key] = value
    elif isinstance(value, str) and literal(pe.value(i)) == value:
        return
    else:
        pe.replace(i, value)


def _replace_arch(editor: Editor, pe: CollectionEdit, i: int, arch: str) -> None:
    pe.check_own(i)
    node = pe.value(i)
    only = node.value[0] if isinstance(node, SequenceNode) and len(node.value) == 1 else None
    if isinstance(only, ScalarNode) and not only.tag.startswith("!"):
        # One item: change just its text, so the list keeps its layout and quoting.
        editor.raw.append(replace_scalar(editor.doc, only, arch, flow=bool(node.flow_style)))
    else:
        pe.replace(i, [arch])


def _opt_out(editor: Editor, site: Site, props: list[str]) -> None:
    res = editor.collection(site.resource, f"resource {site.logical_id}", site.key)
    i = res.index("IgnoreGlobals")
    if i is None:
        type_at = res.index("Type")
        res.insert(type_at + 1 if type_at is not None else 0, "IgnoreGlobals", list(props))
        return
    node = res.value(i)
    if not isinstance(node, SequenceNode):
        raise LayoutError(
            f"{editor.doc.where(node)}: IgnoreGlobals of {site.logical_id} is neither '*' nor a list",
            hint="write IgnoreGlobals as a list of property names",
        )
    seq = editor.collection(node, f"IgnoreGlobals of {site.logical_id}", res.node.value[i][0])
    for prop in props:
        seq.insert(seq.size, None, prop)


def _relocations(doc: Document, output_path: Path, edits: list[Edit],
                 report: list[tuple[str, str]] | None = None) -> list[Edit]:
    """Edits that make relative paths work from ``output_path``'s directory, skipping text that
    other edits already remove or replace."""
    out_dir = Path(os.path.normpath(output_path.absolute().parent))
    template_dir = Path(os.path.normpath(doc.directory))
    if out_dir == template_dir:
        return []
    taken = sorted((e.start, e.end) for e in edits if e.end > e.start)
    starts = [start for start, _ in taken]
    seen: set[int] = set()
    out = []
    for node, flow in local_path_nodes(doc):
        if id(node) in seen:
            continue
        seen.add(id(node))
        i = bisect_right(starts, node.start_mark.index) - 1
        if i >= 0 and taken[i][1] > node.start_mark.index:
            continue  # inside a member the migration deletes or replaces
        new = relocated(literal(node) or "", template_dir, out_dir)
        if new is not None:
            out.append(replace_scalar(doc, node, new, flow=flow))
            if report is not None:
                report.append((literal(node) or "", new))
    return out


def _verify(doc: Document, text: str) -> None:
    """The rewrite must still parse as the same kind of document: fail loudly rather than write junk."""
    try:
        parse_document(text, doc.path, format=doc.format)
    except ShimimgError as e:
        raise RuntimeError(f"the rewrite of {doc.path} produced an unreadable template: {e.message}") from None
