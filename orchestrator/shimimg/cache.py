"""Input hashes → "nothing changed": compiled binaries by handler key, and the last image built
for each package. Lives in ``Settings.cache_dir`` (``.shimimg/cache`` beside the template by
default, so a CI cache can keep it); every write is atomic, so an interrupted build leaves
either the old entry or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from shimimg.fsutil import atomic_write_text, sha256_file


@dataclass(frozen=True)
class ImageState:
    key: str  # hash of everything that goes into the image
    tag: str
    image_id: str
    digest: str


# https://bford.info/cachedir/: backup tools skip the folder, and shimimg's own input hashing
# (gobuild) skips it when the cache sits inside a Go module.
CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# shimimg's build cache: safe to delete.\n"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _mark(self) -> None:
        tag = self.root / "CACHEDIR.TAG"
        if not tag.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tag.write_text(CACHEDIR_TAG)

    @contextlib.contextmanager
    def locked(self):
        """One build at a time per cache: two runs sharing it (parallel invokes, CI jobs on one
        runner) would otherwise restage and prune each other's build contexts."""
        self._mark()
        with open(self.root / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # Binaries, by the handler's input key (see gobuild.handler_keys).
    def binary(self, arch: str, key: str, name: str) -> Path | None:
        p = self.root / "bin" / arch / key / name
        return p if p.is_file() else None

    def put_binary(self, arch: str, key: str, name: str, src: Path) -> Path:
        """Move a freshly built binary (in this store's scratch space) into the store."""
        self._mark()
        dest_dir = self.root / "bin" / arch / key
        dest = dest_dir / name
        dest_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(src, 0o755)
        # The content digest, once: entries never change, and re-hashing fifty 4 MB binaries on
        # every build was most of a no-op build's time.
        atomic_write_text(dest.with_name(name + ".sha256"), sha256_file(src) + "\n")
        # A rename, not a copy: fifty 4 MB binaries copied twice cost seconds on a cold build.
        os.replace(src, dest)
        return dest

    def digest(self, path: Path) -> str:
        """sha256 of a file: recorded for binaries in this store, computed for anything else."""
        recorded = path.with_name(path.name + ".sha256")
        if self.root in path.parents and recorded.is_file():
            return recorded.read_text().strip()
        return sha256_file(path)

    # The last image built per package.
    def _state_path(self, package_slug: str) -> Path:
        return self.root / "images" / f"{package_slug}.json"

    def image(self, package_slug: str) -> ImageState | None:
        p = self._state_path(package_slug)
        try:
            return ImageState(**json.loads(p.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def put_image(self, package_slug: str, state: ImageState) -> None:
        self._mark()
        p = self._state_path(package_slug)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps(asdict(state), indent=2) + "\n")

    def context_dir(self, package_slug: str) -> Path:
        self._mark()
        return self.root / "context" / package_slug

    def scratch(self, name: str) -> Path:
        self._mark()
        d = self.root / "tmp" / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d
