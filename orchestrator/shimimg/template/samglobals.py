"""SAM Globals: which zip-only properties leave ``Globals.Function``, and which image functions opt out.

A property leaves when no function that stays (a zip function, or one shimimg does not move) would
change without it; otherwise it stays and each image function that would inherit it lists it in
``IgnoreGlobals``. SAM merges a global list into a local one and a global mapping into a local one,
so a function with its own Layers still depends on global Layers. An ``IgnoreGlobals`` entry that
names a property no longer in Globals is an error for SAM, so such entries go too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shimimg.template.collection import Editor
from shimimg.template.discovery import SAM_FUNCTION, Site, effective, globals_function, ignored_globals
from shimimg.template.document import Document, MappingNode, Node, ScalarNode, SequenceNode, get, member
from shimimg.template.intrinsics import is_intrinsic, literal

# Zip-only properties an image function must not have or inherit.
ZIP_ONLY = ("Runtime", "Handler", "CodeUri", "Layers")


@dataclass(frozen=True)
class GlobalsPlan:
    node: MappingNode | None
    key: ScalarNode | None
    removed: frozenset[str]  # leave Globals.Function
    kept: tuple[str, ...]  # stay; image functions that inherit them opt out
    arch: Node | None  # Globals.Function.Architectures, if any


def plan_globals(doc: Document, sites: dict[str, Site], moving: dict) -> GlobalsPlan:
    glob = globals_function(doc)
    if glob is None:
        return GlobalsPlan(None, None, frozenset(), (), None)
    gkey = member(get(doc.root, "Globals"), "Function")[0]  # type: ignore[index]
    present = {k.value: v for k, v in glob.value if isinstance(k, ScalarNode)}
    targets = {pkg.arch for pkg, _, _ in moving.values()}
    arch = present.get("Architectures")
    candidates = [p for p in ZIP_ONLY if p in present]
    if arch is not None and not all(is_arch(arch, t) for t in targets):
        candidates.append("Architectures")
    staying = [s for s in sites.values() if s.resource_type == SAM_FUNCTION and s.logical_id not in moving]
    removed = frozenset(p for p in candidates if not any(_needs(doc, s, p, present[p]) for s in staying))
    kept = tuple(p for p in candidates if p not in removed)
    return GlobalsPlan(glob, gkey, removed, kept, arch)


def edit_globals(editor: Editor, globals_: GlobalsPlan, sites: Iterable[Site]) -> None:
    if not globals_.removed or globals_.node is None:
        return
    doc, glob = editor.doc, globals_.node
    if all(isinstance(k, ScalarNode) and k.value in globals_.removed for k, _ in glob.value):
        # Nothing left in Globals.Function: SAM refuses an empty section, so it goes too.
        section = get(doc.root, "Globals")
        gkey = member(doc.root, "Globals")[0]  # type: ignore[index]
        if len(section.value) == 1:  # type: ignore[union-attr]
            editor.delete(editor.collection(doc.root, "the template"), "Globals")
        else:
            editor.delete(editor.collection(section, "Globals", gkey), "Function")  # type: ignore[arg-type]
        return
    ce = editor.collection(glob, "Globals.Function", globals_.key)
    for prop in globals_.removed:
        editor.delete(ce, prop)
    # SAM rejects an IgnoreGlobals entry that names no global property: drop the ones removed.
    for site in sites:
        if site.resource_type != SAM_FUNCTION:
            continue
        found = member(site.resource, "IgnoreGlobals")
        if found is None or not isinstance(found[1], SequenceNode):
            continue
        key, seq = found
        stale = [i for i, item in enumerate(seq.value) if literal(item) in globals_.removed]
        if not stale:
            continue
        sce = editor.collection(seq, f"IgnoreGlobals of {site.logical_id}", key)
        if len(stale) == len(seq.value) and not sce.inserts:
            editor.delete(editor.collection(site.resource, f"resource {site.logical_id}", site.key), "IgnoreGlobals")
        else:
            for i in stale:
                sce.delete(i)


def _needs(doc: Document, site: Site, prop: str, global_value: Node) -> bool:
    """Whether removing Globals.Function.<prop> would change this (non-migrated) function."""
    ignore = ignored_globals(site.resource)
    if ignore == "*" or prop in ignore:
        return False
    if prop in ZIP_ONLY and literal(effective(doc, site).get("PackageType")) == "Image":
        return False  # an image function has no use for zip properties
    own = get(site.properties, prop)
    if own is None:
        return True
    if prop == "Architectures":
        return False  # its own value wins (and old SAM's concatenation would be its own problem)
    # SAM appends a global list to a local one and merges mappings: the global still counts.
    both_lists = isinstance(own, SequenceNode) and isinstance(global_value, SequenceNode)
    both_maps = all(isinstance(n, MappingNode) and not is_intrinsic(n) for n in (own, global_value))
    return both_lists or both_maps


def is_arch(node: Node, arch: str) -> bool:
    return isinstance(node, SequenceNode) and len(node.value) == 1 and literal(node.value[0]) == arch
