"""``shimimg plan``: which functions move, grouped into one image per package; where each handler's
binary comes from and why; and every function left alone, with the reason. Runs ``go list`` (for
source packages), never Docker.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from shimimg import binaries as binmod
from shimimg import ui
from shimimg.cache import Store
from shimimg.commands.planning import already_migrated, announce_arch_changes
from shimimg.commands.schema import plan_document
from shimimg.config import Settings
from shimimg.errors import EXIT_ERROR, EXIT_OK, ShimimgError
from shimimg.plan import Plan
from shimimg.template import discover, load_document
from shimimg.trust import checkout_root, inside

log = logging.getLogger("shimimg.plan")


def _sources(plan: Plan, settings: Settings) -> tuple[dict[Path, Any], list[str]]:
    """Package path → (how, module root, {handler: Resolved}); and the problems resolving found."""
    store = Store(settings.cache_dir, plan.template.parent, allow_in_checkout=settings.cache_in_checkout)
    out: dict[Path, Any] = {}
    problems: list[str] = []
    packages = list(plan.packages)
    if not packages:
        return out, problems
    where: dict[Path, Any] = {}
    found: dict[Path, Any] = {}
    with store.locked():
        try:
            where = binmod.modules(packages, settings, store)
            found = binmod.resolve(packages, where, settings, store)
        except ShimimgError as e:
            problems = [e.message, *e.problems] + ([f"hint: {e.hint}"] if e.hint else [])
    _report_outside(plan, [m for m in {id(m): m for m in where.values() if m is not None}.values()], settings)
    for pkg in packages:
        module = where.get(pkg.path)
        if pkg.path not in where:
            out[pkg.path] = ("unknown", None, {})
        elif module is None:
            out[pkg.path] = ("prebuilt", None, {})
        else:
            ps = found.get(pkg.path)
            out[pkg.path] = ("go build", module.root, {r.handler: r for r in ps.handlers} if ps else {})
    return out, problems


def _report_outside(plan: Plan, modules: list[Any], settings: Settings) -> None:
    """A ``replace`` to a folder or a ``go.work`` ``use`` outside the checkout compiles code from
    elsewhere on the machine into the image. It is legal Go, so plan says so, and refuses nothing
    (issue 19)."""
    from shimimg.gobuild.gocmd import local_paths

    root = checkout_root(plan.template.parent)
    for module in modules:
        for what, folder in local_paths(module.root, binmod.build_env(settings, settings.arch),
                                        module.env.get("GOWORK", "")):
            real = os.path.realpath(folder)
            if not inside(real, root):
                log.warning("module %s compiles code from outside the checkout %s: %s (%s); legal Go, but check "
                            "that you trust it", module.root, root, what, real)


def run(*, template: Path, settings: Settings, as_json: bool) -> int:
    plan = discover(load_document(template), arch=settings.arch)
    migrated = already_migrated(template, plan)
    if migrated and not as_json:
        raise migrated
    announce_arch_changes(plan)
    sources, problems = _sources(plan, settings)
    if as_json:
        ui.print_json(plan_document(plan, sources, problems))
    else:
        _print(plan, sources, problems)
    return EXIT_ERROR if problems or plan.skipped else EXIT_OK


def _print(plan: Plan, sources: dict[Path, Any], problems: list[str]) -> None:
    n_fn = sum(len(p.functions) for p in plan.packages)
    n_pkg = len(plan.packages)
    ui.print_result(f"{_relative(plan.template)}: {n_fn} Go function{'s' if n_fn != 1 else ''} to move onto "
                    f"{n_pkg} image{'s' if n_pkg != 1 else ''}")
    for pkg in plan.packages:
        how, module, resolved = sources.get(pkg.path, ("prebuilt", None, {}))
        missing = "" if _exists(pkg.path) else ", not found"
        origin = f"go build in {_relative(module)}" if module else "prebuilt binaries"
        rows = []
        for fn in pkg.functions:
            r = resolved.get(fn.binary)
            main = f"{r.import_path} ({r.why})" if r else ("-" if how == "prebuilt" else "?")
            env = ", ".join(name if value is not None else f"{name}*" for name, value in fn.environment)
            rows.append([fn.logical_id, fn.handler, main, _or_dash(fn.memory), _or_dash(fn.timeout),
                         (env[:37] + "...") if len(env) > 40 else (env or "-")])
        ui.print_table(rows, ["FUNCTION", "HANDLER", "MAIN PACKAGE (WHY)", "MEMORY", "TIMEOUT", "ENV"],
                       title=f"\n{ui.shown(pkg.code_uri)} ({pkg.kind}{missing}, {ui.shown(origin)}) → {pkg.image} "
                             f"[{pkg.arch}]")
    functions = [fn for pkg in plan.packages for fn in pkg.functions]
    notes = []
    if any(value is None for fn in functions for _, value in fn.environment):
        notes.append("* set by an intrinsic: known only when CloudFormation deploys the stack")
    layered = [fn.logical_id for fn in functions if fn.layers]
    if layered:
        notes.append(f"have Layers, which images cannot take (migrate needs --drop-layers): {', '.join(layered)}")
    for note in notes:
        ui.print_result(note)
    if problems:
        ui.print_result("\ncannot tell where some binaries come from (build refuses until fixed):")
        for p in problems:
            ui.print_result(f"  {p}")
    if plan.skipped:
        ui.print_table([[s.logical_id, s.line or "", s.reason, s.fix] for s in plan.skipped],
                       ["FUNCTION", "LINE", "NOT BUILDABLE", "FIX"], title="\nnot buildable (migrate and build refuse "
                       "until fixed):")
    if plan.untouched:
        ui.print_table([[u.logical_id, u.reason] for u in plan.untouched], ["FUNCTION", "LEFT ALONE BECAUSE"],
                       title="\nleft as they are:")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive on Windows
        return str(path)
