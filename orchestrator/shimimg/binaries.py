"""A package's handler binaries: compiled from source, or taken prebuilt from its folder or zip.

From source when the package sits in a Go module (one ``go build`` for the handlers whose
inputs changed); prebuilt when the package is a .zip, holds no Go module, or ``--prebuilt``
is given. Prebuilt binaries are checked (ELF, arch, executable, static) before use.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shimimg import elf, gobuild
from shimimg.cache import Store
from shimimg.errors import ShimimgError
from shimimg.plan import Package

log = logging.getLogger("shimimg.binaries")


@dataclass(frozen=True)
class Binaries:
    files: Mapping[str, Path]  # "bin/x" → the file to put at /var/task/bin/x
    source: str  # "go build" or "prebuilt"
    compiled: int = 0  # handlers go build compiled this time
    reused: int = 0  # handlers whose cached binary still matched their inputs


def _handlers(pkg: Package) -> list[tuple[str, str]]:
    """Unique handlers with the functions that use each, in template order."""
    by: dict[str, list[str]] = {}
    for fn in pkg.functions:
        by.setdefault(fn.binary, []).append(fn.logical_id)
    return [(h, ", ".join(ids)) for h, ids in by.items()]


def collect(
    pkg: Package,
    *,
    store: Store,
    prebuilt: bool,
    allow_dynamic: bool,
    go_tags: tuple[str, ...],
    mapping: Mapping[str, str],
) -> Binaries:
    module = gobuild.find_module(pkg.path.resolve()) if pkg.kind == "dir" else None
    if prebuilt or module is None:
        return _prebuilt(pkg, store=store, allow_dynamic=allow_dynamic)
    return _compile(pkg, module, store=store, go_tags=go_tags, mapping=mapping)


def _compile(pkg: Package, module: gobuild.Module, *, store: Store, go_tags, mapping) -> Binaries:
    handlers = _handlers(pkg)
    try:
        sources = gobuild.resolve_mains(module, handlers, mapping)
    except ShimimgError as e:
        e.hint = "or pass --prebuilt to take the binaries the package already holds"
        raise
    keys = gobuild.handler_keys(module, sources, gobuild.fingerprint(pkg.arch, go_tags))
    files: dict[str, Path] = {}
    todo = []
    for s in sources:
        hit = store.binary(pkg.arch, keys[s.handler], s.name)
        if hit:
            files[s.handler] = hit
        else:
            todo.append(s)
    if todo:
        log.info("%s: go build %d of %d handler(s) for linux/%s", pkg.code_uri, len(todo), len(sources), pkg.arch)
        out = store.scratch(f"go-{hashlib.sha256(str(pkg.path).encode()).hexdigest()[:12]}")
        functions = dict(handlers)
        built = gobuild.build(module, todo, out, arch=pkg.arch, tags=go_tags, functions=functions)
        for s in todo:
            files[s.handler] = store.put_binary(pkg.arch, keys[s.handler], s.name, built[s.handler])
    return Binaries(files=files, source="go build", compiled=len(todo), reused=len(sources) - len(todo))


def _prebuilt(pkg: Package, *, store: Store, allow_dynamic: bool) -> Binaries:
    files: dict[str, Path] = {}
    handlers = _handlers(pkg)
    if pkg.kind == "zip":
        try:
            zf = zipfile.ZipFile(pkg.path)
        except (OSError, zipfile.BadZipFile) as e:
            raise ShimimgError(f"{pkg.path}: cannot read the zip ({e})", hint="rebuild the package zip") from None
        with zf:
            names = {n.lstrip("./"): n for n in zf.namelist()}
            out = store.scratch(f"zip-{hashlib.sha256(str(pkg.path).encode()).hexdigest()[:12]}")
            for handler, functions in handlers:
                entry = names.get(handler)
                if entry is None:
                    raise ShimimgError(
                        f"{pkg.path} has no {handler} (used by {functions})",
                        hint="rebuild the zip with that binary, or fix the function's Handler",
                    )
                info = zf.getinfo(entry)
                data = zf.read(entry)
                # Zips made on Unix keep the mode in the upper 16 bits; others carry none.
                mode = info.external_attr >> 16
                executable = bool(mode & 0o111) or info.create_system != 3
                elf.check_handler_binary(
                    data[: elf.HEADER_BYTES],
                    executable=executable,
                    where=f"{handler} in {pkg.path} ({functions})",
                    arch=pkg.arch,
                    allow_dynamic=allow_dynamic,
                )
                dest = out / handler
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                files[handler] = dest
    else:
        for handler, functions in handlers:
            path = pkg.path / handler
            if not path.is_file():
                raise ShimimgError(
                    f"{path} does not exist (Handler {handler} of {functions})",
                    hint="build the binaries first (your old build chain, e.g. `make`), or drop --prebuilt "
                    "so shimimg builds them from source",
                )
            with path.open("rb") as f:
                head = f.read(elf.HEADER_BYTES)
            elf.check_handler_binary(
                head,
                executable=path.stat().st_mode & 0o111 != 0,
                where=f"{path} ({functions})",
                arch=pkg.arch,
                allow_dynamic=allow_dynamic,
            )
            files[handler] = path
    return Binaries(files=files, source="prebuilt")
