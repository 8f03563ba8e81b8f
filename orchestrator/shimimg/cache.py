"""shimimg's cache: compiled binaries by input key, the answers go gave (stamps), the last image
of each package, and build contexts.

It lives outside the work tree (``$XDG_CACHE_HOME/shimimg`` or ``~/.cache/shimimg``,
``--cache-dir`` / ``SHIMIMG_CACHE_DIR`` to move it), as Go's build cache does: a repository
cannot ship a poisoned cache. Binaries are shared by every project (the key is over their
inputs, and ``-trimpath`` makes them independent of the checkout's path); everything else sits
in a folder per project (the template's folder). Binaries are verified before use: an entry whose
file no longer matches the digest recorded when it was made is dropped and rebuilt. Every write
is atomic; nothing here follows a link shimimg did not make (see ``fsutil``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from shimimg.fsutil import atomic_write_text, create_file, ensure_dir, locked, remove_tree, sha256_file
from shimimg.trust import check_cache_dir

log = logging.getLogger("shimimg.cache")

# https://bford.info/cachedir/: backup tools skip the folder.
CACHEDIR_TAG = b"Signature: 8a477f597d28d172789f06886806bc55\n# shimimg's build cache: safe to delete.\n"
TRIM_AFTER_S = 7 * 24 * 3600  # binaries unused this long are removed (checked once a day)
_USED_EVERY_S = 24 * 3600
HISTORY_MAX = 50  # builds remembered per package (shimimg prune keeps the last N of them)


@dataclass(frozen=True)
class ImageState:
    key: str  # hash of everything that goes into the image
    tag: str
    image_id: str
    digest: str
    # The engine holds it unpacked for its platform (``dockercli.unpack``): `sam local` can run it.
    unpacked: bool = False


def _sig(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def project_name(template_dir: Path) -> str:
    real = os.path.realpath(template_dir)
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in os.path.basename(real) or "root")[:40]
    return f"{slug}-{hashlib.sha256(real.encode()).hexdigest()[:16]}"


class Store:
    def __init__(self, root: Path, project: Path, *, allow_in_checkout: bool = False) -> None:
        self.root = root
        self.project_name = project_name(project)
        # A cache inside the checkout (allowed explicitly) may hold whatever the repository
        # committed: binaries and records alike. Nothing read from it is trusted; it is written only.
        self.trusted = not check_cache_dir(root, project, allow_in_checkout=allow_in_checkout)
        if not self.trusted:
            log.warning("cache folder %s is inside the checkout: nothing recorded there is reused", root)

    @property
    def project(self) -> Path:
        return self.root / "projects" / self.project_name

    def _dir(self, *parts: str) -> Path:
        return ensure_dir(self.root, *parts, what="cache")

    @contextlib.contextmanager
    def locked(self) -> Iterator[Store]:
        """One build at a time per project: two runs sharing it (parallel invokes, CI jobs on one
        runner) would otherwise restage and prune each other's build contexts."""
        ensure_dir(self.root, what="cache")
        create_file(self.root / "CACHEDIR.TAG", CACHEDIR_TAG)
        project = self._dir("projects", self.project_name)
        with locked(project / "lock"):
            yield self
        self._trim()

    # Binaries, shared by every project, by the handler's input key (see gobuild.closure).
    def _entry(self, arch: str, key: str) -> Path:
        return self.root / "bin" / arch / key[:2] / key

    def binary(self, arch: str, key: str) -> Path | None:
        """The cached binary for ``key``, verified; None when there is none (or it was bad)."""
        if not self.trusted:
            return None
        entry = self._entry(arch, key)
        path, meta = entry / "binary", entry / "entry.json"
        try:
            st = os.lstat(path)
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode) or stat.S_ISLNK(os.lstat(entry).st_mode) or not isinstance(record, dict):
            return None
        if record.get("key") != key:
            # An entry copied or renamed from another key: its bytes were built from other inputs.
            log.warning("cached binary %s was recorded for another key: dropped, it will be rebuilt", path)
            remove_tree(entry, "cache")
            return None
        if _sig(st) != record.get("stat"):
            if sha256_file(path) != record.get("sha256"):
                log.warning("cached binary %s no longer matches the digest recorded when it was built: "
                            "dropped, it will be rebuilt", path)
                remove_tree(entry, "cache")
                return None
            self.refresh(path)
        if time.time() - meta.stat().st_mtime > _USED_EVERY_S:
            with contextlib.suppress(OSError):
                os.utime(meta, follow_symlinks=False)
        return path

    def refresh(self, path: Path) -> None:
        """Record ``path``'s stat again after shimimg itself touched the inode (a hard link into a
        build context moves its ctime); only for binaries verified in this run."""
        meta = path.parent / "entry.json"
        try:
            record = json.loads(meta.read_text())
            now = _sig(os.lstat(path))
            if record.get("stat") == now:
                return  # the link was there already (a no-op build): no fsynced write per binary
            record["stat"] = now
            atomic_write_text(meta, json.dumps(record) + "\n")
        except (OSError, ValueError):
            pass

    def put_binary(self, arch: str, key: str, src: Path) -> Path:
        """Move a freshly built binary (from this store's scratch space) into the store."""
        entry = self._entry(arch, key)
        parent = self._dir("bin", arch, key[:2])
        tmp = parent / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        os.mkdir(tmp, 0o755)
        try:
            os.chmod(src, 0o755)
            # A rename, not a copy: fifty 4 MB binaries copied twice cost seconds on a cold build.
            os.replace(src, tmp / "binary")
            digest = sha256_file(tmp / "binary")
            record = {"sha256": digest, "stat": _sig(os.lstat(tmp / "binary")), "key": key}
            create_file(tmp / "entry.json", (json.dumps(record) + "\n").encode())
            try:
                os.rename(tmp, entry)
            except OSError:
                # Another run put the same key meanwhile (same inputs, same bytes): keep theirs,
                # unless theirs is broken.
                if self.binary(arch, key) is None:
                    remove_tree(entry, "cache")
                    os.rename(tmp, entry)
        finally:
            remove_tree(tmp, "cache")
        return entry / "binary"

    def digest(self, path: Path) -> str:
        """sha256 of a file: recorded for binaries in this store, computed for anything else."""
        meta = path.parent / "entry.json"
        if self.trusted and path.name == "binary" and self.root in path.parents:
            try:
                return json.loads(meta.read_text())["sha256"]
            except (OSError, ValueError, KeyError):
                pass
        return sha256_file(path)

    # Answers go gave, with the stamp that says when to ask again (gobuild.sources.Stamps).
    def get_stamp(self, name: str) -> dict | None:
        if not self.trusted:
            return None
        try:
            return json.loads((self.project / "stamps" / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None

    def put_stamp(self, name: str, data: dict) -> None:
        atomic_write_text(self._dir("projects", self.project_name, "stamps") / f"{name}.json", json.dumps(data))

    # The last image built per package.
    def image(self, slug: str) -> ImageState | None:
        if not self.trusted:
            return None
        try:
            return ImageState(**json.loads((self.project / "images" / f"{slug}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # Which binaries shared a layer in the package's last image (image.buckets): raw JSON, checked
    # by image.buckets.parse; None when there is none or the cache is not trusted.
    def layout(self, slug: str) -> object:
        if not self.trusted:
            return None
        try:
            return json.loads((self.project / "images" / f"{slug}.layout.json").read_text())
        except (OSError, ValueError):
            return None

    def put_layout(self, slug: str, data: dict) -> None:
        folder = self._dir("projects", self.project_name, "images")
        atomic_write_text(folder / f"{slug}.layout.json", json.dumps(data, indent=1) + "\n")

    def put_image(self, slug: str, state: ImageState, binaries: list[str] | None = None) -> None:
        """Record the package's image; a new one also goes on the package's history (oldest first),
        with the cache keys of its binaries, for ``shimimg prune``. ``binaries``: None keeps the
        history as it is (a state update of the same image)."""
        folder = self._dir("projects", self.project_name, "images")
        atomic_write_text(folder / f"{slug}.json", json.dumps(asdict(state), indent=2) + "\n")
        if binaries is None:
            return
        history = [e for e in self.history(slug) if e.get("tag") != state.tag]
        history.append({"tag": state.tag, "image_id": state.image_id, "binaries": sorted(binaries),
                        "at": round(time.time())})
        atomic_write_text(folder / f"{slug}.history.json", json.dumps(history[-HISTORY_MAX:], indent=1) + "\n")

    def history(self, slug: str) -> list[dict]:
        """The package's builds, oldest first: {"tag", "image_id", "binaries", "at"}."""
        try:
            data = json.loads((self.project / "images" / f"{slug}.history.json").read_text())
        except (OSError, ValueError):
            return []
        return [e for e in data if isinstance(e, dict) and isinstance(e.get("tag"), str)] if isinstance(data, list) \
            else []

    def slugs(self) -> list[str]:
        return sorted(p.name.removesuffix(".history.json") for p in (self.project / "images").glob("*.history.json"))

    def all_histories(self) -> list[dict]:
        """Every project's history entries (binaries are shared by all projects)."""
        out: list[dict] = []
        for path in (self.root / "projects").glob("*/images/*.history.json"):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                out += [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
        return out

    def binary_entry(self, key: str) -> Path | None:
        """The folder of a cached binary by key, whatever its architecture."""
        for entry in (self.root / "bin").glob(f"*/{key[:2]}/{key}"):
            return entry
        return None

    def remove_binary(self, entry: Path) -> None:
        remove_tree(entry, "cache")

    def context_dir(self, slug: str) -> Path:
        return self._dir("projects", self.project_name, "context", slug)

    @contextlib.contextmanager
    def scratch(self, name: str) -> Iterator[Path]:
        """A fresh folder for one step's temporary files, removed afterwards whatever happens."""
        parent = self._dir("projects", self.project_name, "tmp")
        path = parent / f"{name}-{uuid.uuid4().hex[:8]}"
        os.mkdir(path, 0o700)
        try:
            yield path
        finally:
            remove_tree(path, "cache")

    def _trim(self) -> None:
        """Drop binaries unused for a week, at most once a day (as Go's build cache trims)."""
        mark = self.root / "trim.txt"
        try:
            if time.time() - float(mark.read_text().strip()) < _USED_EVERY_S:
                return
        except (OSError, ValueError):
            pass
        with contextlib.suppress(OSError):
            atomic_write_text(mark, f"{time.time():.0f}\n")
        now = time.time()
        for meta in (self.root / "bin").glob("*/*/*/entry.json"):
            with contextlib.suppress(OSError):
                if now - meta.stat().st_mtime > TRIM_AFTER_S:
                    remove_tree(meta.parent, "cache")
