"""Compile the main packages of one module that need it: one ``go build -o DIR/ ./a ./b ...`` so
common packages compile once, split only where go would give two outputs one name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.fsutil import ensure_dir, remove_tree
from shimimg.gobuild import tags
from shimimg.gobuild.gocmd import BuildEnv, go_build
from shimimg.gobuild.resolve import Resolved

_MAJOR = re.compile(r"v[2-9]\d*|v1\d+")


def out_name(import_path: str) -> str:
    """The file ``go build -o DIR/`` writes for a main package: the import path's last element,
    skipping a major-version suffix (example.com/tool/v2 → tool)."""
    parts = [p for p in import_path.split("/") if p]
    if len(parts) > 1 and _MAJOR.fullmatch(parts[-1]):
        parts.pop()
    return parts[-1]


def _batches(mains: Sequence[Resolved]) -> list[list[Resolved]]:
    batches: list[list[Resolved]] = []
    for r in mains:
        for b in batches:
            if all(out_name(o.import_path) != out_name(r.import_path) for o in b):
                b.append(r)
                break
        else:
            batches.append([r])
    return batches


def _blame(output: str, module_root: Path, batch: Sequence[Resolved], functions: Mapping[str, str]) -> list[str]:
    named = []
    for r in batch:
        rel = os.path.relpath(r.main_dir, module_root)
        pattern = rf"(^# {re.escape(r.import_path)}$|^(\./)?{re.escape(rel)}/[^/\s]+\.go:|{re.escape(str(r.main_dir))})"
        if re.search(pattern,
                     output, re.M):
            named.append(f"{r.handler} ({functions.get(r.handler, '')})".replace(" ()", ""))
    return named


def compile_mains(module_root: Path, mains: Sequence[Resolved], scratch: Path, build: BuildEnv, *,
                  functions: Mapping[str, str]) -> dict[str, Path]:
    """Build each distinct main package once; returns import path → binary (in ``scratch``)."""
    distinct = list({r.import_path: r for r in mains}.values())
    result: dict[str, Path] = {}
    for i, batch in enumerate(_batches(distinct)):
        out = ensure_dir(scratch, f"go-{i}", what="build output")
        patterns = ["./" + os.path.relpath(r.main_dir, module_root).replace(os.sep, "/") for r in batch]
        patterns = ["." if p == "./." else p for p in patterns]
        # go's own work folders go under the scratch folder shimimg removes, even when go is
        # killed (an interrupt): never go-build* folders left in TMPDIR (issue 19).
        gotmp = ensure_dir(scratch, "gotmp", what="build output")
        r = go_build(module_root, patterns, out, build, tmpdir=gotmp)
        if r.rc != 0:
            output = (r.err or r.out).strip()
            if "no space left on device" in output or "disk quota exceeded" in output:
                raise ShimimgError(f"go build ran out of disk space building in {module_root}:\n{output}",
                                   hint=f"free space on the disk holding {scratch} (shimimg's cache) and go's "
                                        "build cache (go env GOCACHE), then run again; the code is not at fault")
            who = _blame(output, module_root, batch, functions)
            hint = "fix the compile error above and run again"
            if tags.is_excluded_failure(output):
                hint = tags.hint([m.main_dir for m in batch], build.tags)
            raise ShimimgError(
                f"go build failed for handler {', '.join(who)}:\n{output}" if who
                else f"go build failed in {module_root}:\n{output}",
                hint=hint,
            )
        for m in batch:
            result[m.import_path] = out / out_name(m.import_path)
    return result


def cleanup(scratch: Path) -> None:
    remove_tree(scratch, "build output")
