"""Build constraints, for hints only: which tags a package's ``//go:build`` lines mention, so the
message for a tag-excluded main can name them. Go itself decides what is built."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from shimimg.readfile import head

_BUILD_LINE = re.compile(r"^//go:build\s+(.+)$")
_IDENT = re.compile(r"[A-Za-z0-9_.]+")
# Not tags a user passes: operating systems and architectures go sets itself.
_IMPLIED = {"linux", "amd64", "arm64", "unix", "darwin", "windows", "gc", "gccgo", "cgo", "ignore"}
_HEADER_MAX = 64 * 1024  # build constraints sit before the package clause, at the top
EXCLUDED_MESSAGES = ("build constraints exclude all Go files", "function main is undeclared")


def constraint_tags(files: Iterable[Path]) -> list[str]:
    """Tags named in the ``//go:build`` lines of ``files`` (before their package clause)."""
    found: dict[str, None] = {}
    for path in files:
        # The header only, of regular files only: a .go name linked to /dev/zero is one endless
        # line, a FIFO a read that never returns (issue 19).
        data = head(path, _HEADER_MAX)
        if data is None:
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            s = line.strip()
            if s.startswith("package "):
                break
            m = _BUILD_LINE.match(s)
            if m:
                for ident in _IDENT.findall(m.group(1)):
                    if ident not in _IMPLIED and not ident.startswith("go1."):
                        found[ident] = None
    return list(found)


def folder_tags(folder: Path) -> list[str]:
    return constraint_tags(sorted(p for p in folder.glob("*.go") if not p.name.endswith("_test.go")))


def hint(folders: Iterable[Path], given: Iterable[str]) -> str:
    tags = [t for t in dict.fromkeys(t for f in folders for t in folder_tags(f)) if t not in set(given)]
    if tags:
        flags = " ".join(f"--go-tag {t}" for t in tags)
        return (f"the package's //go:build lines use {', '.join(tags)}: pass {flags} (or go_tags = {tags!r} in the "
                "config file); build, push and invoke all take them")
    return "pass the build tags the main package needs with --go-tag TAG (or go_tags in the config file)"


def is_excluded_failure(output: str) -> bool:
    return any(m in output for m in EXCLUDED_MESSAGES)
