"""The build context: every file in a folder named by its content hash, with fixed timestamps.

BuildKit decides what changed in a context by size and mtime, so a rebuilt binary staged under
its old name with the same size and a fixed mtime would ship the old bytes (measured; see
docs/design.md, "Layers"). Content-addressed folder names make that impossible. Fixed mtimes on
every file and folder keep each layer's tar, and so its digest, the same across builds and
machines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shimimg.fsutil import check_no_link, ensure_dir, remove_tree, sha256_file
from shimimg.image import buckets
from shimimg.image.buckets import MAX_BINARY_LAYERS  # noqa: F401  (where callers have looked for it)

# 2000-01-01: any fixed time works; zero upsets some tar readers.
FIXED_MTIME = 946684800
TASK_ROOT = "var/task"
SHIM_PATH = "var/runtime/bootstrap"


@dataclass(frozen=True)
class Layer:
    folder: str  # the context folder, named by content: "l-<hash>"
    files: tuple[str, ...]  # paths inside the image, e.g. "var/task/bin/create_order"


@dataclass(frozen=True)
class Context:
    root: Path
    layers: tuple[Layer, ...]
    # Each binary's bucket (its path in the package → bucket), for the next build to start from.
    assignment: Mapping[str, int] = field(default_factory=dict)


def _folder_name(entries: Sequence[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for dest, digest in entries:
        h.update(f"{dest}\0{digest}\0".encode())
    return "l-" + h.hexdigest()[:24]


def _place(src: Path, target: Path, linkable: Path | None) -> None:
    """Hard-link files shimimg owns (its cache sits on the same disk); copy anything else, so
    fixing the staged file's mode and time never touches a user's file."""
    if linkable is not None and Path(os.path.realpath(src)).is_relative_to(os.path.realpath(linkable)):
        try:
            os.link(src, target)
            return
        except OSError:
            pass
    try:
        shutil.copyfile(src, target)
    except OSError as e:
        if e.filename is None:  # a failed write names no file: name it (a full disk names where)
            raise OSError(e.errno, e.strerror, str(target)) from None
        raise


def _holds(folder: Path, entries: Sequence[tuple[str, Path, str]]) -> bool:
    """Whether a staged folder still holds exactly these files: the same inode as a source that
    was verified this run, or a file with the recorded digest."""
    for dest, src, digest in entries:
        target = folder / dest
        try:
            if not stat.S_ISREG(os.lstat(target).st_mode):
                return False
            if not os.path.samefile(src, target) and sha256_file(target) != digest:
                return False
        except OSError:
            return False
    return True


def _stage_layer(root: Path, entries: Sequence[tuple[str, Path, str]], linkable: Path | None = None,
                 modes: Mapping[str, int] | None = None) -> Layer:
    """Stage (image path, source, digest) entries as one content-addressed folder; every file is
    0755 unless ``modes`` gives another mode for its image path."""
    modes = modes or {}
    # A mode joins the name only where one is given: binaries' folder names stay as they were.
    name = _folder_name([(dest, f"{digest} {modes[dest]:o}" if dest in modes else digest)
                         for dest, _, digest in entries])
    folder = root / name
    check_no_link(folder, "build context")
    if folder.is_dir() and not _holds(folder, entries):
        # Its name promises these bytes, but a hard link shares the cache file's inode and another
        # party may write the cache: restage rather than ship what the name no longer means.
        remove_tree(folder, "build context")
    if not folder.is_dir():
        tmp = root / f".{name}.tmp"
        remove_tree(tmp, "build context")
        for dest, src, _ in entries:
            target = tmp / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            _place(src, target, linkable)
            os.chmod(target, modes.get(dest, 0o755))
        # Every folder on the way too: the layer tar records them.
        for dirpath, _, filenames in os.walk(tmp, topdown=False):
            for fn in filenames:
                os.utime(os.path.join(dirpath, fn), (FIXED_MTIME, FIXED_MTIME))
            os.chmod(dirpath, 0o755)
            os.utime(dirpath, (FIXED_MTIME, FIXED_MTIME))
        os.replace(tmp, folder)
    return Layer(folder=name, files=tuple(dest for dest, _, _ in entries))


def stage(
    root: Path,
    *,
    binaries: Mapping[str, Path],
    shim: Path | None,
    linkable: Path | None = None,
    digest: Callable[[Path], str] = sha256_file,
    data: Sequence[tuple[str, Path, str, bool]] = (),
    previous: Mapping[str, int] | None = None,
) -> Context:
    """Stage ``binaries`` (path in the package, e.g. "bin/x" → file), the files the package carries
    beside them (``data``: (path in the package, file, sha256, executable)) and the shim under
    ``root``. The data files share one layer: they change together, with the package's content.
    Binaries go into layers by ``buckets.assign`` (one each up to 100), starting from ``previous``
    (the last build's assignment, already verified) when there is one.

    Folders no longer used are removed, so the context holds exactly this image's files.
    """
    ensure_dir(root.parent, root.name, what="build context")
    layers: list[Layer] = []
    if shim is not None:
        layers.append(_stage_layer(root, [(SHIM_PATH, shim, sha256_file(shim))]))
    if data:
        entries_d = [(f"{TASK_ROOT}/{rel}", src, digest_) for rel, src, digest_, _ in sorted(data)]
        modes = {f"{TASK_ROOT}/{rel}": 0o755 if executable else 0o644 for rel, _, _, executable in data}
        layers.append(_stage_layer(root, entries_d, linkable, modes))
    assignment = buckets.assign(binaries, previous)
    for group in buckets.groups(assignment):
        layers.append(_stage_layer(root, [(f"{TASK_ROOT}/{rel}", binaries[rel], digest(binaries[rel]))
                                          for rel in group], linkable))
    keep = {layer.folder for layer in layers} | {"Dockerfile"}
    for child in root.iterdir():
        if child.name not in keep:
            remove_tree(child, "build context") if not child.is_symlink() else child.unlink()
    return Context(root=root, layers=tuple(layers), assignment=assignment)
