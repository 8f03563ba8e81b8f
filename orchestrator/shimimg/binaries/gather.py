"""Each package's handler binaries: compiled from source, or taken prebuilt.

From source when the package sits in a Go module (go says so): the packages of one module are
resolved together and compiled by one ``go build`` for every handler whose key has no cached
binary; modules run in parallel. Prebuilt when the package is a .zip, sits in no Go module (a
GOPATH-era tree), or ``--prebuilt`` is given (see ``prebuilt``).
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shimimg import gobuild, parallel
from shimimg.binaries import datafiles, lambdalib, prebuilt
from shimimg.binaries.lambdalib import Library
from shimimg.cache import Store
from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.gobuild import BuildEnv, PackageSources, Request
from shimimg.plan.records import Package

log = logging.getLogger("shimimg.binaries.gather")


@dataclass(frozen=True)
class Binaries:
    files: Mapping[str, Path]  # "bin/x" → the file to put at /var/task/bin/x
    source: str  # "go build" or "prebuilt"
    compiled: int = 0  # handlers go build compiled this time
    reused: int = 0  # handlers whose cached binary still matched their inputs
    digests: Mapping[str, str] = field(default_factory=dict)  # known sha256 per handler
    sources: PackageSources | None = None  # where each handler's main package is, and why
    # What goes into /var/task beside the binaries: (path in the package, file, sha256, executable)
    data: tuple[tuple[str, Path, str, bool], ...] = ()
    # handler → the aws-lambda-go it links (see lambdalib)
    libraries: Mapping[str, Library] = field(default_factory=dict)


def handlers_of(pkg: Package) -> list[tuple[str, str]]:
    """Unique handlers (as binaries in the package) with the functions that use each, in template order."""
    by: dict[str, list[str]] = {}
    for fn in pkg.functions:
        by.setdefault(fn.binary, []).append(fn.logical_id)
    return [(h, ", ".join(ids)) for h, ids in by.items()]


def build_env(settings: Settings, arch: str) -> BuildEnv:
    return BuildEnv(arch=arch, tags=tuple(settings.go_tags))


def request(pkg: Package, settings: Settings) -> Request:
    return Request(
        code_uri=pkg.code_uri, path=pkg.path, handlers=tuple(handlers_of(pkg)),
        package_map=dict(settings.package_mapping(pkg.code_uri)), template_map=dict(settings.handlers),
        consolidated={h: (main, why) for h, main, why in pkg.mapping},
        package_table=settings.package_table(pkg.code_uri), template_table=settings.handler_table(),
        config_name=settings.config_name,
        optional=bool(pkg.functions) and all(f.go_bootstrap for f in pkg.functions) and not pkg.mapping,
    )


def modules(packages: Sequence[Package], settings: Settings, store: Store) -> dict[Path, gobuild.Module | None]:
    """The Go module of each package (by path); None for packages taken prebuilt."""
    out: dict[Path, gobuild.Module | None] = {}

    def locate(pkg: Package) -> gobuild.Module | None:
        if pkg.kind != "dir" or settings.prebuilt:
            return None
        return gobuild.find_module(pkg.path, build_env(settings, pkg.arch), store)

    for pkg, module in zip(packages, parallel.map(locate, packages, jobs=settings.parallel)):
        out[pkg.path] = module
    return out


def resolve(packages: Sequence[Package], where: Mapping[Path, gobuild.Module | None], settings: Settings,
            store: Store) -> dict[Path, PackageSources]:
    """Each source package's main packages and keys, one module at a time (in parallel)."""
    source_pkgs = [p for p in packages if where.get(p.path) is not None]
    by_code_uri = {p.code_uri: p for p in source_pkgs}
    groups = gobuild.group([(request(p, settings), where[p.path]) for p in source_pkgs])  # type: ignore[misc]
    config_file = str(settings.config_file or settings.config_name)

    def one(g: gobuild.sources.ModuleRequest) -> list[PackageSources]:
        arch = by_code_uri[g.requests[0].code_uri].arch
        return gobuild.sources(g.module, g.requests, build_env(settings, arch), store, config_file=config_file)

    out: dict[Path, PackageSources] = {}
    for found in parallel.map(one, groups, jobs=settings.parallel):
        for ps in found:
            out[by_code_uri[ps.code_uri].path] = ps
            for w in ps.warnings:
                log.warning("%s", w)
    return out


