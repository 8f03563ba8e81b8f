"""The plan every building command starts from, with the refusals and notices they share."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.plan.records import Package, Plan
from shimimg.template import check_migratable, discover, load_document
from shimimg.template.packages import strip_dot_slash

log = logging.getLogger("shimimg")
# Folders shimimg writes templates into (commands.output), and the names SAM looks for.
_OUTPUT_DIRS = {(".aws-sam", "build"), (".shimimg", "pinned"), (".shimimg", "migrated"), (".shimimg", "build")}
_SAM_NAMES = ("template.yaml", "template.yml", "template.json")


def source_of(template: Path) -> Path | None:
    """Where the template shimimg migrated came from, when ``template`` is shimimg's output."""
    t = template.resolve()
    if (t.parent.parent.name, t.parent.name) in _OUTPUT_DIRS:
        # .aws-sam/build/template.yaml comes from any of SAM's names; .shimimg/*/X from X.
        names = _SAM_NAMES if t.parent.parent.name == ".aws-sam" else (t.name,)
        for name in names:
            candidate = t.parent.parent.parent / name
            if candidate.is_file():
                return candidate
    bak = template.with_name(template.name + ".bak")
    return bak if bak.is_file() else None


def already_migrated(template: Path, plan: Plan) -> ShimimgError | None:
    images = [u.logical_id for u in plan.untouched if u.reason.startswith("PackageType Image")]
    if plan.packages or plan.skipped or not images:
        return None
    source = source_of(template)
    where = (f"the original is {source}" if source else
             "run shimimg on the template from before the migration (the one with Runtime go1.x / Handler bin/x)")
    return ShimimgError(f"{template} is already migrated: {len(images)} function(s) are container images "
                        f"({', '.join(images[:5])}{', ...' if len(images) > 5 else ''}) and none is a Go zip function",
                        hint=where + (f": shimimg build -t {source}" if source else ""))


def announce_arch_changes(plan: Plan) -> None:
    changes = plan.arch_changes()
    if not changes:
        return
    by: dict[tuple[str, str], list[str]] = {}
    for fn, old, new in changes:
        by.setdefault((old, new), []).append(fn.logical_id)
    for (old, new), names in by.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        log.warning("%s → %s: %s; pass --arch %s to keep %s", old, new, shown, old, old)


def discover_plan(doc: Any, settings: Settings) -> Plan:
    """The plan of ``doc``; with ``--consolidate``, merged into one package per Go module (which
    takes go: every function's main package must be known to know its module)."""
    plan = discover(doc, arch=settings.arch, consolidate=settings.consolidate)
    if not settings.consolidate or not plan.packages:
        return plan
    from shimimg.binaries import gather as binmod
    from shimimg.cache import Store
    from shimimg.plan.consolidate import consolidate

    store = Store(settings.cache_dir, doc.path.resolve().parent, allow_in_checkout=settings.cache_in_checkout)
    with store.locked():
        where = binmod.modules(plan.packages, settings, store)
        found = binmod.resolve(plan.packages, where, settings, store)
    plan, _ = consolidate(plan, where, found)
    return plan


def load_plan(template: Path, settings: Settings) -> tuple[Any, Plan]:
    doc = load_document(template)
    plan = discover_plan(doc, settings)
    # Before any compiling: the same refusals migrate gives (unbuildable functions, Layers).
    check_migratable(doc, plan, settings.drop_layers)
    if not plan.packages:
        raise already_migrated(template, plan) or ShimimgError(
            f"{template}: no Go functions with a binary Handler (go1.x or provided.* with Handler: bin/<name>) found",
            hint="check the template path (-t), or run `shimimg plan` to see what shimimg finds and why",
        )
    announce_arch_changes(plan)
    return doc, plan


def refuse_outside(plan: Plan, packages: Sequence[Package], settings: Settings) -> None:
    """A CodeUri outside the template's folder (absolute, '..', a link out) would copy files of the
    machine (say /usr/bin) into the image: refused unless --allow-outside names the intent (issue 19)."""
    if settings.allow_outside:
        return
    home = Path(os.path.realpath(plan.template.parent))
    outside = [p for p in packages if not Path(os.path.realpath(p.path)).is_relative_to(home)]
    if outside:
        raise ShimimgError(
            f"{plan.template}: {len(outside)} package(s) lie outside the template's folder {home}",
            problems=[f"CodeUri {p.code_uri!r} is {os.path.realpath(p.path)!r} "
                      f"({', '.join(f.logical_id for f in p.functions[:3])})" for p in outside],
            hint="move the package under the template's folder, or pass --allow-outside (SHIMIMG_ALLOW_OUTSIDE=1) "
                 "if its files belong in the image")


def matches_package(pkg: Package, key: str, base: Path) -> bool:
    if strip_dot_slash(key).rstrip("/") == strip_dot_slash(pkg.code_uri).rstrip("/"):
        return True
    try:
        return (base / key).resolve() == pkg.path
    except (OSError, ValueError):
        return False


def select(plan: Plan, only: Sequence[str]) -> list[Package]:
    """The packages named by ``--package`` (all when none is named); unknown names are refused."""
    if not only:
        return list(plan.packages)
    base = plan.template.parent
    unknown = [k for k in only if not any(matches_package(p, k, base) for p in plan.packages)]
    if unknown:
        raise ShimimgError(f"--package names no package of {plan.template}: {', '.join(unknown)}",
                           problems=[f"{p.code_uri} ({len(p.functions)} function(s))" for p in plan.packages],
                           hint="name packages by their CodeUri, as listed above")
    return [p for p in plan.packages if any(matches_package(p, k, base) for k in only)]
