"""Files shimimg writes, safely: atomic replacement, and never through a link it did not make.

The repository is untrusted: a ``.shimimg/`` folder (or a cache folder) can arrive holding
symlinks to files elsewhere. Everything shimimg creates, opens for writing, locks or deletes goes
through this module: each folder on the way is checked with ``lstat`` (a link is refused with its
path), files are created with ``O_EXCL``/``O_NOFOLLOW``, and an existing name is replaced by a
rename in a folder shimimg checked, never written through.

``write_output`` is for files the user names (``-o``): a regular file, or a symlink the user gave
on purpose that leads to one; devices, FIFOs and folders are refused, never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from shimimg.errors import ShimimgError


class PlantedLink(ShimimgError):
    pass


def link_target(link: Path) -> str:
    """Where a link points, for a message ("?" when it cannot be read)."""
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _planted(path: Path, what: str) -> PlantedLink:
    return PlantedLink(
        f"{path} is a symbolic link (to {link_target(path)}) where shimimg keeps its {what}; refusing to follow it",
        hint=f"remove it (rm {path}); shimimg never writes through links it did not create",
    )


def write_error(path: Path, e: OSError, what: str = "write") -> ShimimgError:
    reason = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
              errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EISDIR: "it is a folder", errno.ENOTDIR: "a part of the path is not a folder",
              errno.EDQUOT: "the disk quota is exceeded"}.get(e.errno or 0, e.strerror or str(e))
    return ShimimgError(f"cannot {what} {path}: {reason}", hint="choose another place (-o), or fix the folder's "
                        "permissions or free space, then run again; nothing else was changed")


def ensure_dir(root: Path, *parts: str, what: str = "files", gitignore_first: bool = False) -> Path:
    """``root/parts...`` as real folders, created when missing. ``root`` is the user's (it may be a
    link they made); a symlink at any of ``parts`` is refused, never followed. With
    ``gitignore_first``, the first part gets a ``.gitignore`` holding ``*`` when shimimg creates it
    (as pytest does for .pytest_cache), so nothing shimimg writes there is committed by accident."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(root, e, "create the folder") from None
    current = root
    for i, part in enumerate(parts):
        current = current / part
        created = False
        try:
            os.mkdir(current, 0o755)
            created = True
        except FileExistsError:
            pass
        except OSError as e:
            raise write_error(current, e, "create the folder") from None
        st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            raise _planted(current, what)
        if not stat.S_ISDIR(st.st_mode):
            raise ShimimgError(f"{current} is not a folder, but shimimg keeps its {what} there",
                               hint=f"move it away (mv {current} {current}.old) and run again")
        if created and i == 0 and gitignore_first:
            create_file(current / ".gitignore", b"# created by shimimg: nothing here belongs in git\n*\n")
    return current


def create_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A new file; an existing name (a file, or a link planted there) is left alone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        return
    except OSError as e:
        raise write_error(path, e) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def check_no_link(path: Path, what: str) -> None:
    """Refuse when ``path`` exists as a symlink (shimimg is about to replace or delete it)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise _planted(path, what)
    except FileNotFoundError:
        pass


def atomic_write_text(path: Path, text: str, *, follow: bool = False) -> None:
    """Write ``text`` as UTF-8, byte for byte (no newline translation)."""
    atomic_write_bytes(path, text.encode("utf-8"), follow=follow)


def atomic_write_bytes(path: Path, data: bytes, *, follow: bool = False) -> None:
    """Replace ``path`` by a rename from a temporary file in its folder: a reader sees the old
    file or the new one. ``follow``: ``path`` may be a symlink the user named on purpose, and its
    target is replaced; otherwise a symlink at ``path`` is refused."""
    target = Path(os.path.realpath(path)) if follow else Path(path)
    if not follow:
        check_no_link(target, "output")
    try:
        st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st)
        mode = stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as e:
        raise write_error(path, e) from None
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_dir(target.parent)


def _not_regular(path: Path, st: os.stat_result) -> ShimimgError:
    kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    return ShimimgError(f"{path} is {kind}: shimimg writes templates to regular files only, and never replaces "
                        "anything else", hint="give -o a file path (a new file, or a template shimimg may replace)")


def check_output(path: Path) -> None:
    """Refuse, before any work, an output that exists and is not a regular file (or a link to one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise write_error(path, e, "use") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st)


def write_output(path: Path, text: str) -> None:
    """The user's ``-o``: a regular file or a link to one (followed, since the user named it);
    missing folders on the way are created, as the user asked for that place."""
    try:
        Path(os.path.realpath(path)).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e, "create the folder for") from None
    atomic_write_text(path, text, follow=True)


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_tree(path: Path, what: str = "files") -> None:
    """Delete a folder shimimg made; a symlink in its place is refused (not followed), and a
    symlink inside is removed as a link (``shutil.rmtree`` never follows them)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _planted(path, what)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, opened without following a link."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _planted(path, "lock") from None
        raise write_error(path, e, "open the lock") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_regular(path, os.fstat(fd))
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also when neither exists yet)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def has_go_files(folder: Path) -> bool:
    """The folder holds a non-test ``.go`` file (what go would try to build there); False when it
    cannot be listed."""
    try:
        return folder.is_dir() and any(p.suffix == ".go" and not p.name.endswith("_test.go")
                                       for p in folder.iterdir())
    except OSError:
        return False
