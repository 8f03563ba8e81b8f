"""Local packages: a directory or .zip holding a function's binaries, and the image it becomes.

Image names: ``shimimg/<slug>``, the slug being the package path relative to the template (the
template directory's own name for ``./``, a zip's stem), lowercased and reduced to what Docker
accepts in a repository name. ``shimimg build`` tags ``shimimg/<slug>:<content hash>`` and writes
that into the template; ``migrate`` alone (no build behind it) writes ``:latest`` as a placeholder.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Local:
    """A code location that is a package on this machine."""

    code_uri: str
    path: Path
    kind: Literal["dir", "zip"]


class Probe:
    """Looks at packages on disk once per discovery: one lookup per code location, one listing per zip."""

    def __init__(self) -> None:
        self._zips: dict[Path, frozenset[str]] = {}
        self._located: dict[tuple[Path, str], Local | str] = {}

    def locate(self, directory: Path, code_uri: str) -> Local | str:
        """The package ``code_uri`` names, relative to ``directory``; or what is wrong with it."""
        key = (directory, code_uri)
        if key not in self._located:
            self._located[key] = _locate(directory, code_uri)
        return self._located[key]

    def holds(self, local: Local, handler: str) -> bool:
        binary = strip_dot_slash(handler)
        if local.kind == "dir":
            try:
                return (local.path / binary).is_file() or (local.path / "go.mod").is_file()
            except (OSError, ValueError):
                return False
        if local.path not in self._zips:
            try:
                with zipfile.ZipFile(local.path) as z:
                    # As the build reads members (prebuilt._entries): "./bin/x" is bin/x.
                    self._zips[local.path] = frozenset(strip_dot_slash(n) for n in z.namelist())
            except (OSError, ValueError, zipfile.BadZipFile):
                self._zips[local.path] = frozenset()
        return binary in self._zips[local.path]


def _locate(directory: Path, code_uri: str) -> Local | str:
    try:
        path = Path(os.path.normpath(directory / code_uri)).resolve()
        is_dir, exists = path.is_dir(), path.exists()
    except (OSError, ValueError) as e:  # a NUL byte, a name too long for the filesystem, ...
        return f"{code_uri!r} is not a usable path ({e})"
    if is_dir:
        return Local(code_uri, path, "dir")
    if path.suffix.lower() == ".zip":
        # A zip that is not built yet (make, CI) is still the package `shimimg build` will read.
        return Local(code_uri, path, "zip")
    if exists:
        return f"{code_uri} is a file but not a .zip"
    # Not there yet (built later, or a typo `shimimg build` will report): a directory to be.
    return Local(code_uri, path, "dir")


def strip_dot_slash(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path


_NOT_NAME = re.compile(r"[^a-z0-9._-]+")
_SEPARATORS = re.compile(r"[._-]{2,}")


def slug(text: str) -> str:
    """A Docker repository path component: lowercase, [a-z0-9] joined by '.', '_', '__' or dashes."""
    s = _NOT_NAME.sub("-", text.lower())
    # Docker allows '.', '_', '__' and runs of '-' between alphanumerics; any other mix becomes '-'.
    s = _SEPARATORS.sub(lambda m: m.group() if m.group() == "__" or set(m.group()) == {"-"} else "-", s)
    return s.strip("._-")[:128].strip("._-")


def image_name(local: Local, template_dir: Path) -> str:
    """``shimimg/<slug>:latest``: the package path relative to the template, or a zip's stem."""
    if local.kind == "zip":
        name = local.path.stem
    else:
        rel = os.path.relpath(local.path, template_dir.resolve())
        name = template_dir.resolve().name if rel == "." else rel.replace(os.sep, "/")
    return f"shimimg/{slug(name) or 'package'}:latest"


# The ImageUri ``migrate`` writes when no image exists yet (issue 20). ``.invalid`` never resolves
# (RFC 2606), so `sam local invoke` on it fails at once with this name in its message ("failed to
# resolve reference shimimg.invalid/run-shimimg-build-first/...") instead of pulling a stranger's
# image from Docker Hub; `shimimg build` writes the real local tag.
PLACEHOLDER_PREFIX = "shimimg.invalid/run-shimimg-build-first/"


def placeholder_uri(image: str) -> str:
    """``shimimg/orders:latest`` → ``shimimg.invalid/run-shimimg-build-first/orders:not-built``."""
    repo = image.rsplit(":", 1)[0].removeprefix("shimimg/")
    return f"{PLACEHOLDER_PREFIX}{repo}:not-built"


def unique_image(image: str, path: Path, taken: dict[str, Path]) -> str:
    # Two packages must never share a tag: the second build would replace the first's image.
    candidate, n = image, 1
    while candidate in taken and taken[candidate] != path:
        n += 1
        repo, _, tag = image.rpartition(":")
        candidate = f"{repo}-{n}:{tag}"
    taken[candidate] = path
    return candidate