def compile_missing(packages: Sequence[Package], found: Mapping[Path, PackageSources], settings: Settings,
                    store: Store, on_compile=None) -> dict[Path, Binaries]:
    """Binaries for every source package: cached ones verified, the rest compiled, one go build per module."""
    by_module: dict[Path, list[Package]] = {}
    for pkg in packages:
        if pkg.path in found:
            by_module.setdefault(found[pkg.path].module.root, []).append(pkg)

    def one(pkgs: list[Package]) -> dict[Path, Binaries]:
        arch = pkgs[0].arch
        cached: dict[str, Path] = {}
        todo = {}
        for pkg in pkgs:
            ps = found[pkg.path]
            for r in ps.handlers:
                key = ps.keys[r.handler]
                if key in cached or key in todo:
                    continue
                hit = store.binary(arch, key)
                if hit:
                    cached[key] = hit
                else:
                    todo[key] = r
        if todo:
            module = found[pkgs[0].path].module
            if on_compile:
                for pkg in pkgs:
                    on_compile(pkg, sum(1 for r in found[pkg.path].handlers if found[pkg.path].keys[r.handler] in todo))
            log.debug("%s: go build %d main package(s) for linux/%s", module.root, len(todo), arch)
            functions = {r.handler: fns for pkg in pkgs for r_h, fns in handlers_of(pkg)
                         for r in found[pkg.path].handlers if r.handler == r_h}
            with store.scratch("go") as scratch:
                built = gobuild.compile_mains(module.root, list(todo.values()), scratch, build_env(settings, arch),
                                              functions=functions)
                by_import = {}
                for key, r in todo.items():
                    if r.import_path not in by_import:
                        by_import[r.import_path] = store.put_binary(arch, key, built[r.import_path])
                    cached[key] = by_import[r.import_path]
        result = {}
        for pkg in pkgs:
            ps = found[pkg.path]
            compiled = sum(1 for r in ps.handlers if ps.keys[r.handler] in todo)
            result[pkg.path] = Binaries(
                files={r.handler: cached[ps.keys[r.handler]] for r in ps.handlers}, source="go build",
                compiled=compiled, reused=len(ps.handlers) - compiled, sources=ps,
            )
        return result

    out: dict[Path, Binaries] = {}
    for part in parallel.map(one, list(by_module.values()), jobs=settings.parallel):
        out.update(part)
    return out


def limits(settings: Settings) -> prebuilt.DataLimits:
    return prebuilt.DataLimits(max_file=settings.max_binary_size * 1024 * 1024)


def take_prebuilt(pkg: Package, settings: Settings, scratch: Path) -> Binaries:
    """The binaries a zip or folder holds, everything it carries beside them, and the library each links."""
    taken = prebuilt.take(pkg, handlers_of(pkg), scratch, allow_dynamic=settings.allow_dynamic,
                          max_bytes=settings.max_binary_size * 1024 * 1024, prebuilt_flag=settings.prebuilt)
    data = prebuilt.take_data(pkg, taken.files, scratch, limits(settings))
    return Binaries(files=taken.files, source="prebuilt", digests=taken.digests,
                    data=tuple((rel, d.path, d.digest, d.executable) for rel, d in sorted(data.items())),
                    libraries={h: lambdalib.from_binary(p) for h, p in taken.files.items()})


def source_data(pkg: Package, settings: Settings) -> tuple[tuple[str, Path, str, bool], ...]:
    """What a source package's ``include`` names, with each file's digest."""
    from shimimg.fsutil import sha256_file

    found = datafiles.included(pkg.code_uri, pkg.path, settings.package_include(pkg.code_uri), limits(settings),
                               config_file=str(settings.config_file or settings.config_name))
    return tuple((f.rel, f.path, sha256_file(f.path), f.executable) for f in found)


