"""``shimimg plan``: which functions move, grouped into one image per package; where each handler's
binary comes from and why; and every function left alone, with the reason. Runs ``go list`` (for
source packages), never Docker.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimimg import ui
from shimimg.binaries import datafiles
from shimimg.binaries import gather as binmod
from shimimg.binaries.lambdalib import Library
from shimimg.cache import Store
from shimimg.commands.planning import already_migrated, announce_arch_changes, discover_plan, matches_package
from shimimg.commands.schema import plan_document
from shimimg.config import Settings
from shimimg.errors import EXIT_ERROR, EXIT_OK, ShimimgError
from shimimg.plan.records import Package, Plan
from shimimg.template import load_document
from shimimg.template.packages import strip_dot_slash
from shimimg.template.paths import local_path_nodes
from shimimg.trust import checkout_root, inside

log = logging.getLogger("shimimg.plan.records")


@dataclass
class Report:
    """What plan found for one package: where its binaries come from, the library each handler
    links, what goes into the image beside the binaries, and findings to act on."""

    how: str  # "go build", "prebuilt" or "unknown"
    module: Path | None = None
    resolved: dict[str, Any] = field(default_factory=dict)  # handler → gobuild.Resolved
    libraries: dict[str, Library] = field(default_factory=dict)  # handler → Library
    data: list[tuple[str, int]] = field(default_factory=list)  # (path in the package, bytes) beside the binaries
    uncovered: list[tuple[str, int]] = field(default_factory=list)  # ("config/**", files) no include covers
    include_line: str = ""  # the table an include goes under, for the line to add
    include: list[str] = field(default_factory=list)  # the package's include patterns now
    problems: list[str] = field(default_factory=list)  # build refuses until fixed
    notes: list[str] = field(default_factory=list)  # worth knowing; build goes on
    known: bool = True  # False when a prebuilt package's files could not be read (not built yet)

    def library_summary(self) -> str:
        shown = dict.fromkeys(lib.describe() for lib in self.libraries.values())
        return "; ".join(shown) if shown else ("not known until the binaries exist" if self.how == "prebuilt" else "-")


def _error_lines(e: ShimimgError) -> list[str]:
    return [e.message, *e.problems] + ([f"hint: {e.hint}"] if e.hint else [])


def _prebuilt_report(pkg: Package, settings: Settings, store: Store, report: Report) -> None:
    """Take the package's binaries and files as build would (into scratch space), to say what they hold."""
    if not _exists(pkg.path):
        report.known = False
        report.notes.append(f"{pkg.code_uri} does not exist yet: build it (your old build chain, e.g. make) before "
                            "shimimg build")
        return
    missing = [fn.binary for fn in pkg.functions if pkg.kind == "dir" and not os.path.lexists(pkg.path / fn.binary)]
    if missing:
        report.known = False
        report.notes.append(f"{', '.join(dict.fromkeys(missing))} not built yet in {pkg.code_uri}: build them (your "
                            "old build chain, e.g. make) before shimimg build")
        return
    try:
        with store.scratch("plan") as scratch:
            bins = binmod.take_prebuilt(pkg, settings, scratch)
            report.data = [(rel, _size(path)) for rel, path, _, _ in bins.data]
    except ShimimgError as e:
        report.known = False
        report.problems += _error_lines(e)
        return
    report.libraries = dict(bins.libraries)


def _source_report(pkg: Package, settings: Settings, ps: Any, report: Report, elsewhere: list[Path]) -> None:
    report.resolved = {r.handler: r for r in ps.handlers}
    report.libraries = dict(ps.libraries)
    report.notes += list(ps.warnings)
    patterns = settings.package_include(pkg.code_uri)
    try:
        report.data = [(rel, _size(path)) for rel, path, _, _ in binmod.source_data(pkg, settings)]
    except ShimimgError as e:
        report.problems += _error_lines(e)
    report.uncovered = datafiles.uncovered(pkg.path, patterns, binaries=[f.binary for f in pkg.functions],
                                           elsewhere=elsewhere)
    report.include_line = settings.include_line(pkg.code_uri)
    report.include = list(patterns)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stale_mappings(plan: Plan, settings: Settings) -> list[str]:
    """Mappings in the config file that match no function: a rename left them behind, or a typo."""
    config = str(settings.config_file or settings.config_name)
    binaries = {fn.binary for pkg in plan.packages for fn in pkg.functions}
    out = [f"{settings.handler_table()} \"{h}\" in {config} matches no function's Handler; remove it or fix the name"
           for h in settings.handlers if strip_dot_slash(h) not in binaries]
    for code_uri, table in settings.packages.items():
        pkg = next((p for p in plan.packages if matches_package(p, code_uri, plan.template.parent)), None)
        if pkg is None:
            out.append(f'[packages."{code_uri}"] in {config} matches no package (CodeUri) of {plan.template.name}')
            continue
        own = {fn.binary for fn in pkg.functions}
        out += [f"{settings.package_table(code_uri)} \"{h}\" in {config} matches no function of {code_uri}"
                for h in (table.get("handlers") or {}) if strip_dot_slash(h) not in own]
    return out


