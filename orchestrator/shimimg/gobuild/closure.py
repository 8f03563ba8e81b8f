"""A key per handler over exactly what its binary is built from, as ``go list -deps`` reports it.

Per main package: every non-standard package in its import closure contributes the files go
compiles (Go, assembly, cgo, .syso, embedded files — go list's file fields) by content hash,
named by module path and path inside the module (so two checkouts of one commit share keys); a
package from the read-only module cache contributes its module's path@version instead. The
go.mod and go.sum of every module in the closure, the go.work and go.work.sum in use, the
toolchain, the environment go reads and the build settings complete the key. A file outside
every closure is in no key, so editing it rebuilds nothing; a shared package imported by 3 of 50
handlers changes those 3 keys.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shimimg.fsutil import sha256_file
from shimimg.gobuild.gocmd import FILE_FIELDS


class Hasher:
    """Content hashes of files, reusing a previous run's hash when the file's stat is unchanged."""

    def __init__(self, previous: Mapping[str, Sequence[Any]] | None = None) -> None:
        self.previous = dict(previous or {})
        self.now: dict[str, list[Any]] = {}

    def __call__(self, path: str) -> str:
        if path in self.now:
            return self.now[path][1]
        try:
            st = os.lstat(path)
            sig = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        except OSError:
            self.now[path] = [None, "missing"]
            return "missing"
        old = self.previous.get(path)
        digest = old[1] if old and old[0] == sig else sha256_file(Path(path))
        self.now[path] = [sig, digest]
        return digest


def _in_modcache(entry: Mapping[str, Any], modcache: str) -> bool:
    module = entry.get("Module") or {}
    d = module.get("Dir") or entry.get("Dir") or ""
    return bool(modcache) and bool(module.get("Version")) and (d == modcache or d.startswith(modcache + os.sep))


def _module_files(module: Mapping[str, Any]) -> list[str]:
    gomod = module.get("GoMod") or ""
    return [gomod, os.path.join(os.path.dirname(gomod), "go.sum")] if gomod else []


def keys(
    entries: Sequence[Mapping[str, Any]],
    mains: Mapping[str, str],
    *,
    fingerprint: str,
    modcache: str,
    workspace_files: Sequence[str],
    hasher: Hasher,
) -> tuple[dict[str, str], set[str]]:
    """handler → key for ``mains`` (handler → import path); and every file the keys read."""
    by_path = {e["ImportPath"]: e for e in entries if e.get("ImportPath")}
    read: set[str] = set()
    pkg_parts: dict[str, list[str]] = {}

    def parts_of(import_path: str) -> list[str]:
        if import_path in pkg_parts:
            return pkg_parts[import_path]
        e = by_path.get(import_path) or {}
        module = e.get("Module") or {}
        if e.get("Standard"):
            parts: list[str] = []
        elif _in_modcache(e, modcache):
            parts = [f"mod {module.get('Path')}@{module.get('Version')}"]
        else:
            parts = []
            base = module.get("Dir") or e.get("Dir") or ""
            mod_path = module.get("Path", "")
            for fieldname in FILE_FIELDS:
                for name in e.get(fieldname) or ():
                    full = os.path.join(e["Dir"], name)
                    read.add(full)
                    parts.append(f"{fieldname} {mod_path}/{os.path.relpath(full, base)} {hasher(full)}")
            for f in _module_files(module):
                read.add(f)
                parts.append(f"mod-file {mod_path}/{os.path.basename(f)} {hasher(f)}")
            if e.get("Error") or e.get("DepsErrors"):
                # go build will fail and say why; the key must not match a later good state.
                parts.append(f"error {e.get('Error')} {e.get('DepsErrors')}")
        pkg_parts[import_path] = parts
        return parts

    shared = hashlib.sha256(fingerprint.encode())
    for f in workspace_files:
        read.add(f)
        shared.update(f"work {os.path.basename(f)} {hasher(f)}\0".encode())
    shared_hex = shared.hexdigest()
    out: dict[str, str] = {}
    for handler, import_path in mains.items():
        main = by_path.get(import_path) or {}
        h = hashlib.sha256(f"{shared_hex}\0main {import_path}\0".encode())
        for dep in sorted({import_path, *(main.get("Deps") or ())}):
            for part in sorted(set(parts_of(dep))):
                h.update(part.encode() + b"\0")
        out[handler] = h.hexdigest()
    return out, read
