"""``--consolidate``: one image per Go module, whatever the CodeUris.

SAM's Go layout gives every function its own CodeUri folder, its own main package and its own
zip (``Handler: bootstrap``); go1.x starter layouts do the same with ``bin/x``. Once shimimg has
resolved every function's main package, the functions whose mains live in one Go module go into
one image for that module: each main package becomes ``bin/<name>`` (its folder's name, or its
parent's for a ``cmd`` folder; made unique within the image by its path), each function's
``ImageConfig.Command`` names it, and the packages' other rules (keys, layers, checks) are the
ones every package gets. Nested modules give one image per module; a go.work workspace too, one
per module (``plan`` says so). Packages that are not in a Go module (zips, prebuilt folders) stay
as they are.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shimimg import gobuild
from shimimg.gobuild import PackageSources
from shimimg.plan.records import Function, Package, Plan, Untouched
from shimimg.template.packages import Local, image_name, unique_image

_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Merge:
    """One image after consolidation: the module, and what went into it."""

    code_uri: str  # the module folder, relative to the template
    module: Path
    before: tuple[str, ...]  # the CodeUris whose functions it holds
    functions: int
    binaries: int
    workspace: bool  # the module is one of a go.work workspace


def _base(main_dir: Path, root: Path) -> str:
    name = main_dir.name if main_dir != root else root.name
    if name == "cmd" and main_dir != root:
        name = main_dir.parent.name
    return _NAME.sub("-", name).strip(".-") or "main"


def names(mains: list[Path], root: Path) -> dict[Path, str]:
    """A binary name per main package folder, unique within the module's image."""
    base = {m: _base(m, root) for m in mains}
    count: dict[str, int] = {}
    for n in base.values():
        count[n] = count.get(n, 0) + 1
    out: dict[Path, str] = {}
    for m in sorted(mains):
        n = base[m]
        if count[n] > 1:  # two mains named alike: their paths tell them apart
            rel = os.path.relpath(m, root).replace(os.sep, "/")
            n = _NAME.sub("-", rel.replace("/", "-")).strip(".-") or n
        out[m] = n
    taken: dict[str, Path] = {}
    for m in sorted(out):  # a path-derived name may still meet another main's plain name
        n, i = out[m], 2
        while n in taken:
            n, i = f"{out[m]}-{i}", i + 1
        taken[n] = m
        out[m] = n
    return out


def _code_uri(root: Path, template_dir: Path) -> str:
    rel = os.path.relpath(root, template_dir).replace(os.sep, "/")
    return "./" if rel == "." else rel + "/"


def consolidate(plan: Plan, where: Mapping[Path, gobuild.Module | None],
                found: Mapping[Path, PackageSources]) -> tuple[Plan, tuple[Merge, ...]]:
    """``plan`` with every package that sits in a Go module merged into one package per module."""
    template_dir = plan.template.parent
    by_root: dict[Path, list[tuple[Package, Function, Path]]] = {}
    keep: list[Package] = []
    untouched = list(plan.untouched)
    workspace: dict[Path, bool] = {}
    whys: dict[tuple[Path, Path], str] = {}
    for pkg in plan.packages:
        module = where.get(pkg.path)
        ps = found.get(pkg.path)
        if module is None or ps is None:
            bootstraps = [f for f in pkg.functions if f.go_bootstrap]
            untouched += [Untouched(f.logical_id, f"{f.runtime} with Handler bootstrap, but {pkg.code_uri} is in no Go "
                                    "module: left as a custom runtime") for f in bootstraps]
            rest = tuple(f for f in pkg.functions if not f.go_bootstrap)
            if rest:
                keep.append(dataclasses.replace(pkg, functions=rest))
            continue
        resolved = {r.handler: r for r in ps.handlers}
        left = dict(ps.left)
        workspace[module.root] = bool(module.workspace_files)
        for fn in pkg.functions:
            r = resolved.get(fn.binary)
            if r is None:
                untouched.append(Untouched(fn.logical_id, left.get(fn.binary, "no main package resolved")))
                continue
            by_root.setdefault(module.root, []).append((pkg, fn, r.main_dir))
            whys[(module.root, r.main_dir)] = f"{pkg.code_uri} {fn.handler}: {r.why}"
    taken = {p.image: p.path for p in keep}
    merged: list[Package] = []
    report: list[Merge] = []
    for root, items in by_root.items():
        name_of = names(sorted({m for _, _, m in items}), root)
        code_uri = _code_uri(root, template_dir)
        image = image_name(Local(code_uri, root, "dir"), template_dir)
        fns = tuple(dataclasses.replace(fn, handler=f"bin/{name_of[m]}") for _, fn, m in items)
        mapping = tuple(sorted({(f"bin/{name_of[m]}", "./" + os.path.relpath(m, root).replace(os.sep, "/"),
                                 whys[(root, m)]) for _, _, m in items}))
        before = tuple(dict.fromkeys(p.code_uri for p, _, _ in items))
        arch = items[0][0].arch
        merged.append(Package(code_uri, root, "dir", unique_image(image, root, taken), arch, fns, mapping=mapping,
                              merged=before))
        report.append(Merge(code_uri, root, before, len(fns), len(mapping), workspace.get(root, False)))
    new = dataclasses.replace(plan, packages=tuple(keep + merged), untouched=tuple(untouched), merges=tuple(report))
    return new, tuple(report)