def _unused_mappings(plan: Plan, settings: Settings, reports: dict[Path, Report]) -> list[str]:
    """Mappings for handlers whose binaries are taken prebuilt: nothing is compiled, so they do nothing."""
    out = []
    config = str(settings.config_file or settings.config_name)
    for pkg in plan.packages:
        if reports.get(pkg.path, Report("unknown")).how != "prebuilt":
            continue
        own = {fn.binary for fn in pkg.functions}
        mapped = [h for h in (*settings.handlers, *settings.package_mapping(pkg.code_uri)) if strip_dot_slash(h) in own]
        if mapped:
            out.append(f"{', '.join(dict.fromkeys(mapped))} mapped in {config} is not used: {pkg.code_uri} is taken "
                       "prebuilt (a zip, a folder in no Go module, or --prebuilt), so nothing is compiled for it")
    return out


def _reports(plan: Plan, settings: Settings, elsewhere: list[Path]) -> tuple[dict[Path, Report], list[str]]:
    """A report per package; and the problems that stop a build, for all packages at once."""
    store = Store(settings.cache_dir, plan.template.parent, allow_in_checkout=settings.cache_in_checkout)
    out: dict[Path, Report] = {}
    problems: list[str] = []
    packages = list(plan.packages)
    if not packages:
        return out, problems
    where: dict[Path, Any] = {}
    found: dict[Path, Any] = {}
    with store.locked():
        try:
            where = binmod.modules(packages, settings, store)
            binmod.refuse_from_source(packages, where, settings)
            found = binmod.resolve(packages, where, settings, store)
        except ShimimgError as e:
            problems = _error_lines(e)
        _report_outside(plan, [m for m in {id(m): m for m in where.values() if m is not None}.values()], settings)
        for pkg in packages:
            module = where.get(pkg.path)
            if pkg.path not in where:
                out[pkg.path] = Report("unknown")
            elif module is None:
                out[pkg.path] = report = Report("prebuilt")
                _prebuilt_report(pkg, settings, store, report)
                if settings.package_include(pkg.code_uri):
                    report.problems.append(f"{pkg.code_uri}: include is set, but its binaries are taken prebuilt: "
                                           "the zip or folder goes in whole already; remove include for it")
            else:
                out[pkg.path] = report = Report("go build", module.root)
                if pkg.path in found:
                    _source_report(pkg, settings, found[pkg.path], report, elsewhere)
    prebuilt = {path: r.libraries for path, r in out.items() if r.how == "prebuilt"}
    try:
        binmod.check_libraries(packages, found, prebuilt)
    except ShimimgError as e:
        problems += _error_lines(e)
    for pkg in packages:
        problems += out[pkg.path].problems
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
    doc = load_document(template)
    plan = discover_plan(doc, settings)
    migrated = already_migrated(template, plan)
    # A --sam-build template is planned as it is: its functions are listed with the Dockerfile
    # sam build builds each from.
    sam_built = any("shimimg migrate --sam-build" in u.reason for u in plan.untouched)
    if migrated and not as_json and not sam_built:
        raise migrated
    announce_arch_changes(plan)
    # Paths the template uses for other things (another runtime's CodeUri, an API definition) are
    # not files a Go handler's package forgot to carry.
    elsewhere = [Path(os.path.normpath(doc.directory / str(n.value))) for n, _ in local_path_nodes(doc)]
    elsewhere.append(template.absolute())  # the template itself is no handler's data
    reports, problems = _reports(plan, settings, elsewhere)
    notes = _stale_mappings(plan, settings) + _unused_mappings(plan, settings, reports)
    if as_json:
        ui.print_json(plan_document(plan, reports, problems, notes))
    else:
        _print(plan, reports, problems, notes)
    return EXIT_ERROR if problems or plan.skipped else EXIT_OK