def refuse_prebuilt_include(packages: Sequence[Package], settings: Settings) -> None:
    """``include`` is for packages built from source; a zip or folder goes in whole already."""
    named = [p.code_uri for p in packages if settings.package_include(p.code_uri)]
    if named:
        raise ShimimgError(f"include is set for {len(named)} package(s) whose binaries are taken prebuilt: "
                           f"{', '.join(named)}",
                           hint="a zip or folder package goes into the image whole, at the paths it has; remove "
                           f"include for it from {settings.config_file or settings.config_name}")


def refuse_from_source(packages: Sequence[Package], where: Mapping[Path, gobuild.Module | None],
                       settings: Settings) -> None:
    """``--from-source`` given, but a package has no source shimimg can build: say so, don't take binaries."""
    if settings.prebuilt or "prebuilt" not in settings.sources:
        return
    problems = []
    for pkg in packages:
        if where.get(pkg.path) is not None:
            continue
        why = "is a zip" if pkg.kind == "zip" else ("does not exist" if not pkg.path.exists() else
                                                     "is in no Go module (go env GOMOD is empty there)")
        problems.append(f"{pkg.code_uri} {why}")
    if problems:
        origin = settings.sources.get("prebuilt", "command line")
        given = {"command line": "--from-source", "environment": "SHIMIMG_PREBUILT=false"}.get(
            origin, f"prebuilt = false in {origin}")
        missing = any(not p.path.exists() for p in packages if where.get(p.path) is None)
        hint = (f"drop {given} to take the binaries the packages hold" +
                (" (build them first: your old build chain, e.g. make)" if missing else "") +
                ", or point CodeUri at the folder of the Go module")
        raise ShimimgError(f"{given} asks to build from source, which cannot apply to {len(problems)} package(s)",
                           problems=problems, hint=hint)


def _shell_cd(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = str(path)
    return "" if rel == "." else f"cd {shlex.quote(rel)} && "


def check_libraries(packages: Sequence[Package], found: Mapping[Path, PackageSources],
                    prebuilt_libraries: Mapping[Path, Mapping[str, Library]]) -> None:
    """Refuse handlers that link aws-lambda-go older than v1.18.0: on an image every invoke would
    hang until the timeout (see lambdalib). Every such handler is listed, with the fix per package.
    ``prebuilt_libraries``: package path → handler → Library, for packages taken prebuilt."""
    problems: list[str] = []
    fixes: list[str] = []
    rebuild: list[str] = []
    upgrade = f"go get {lambdalib.MODULE}@latest && go mod tidy"
    for pkg in packages:
        source = found.get(pkg.path)
        libs = source.libraries if source is not None else prebuilt_libraries.get(pkg.path, {})
        users = dict(handlers_of(pkg))
        old = [(h, lib) for h, lib in libs.items() if lib.status == "old"]
        for h, lib in old:
            problems.append(f"{pkg.code_uri}: {h} ({users.get(h, '?')}): {lib.describe()} [{lib.detail}]")
        if not old:
            continue
        if source is not None:
            fixes.append(f"{_shell_cd(source.module.root)}{upgrade}")
        else:
            rebuild.append(pkg.code_uri)
    if rebuild:
        fixes.append(f"rebuild {', '.join(rebuild)} with {lambdalib.MODULE} {lambdalib.FLOOR} or later: in the Go "
                     f"module the binaries come from, `{upgrade}`, then your build (e.g. make)")
    if problems:
        raise ShimimgError(
            f"{len(problems)} handler(s) link {lambdalib.MODULE} older than {lambdalib.FLOOR}, which speaks only the "
            "go1.x RPC protocol: on an image every invoke would hang until the timeout",
            problems=problems, hint="upgrade the library, then run shimimg again:\n  " + "\n  ".join(
                dict.fromkeys(fixes)))
