"""Each package's handler binaries: compiled from source, or taken prebuilt.

From source when the package sits in a Go module (go says so): the packages of one module are
resolved together and compiled by one ``go build`` for every handler whose key has no cached
binary; modules run in parallel. Prebuilt when the package is a .zip, sits in no Go module (a
GOPATH-era tree), or ``--prebuilt`` is given (see ``prebuilt``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shimimg import gobuild, parallel
from shimimg.cache import Store
from shimimg.config import Settings
from shimimg.gobuild import BuildEnv, PackageSources, Request
from shimimg.plan import Package

log = logging.getLogger("shimimg.binaries")


@dataclass(frozen=True)
class Binaries:
    files: Mapping[str, Path]  # "bin/x" → the file to put at /var/task/bin/x
    source: str  # "go build" or "prebuilt"
    compiled: int = 0  # handlers go build compiled this time
    reused: int = 0  # handlers whose cached binary still matched their inputs
    digests: Mapping[str, str] = field(default_factory=dict)  # known sha256 per handler
    sources: PackageSources | None = None  # where each handler's main package is, and why


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
        package_table=settings.package_table(pkg.code_uri), template_table=settings.handler_table(),
        config_name=settings.config_name,
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