def _print(plan: Plan, reports: dict[Path, Report], problems: list[str], notes: list[str]) -> None:
    n_fn = sum(len(p.functions) for p in plan.packages)
    n_pkg = len(plan.packages)
    ui.print_result(f"{_relative(plan.template)}: {n_fn} Go function{'s' if n_fn != 1 else ''} to move onto "
                    f"{n_pkg} image{'s' if n_pkg != 1 else ''}")
    if plan.merges:
        before = sum(len(m.before) for m in plan.merges)
        ui.print_result(f"consolidated (--consolidate): {sum(m.functions for m in plan.merges)} function(s) from "
                        f"{before} package(s) (one image each before) onto {len(plan.merges)} image(s), one per Go "
                        f"module, {sum(m.binaries for m in plan.merges)} binaries")
        for m in plan.merges:
            ws = " (a module of a go.work workspace: one image per module)" if m.workspace else ""
            ui.print_result(f"  {ui.shown(m.code_uri)} ← {ui.shown(', '.join(m.before))}{ws}")
    for pkg in plan.packages:
        report = reports.get(pkg.path) or Report("prebuilt")
        missing = "" if _exists(pkg.path) else ", not found"
        origin = f"go build in {_relative(report.module)}" if report.module else "prebuilt binaries"
        rows = []
        for fn in pkg.functions:
            r = report.resolved.get(fn.binary)
            main = f"{r.import_path} ({r.why})" if r else ("-" if report.how == "prebuilt" else "?")
            env = ", ".join(name if value is not None else f"{name}*" for name, value in fn.environment)
            rows.append([fn.logical_id, fn.handler, main, _or_dash(fn.memory), _or_dash(fn.timeout),
                         (env[:37] + "...") if len(env) > 40 else (env or "-")])
        ui.print_table(rows, ["FUNCTION", "HANDLER", "MAIN PACKAGE (WHY)", "MEMORY", "TIMEOUT", "ENV"],
                       title=f"\n{ui.shown(pkg.code_uri)} ({pkg.kind}{missing}, {ui.shown(origin)}) → {pkg.image} "
                             f"[{pkg.arch}]")
        ui.print_result(f"  library: {report.library_summary()}")
        ui.print_result(f"  beside the binaries: {_data_summary(pkg, report)}")
        if report.uncovered:
            globs = [g for g, _ in report.uncovered]
            shown = ", ".join(f"{g} ({n} file{'s' if n != 1 else ''})" for g, n in report.uncovered[:8])
            more = f" and {len(globs) - 8} more" if len(globs) > 8 else ""
            # The whole list as it should read: pasting it must not drop the patterns already there.
            ui.print_result(f"  not in the image (no include covers them): {ui.shown(shown)}{more}; if a handler "
                            f"reads them, add to the config file:\n    {report.include_line}\n    include = "
                            f"{_toml_list([*report.include, *globs])}")
        for note in report.notes:
            ui.print_result(f"  note: {ui.shown(note)}")
    functions = [fn for pkg in plan.packages for fn in pkg.functions]
    if any(value is None for fn in functions for _, value in fn.environment):
        notes = [*notes, "* set by an intrinsic: known only when CloudFormation deploys the stack"]
    layered = [fn.logical_id for fn in functions if fn.layers]
    if layered:
        notes = [*notes, f"have Layers, which images cannot take (migrate needs --drop-layers): {', '.join(layered)}"]
    for note in notes:
        ui.print_result(note)
    if problems:
        ui.print_result("\nbuild refuses until these are fixed:")
        for p in problems:
            ui.print_result(f"  {ui.shown(p)}")
    if plan.skipped:
        ui.print_table([[s.logical_id, s.line or "", s.reason, s.fix] for s in plan.skipped],
                       ["FUNCTION", "LINE", "NOT BUILDABLE", "FIX"], title="\nnot buildable (migrate and build refuse "
                       "until fixed):")
    if plan.untouched:
        ui.print_table([[u.logical_id, u.reason] for u in plan.untouched], ["FUNCTION", "LEFT ALONE BECAUSE"],
                       title="\nleft as they are:")


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _data_summary(pkg: Package, report: Report) -> str:
    if not report.known:
        return "not known until the package's binaries can be read"
    if not report.data:
        return "nothing (the package holds only the binaries)" if report.how == "prebuilt" else "nothing (no include)"
    size = sum(n for _, n in report.data)
    names = ", ".join(rel for rel, _ in report.data[:6]) + (", ..." if len(report.data) > 6 else "")
    origin = f"from the {pkg.kind}" if report.how == "prebuilt" else "from include"
    return f"{len(report.data)} file(s), {size} bytes, {origin}: {names}"


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
