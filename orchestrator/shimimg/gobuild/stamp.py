"""A cheap "may anything have changed?" check, so a rebuild with nothing changed runs no ``go``.

A stamp is the ``lstat`` of every file and folder whose change could change what ``go env`` or
``go list`` answer: the module trees (every folder and file, as go would walk them for ``./...``),
each file in a build closure outside them (workspace modules, local replacements), the go.mod /
go.work files from each CodeUri folder up to the root, the go binary, go's env file and the GO*
environment. A folder's own times change when a file is added, removed or renamed in it, which
covers new files. Any difference means "ask go again"; the answer's content hashes then decide
what really changed. ctime is part of every entry: writing a file always moves it, even when its
size and mtime are put back.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

Stamp = dict  # path → [ino, size, mtime_ns, ctime_ns] or None (absent)

# Folders go never builds from (cmd/go: names beginning with . or _, and testdata).
_GO_IGNORED = ("testdata",)


def _entry(path: str) -> list[int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
    return [st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns]


def tree(root: Path) -> Stamp:
    """Every folder and file go could read under a module root; nested modules count by their
    folder and go.mod only (go does not build them as part of this module)."""
    out: Stamp = {}
    root_s = str(root)
    for dirpath, dirnames, filenames in os.walk(root_s):
        out[dirpath] = _entry(dirpath)
        if dirpath != root_s and "go.mod" in filenames:
            out[os.path.join(dirpath, "go.mod")] = _entry(os.path.join(dirpath, "go.mod"))
            dirnames[:] = []
            continue
        keep = []
        for d in dirnames:
            if d.startswith((".", "_")) or d in _GO_IGNORED:
                out[os.path.join(dirpath, d)] = _entry(os.path.join(dirpath, d))
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[p] = _entry(p)
    return out


def paths(items: Iterable[str | Path]) -> Stamp:
    return {str(p): _entry(str(p)) for p in items}


def ancestors(directory: Path) -> list[Path]:
    """The go.mod and go.work files go may read for ``directory``: in it and every folder above."""
    out = []
    for d in (directory, *directory.parents):
        out += [d / "go.mod", d / "go.work"]
    return out


def _goenv_file(environ: Mapping[str, str]) -> str:
    if environ.get("GOENV"):
        return environ["GOENV"]
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME", "/"), ".config")
    return os.path.join(config, "go", "env")


def environment(environ: Mapping[str, str]) -> dict[str, object]:
    """What decides ``go env`` besides the files: the go binary, its env file, GO* variables."""
    go = shutil.which("go", path=environ.get("PATH"))
    real = os.path.realpath(go) if go else ""
    return {
        "go": real,
        "go_stat": _entry(real) if real else None,
        "goenv": _entry(_goenv_file(environ)),
        "vars": sorted((k, v) for k, v in environ.items() if k.startswith(("GO", "CGO_")) or k in ("HOME",)),
    }


def unchanged(recorded: Stamp) -> bool:
    return all(_entry(p) == v for p, v in recorded.items())
