"""Files a package built from source carries beside its binaries: its ``include`` globs.

A go1.x zip made by a Makefile often held more than binaries (config, templates, certificates,
migrations), and handlers read them from ``$LAMBDA_TASK_ROOT`` at start-up. Built from source,
shimimg cannot know which files the old zip held, so a package names them in its config::

    [packages."./"]   # the CodeUri, as the template writes it
    include = ["config/*.json", "templates/**"]

Patterns are relative to the CodeUri folder and never leave it: ``*`` and ``?`` match within a
path component, ``**`` any number of them, a folder means everything below it. Each file goes to
``/var/task/<its path in the CodeUri>``, as Lambda unpacked the zip. Links are not followed out
of the folder. ``uncovered`` lists the files no pattern covers that a handler may read (not Go
sources or the repository's own tooling), for ``plan`` to show with the line to add.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shimimg.binaries.prebuilt import SKIPPED_DIRS, DataLimits, regular_file
from shimimg.errors import ShimimgError
from shimimg.readfile import MIB

# Folders whose files never go into a Lambda package.
_NOT_DATA_DIRS = SKIPPED_DIRS | {"vendor", "node_modules", "testdata", ".github", ".gitlab", ".vscode", ".idea",
                                 ".circleci", "bin", "dist", "build", "events"}
# Files that are the repository's tooling, not something a handler reads.
_NOT_DATA_FILES = re.compile(
    r"(?i)(.*\.go|go\.(mod|sum|work|work\.sum)|makefile|.*\.mk|dockerfile|readme(\..*)?|license(\..*)?|"
    r"changelog(\..*)?|contributing(\..*)?|.*\.md|\..*|samconfig\.(toml|yaml|yml)|template\.(yaml|yml|json)|"
    r"shimimg\.toml|pyproject\.toml|.*\.zip|.*\.sh|taskfile\.ya?ml|buildspec\.ya?ml|"
    # SAM's file of local environment overrides (sam local invoke --env-vars env.json)
    r"env\.json)")
_SCAN_LIMIT = 5000


@dataclass(frozen=True)
class Included:
    rel: str  # path in the CodeUri folder, "/"-separated
    path: Path
    size: int
    executable: bool


def check_pattern(pattern: str) -> str | None:
    """Why an ``include`` pattern is refused, or None."""
    if not pattern:
        return "it is empty"
    if pattern.startswith("-"):
        return "it starts with '-'"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in pattern) or "\\" in pattern:
        return "it holds control characters or backslashes"
    if pattern.startswith("/"):
        return "it is absolute; patterns are relative to the CodeUri folder"
    if ".." in pattern.split("/"):
        return "it leads outside the CodeUri folder ('..')"
    return None


def _regex(pattern: str) -> re.Pattern[str]:
    p = pattern.strip("/")
    while p.startswith("./"):
        p = p[2:]
    out, i = [], 0
    while i < len(p):
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif p.startswith("**", i):
            out.append(".*")
            i += 2
        elif p[i] == "*":
            out.append("[^/]*")
            i += 1
        elif p[i] == "?":
            out.append("[^/]")
            i += 1
        elif p[i] == "[":
            j = p.find("]", i + 1)
            if j < 0:
                out.append(re.escape(p[i]))
                i += 1
            else:
                body = p[i + 1:j]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(p[i]))
            i += 1
    # A pattern that names a folder takes everything below it.
    return re.compile("".join(out) + "(?:/.*)?")


def _walk(root: Path, skip_dirs: frozenset[str], limit: int,
          skip_paths: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(path in root, full path) of the files below ``root``, links not followed, at most ``limit``;
    ``skip_paths``: full paths of folders and files to pass over."""
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in skip_dirs and os.path.join(dirpath, d) not in skip_paths)
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if full in skip_paths:
                continue
            out.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
            if len(out) >= limit:
                return out
    return out


def included(code_uri: str, root: Path, patterns: Sequence[str], limits: DataLimits, *,
             config_file: str) -> list[Included]:
    """The files ``patterns`` name below ``root`` (the CodeUri folder); every problem at once."""
    problems = [f"include {p!r} in {config_file} is refused: {why}" for p in patterns if (why := check_pattern(p))]
    if problems or not patterns:
        if problems:
            raise ShimimgError(f"{code_uri}: {len(problems)} include pattern(s) refused", problems=problems,
                               hint="write patterns relative to the CodeUri folder, e.g. include = [\"config/**\"]")
        return []
    regexes = [(p, _regex(p)) for p in patterns]
    matched: dict[str, Included] = {}
    used = {p: 0 for p in patterns}
    real_root = os.path.realpath(root)
    total = 0
    for rel, full in _walk(root, SKIPPED_DIRS, limits.max_entries * 10):
        hits = [p for p, rx in regexes if rx.fullmatch(rel)]
        if not hits:
            continue
        for p in hits:
            used[p] += 1
        found = regular_file(full, real_root, rel, code_uri)
        if isinstance(found, str):
            problems.append(found)
            continue
        full, st = found
        if st.st_size > limits.max_file:
            problems.append(f"{rel}: {st.st_size} bytes, over the {limits.max_file // MIB} MiB per file")
            continue
        total += st.st_size
        matched[rel] = Included(rel, Path(full), st.st_size, bool(st.st_mode & 0o111))
    if len(matched) > limits.max_entries or total > limits.max_total:
        problems.append(f"the patterns take {len(matched)} files, {total // MIB} MiB; at most {limits.max_entries} "
                        f"files and {limits.max_total // MIB} MiB go beside the binaries")
    problems += [f"include {p!r} in {config_file} matches no file in {code_uri}" for p, n in used.items() if not n]
    if problems:
        raise ShimimgError(f"{code_uri}: cannot take what include names into the image", problems=problems,
                           hint=f"fix the include list of {code_uri} in {config_file}, or the files")
    return [matched[k] for k in sorted(matched)]


def uncovered(root: Path, patterns: Sequence[str], *, binaries: Sequence[str] = (),
              elsewhere: Sequence[Path] = ()) -> list[tuple[str, int]]:
    """Files below ``root`` that a handler may read and no pattern covers, grouped by their first
    folder: [("config/**", 3), ("ca.pem", 1)]; suggestions for ``include``. ``elsewhere``: paths
    the template uses for something else (another function's CodeUri, an API definition)."""
    if not root.is_dir():
        return []
    regexes = [_regex(p) for p in patterns if check_pattern(p) is None]
    skip = {b.lstrip("./") for b in binaries}
    others = frozenset(os.path.normpath(p) for p in elsewhere if os.path.normpath(p) != os.path.normpath(root))
    groups: dict[str, int] = {}
    for rel, _ in _walk(root, _NOT_DATA_DIRS, _SCAN_LIMIT, others):
        name = rel.rsplit("/", 1)[-1]
        if rel in skip or _NOT_DATA_FILES.fullmatch(name) or any(rx.fullmatch(rel) for rx in regexes):
            continue
        if any(part.startswith(".") for part in rel.split("/")[:-1]):
            continue
        top = rel.split("/", 1)[0]
        key = f"{top}/**" if "/" in rel else rel
        groups[key] = groups.get(key, 0) + 1
    return sorted(groups.items())
