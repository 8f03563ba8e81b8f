"""Binaries a package already holds (a folder with bin/*, or the zip the old build chain made),
taken as untrusted input: each is streamed into scratch space with a size cap (a 5 MB zip can
claim a 3 GiB file), its declared size and CRC checked, its ELF header checked (arch, exec bit,
static), and only that private copy goes on into the image. Every problem of every handler is
reported at once.

Lambda extracted the whole go1.x zip into /var/task, and handlers read what it carried beside
them (config, templates, certificates) from ``$LAMBDA_TASK_ROOT``: ``take_data`` takes every
other file of the package too, at the path it had, with the same caps, no links and nothing
outside the task root (see ``DataLimits``).
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shimimg.binaries import elf
from shimimg.errors import ShimimgError
from shimimg.plan.records import Package
from shimimg.readfile import MIB
from shimimg.template.packages import strip_dot_slash

CHUNK = 1 << 20


@dataclass(frozen=True)
class Taken:
    files: Mapping[str, Path]  # "bin/x" → the private copy
    digests: Mapping[str, str]  # "bin/x" → sha256 of the copy


@dataclass(frozen=True)
class DataFile:
    path: Path  # the private copy
    digest: str  # its sha256
    executable: bool
    size: int


@dataclass(frozen=True)
class DataLimits:
    """Bounds on what a package may carry beside its binaries: Lambda's own limit for a zip's
    unpacked content is 250 MB, and a real go1.x package held a few hundred files at most."""

    max_file: int  # bytes, per file (the binary cap)
    max_total: int = 1024 * 1024 * 1024
    max_entries: int = 10000


# What a folder package holds that never went into the old zip: version control and the build
# tools' own state.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".shimimg", ".aws-sam"})


class _TooBig(Exception):
    pass


def _copy(src, dest: Path, limit: int) -> tuple[str, int]:
    """Stream ``src`` (a binary file object) into ``dest``; (sha256, bytes). Stops past ``limit``."""
    h = hashlib.sha256()
    n = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                n += len(chunk)
                if n > limit:
                    raise _TooBig()
                h.update(chunk)
                out.write(chunk)
    except OSError as e:
        if e.filename is None:  # a failed write names no file: name it (a full disk names where)
            raise OSError(e.errno, e.strerror, str(dest)) from None
        raise
    return h.hexdigest(), n


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(elf.HEADER_BYTES)


def take(pkg: Package, handlers: Sequence[tuple[str, str]], scratch: Path, *, allow_dynamic: bool,
         max_bytes: int, prebuilt_flag: bool) -> Taken:
    """Private, checked copies of ``handlers`` ((handler, functions) pairs) from ``pkg``."""
    problems: list[str] = []
    missing = False
    files: dict[str, Path] = {}
    digests: dict[str, str] = {}
    limit_text = f"{max_bytes // (1024 * 1024)} MiB"
    for i, (handler, functions) in enumerate(handlers):
        dest = scratch / f"{i}-{os.path.basename(handler)}"
        where = f"{handler} in {pkg.path} ({functions})"
        try:
            if pkg.kind == "zip":
                digest, _ = _from_zip(pkg.path, handler, dest, max_bytes)
                executable = _zip_executable(pkg.path, handler)
            else:
                digest = _from_dir(pkg.path, handler, dest, max_bytes)
                executable = _dir_executable(pkg.path, handler)
            elf.check_handler_binary(_head(dest), executable=executable, where=where, arch=pkg.arch,
                                     allow_dynamic=allow_dynamic, prebuilt_flag=prebuilt_flag)
        except _TooBig:
            problems.append(f"{where}: larger than {limit_text}; pass --max-binary-size MIB if it really is a "
                            "handler binary")
            continue
        except ShimimgError as e:
            text = e.message if where in e.message else f"{where}: {e.message}"
            problems.append(text + (f"; {e.hint}" if e.hint else ""))
            missing = missing or e.message.endswith(("does not exist", f"has no {handler}"))
            continue
        files[handler] = dest
        digests[handler] = digest
    if problems:
        source = "zip" if pkg.kind == "zip" else "folder"
        if missing and pkg.kind == "zip":
            hint = "rebuild the zip with these binaries (your old build chain, e.g. `make`), or fix the Handlers"
        elif missing:
            hint = "build the binaries first (your old build chain, e.g. `make`)"
        else:  # each line above says what is wrong with that binary and how to fix it
            hint = "fix or rebuild the binaries listed above"
        if prebuilt_flag:
            hint += ", or drop --prebuilt so shimimg builds them from source"
        what = "binary" if len(problems) == 1 else "binaries"
        raise ShimimgError(f"{pkg.code_uri}: cannot take {len(problems)} prebuilt {what} from the {source}",
                           problems=problems, hint=hint)
    return Taken(files, digests)


def _entries(zf: zipfile.ZipFile, handler: str) -> list[zipfile.ZipInfo]:
    # Only a leading "./" is dropped: ".hidden/x" is not "hidden/x".
    want = strip_dot_slash(handler)
    return [i for i in zf.infolist() if strip_dot_slash(i.filename) == want]


def _bad_name(name: str) -> str | None:
    """Why a member name cannot be a path under /var/task, or None."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or "\\" in name:
        return "holds control characters or backslashes"
    if name.startswith("/"):
        return "is absolute"
    parts = strip_dot_slash(name).rstrip("/").split("/")
    if any(p in ("..", ".") for p in parts) or "" in parts:
        return "has '.', '..' or empty path components"
    return None


def take_data(pkg: Package, binaries: Mapping[str, Path], scratch: Path, limits: DataLimits) -> dict[str, DataFile]:
    """Every file of ``pkg`` besides ``binaries``, as private copies (path in the package → file).

    Every problem is reported at once; a package with any is refused, since a handler that reads
    a missing file fails only when it runs."""
    problems: list[str] = []
    out: dict[str, DataFile] = {}
    total = 0
    skip = {strip_dot_slash(h) for h in binaries}
    members = _zip_members(pkg.path, problems) if pkg.kind == "zip" else _dir_members(pkg.path, problems)
    for i, (name, opener, size, executable) in enumerate(members):
        if name in skip:
            continue
        if len(out) >= limits.max_entries:
            problems.append(f"more than {limits.max_entries} files besides the binaries")
            break
        if size > limits.max_file or total + size > limits.max_total:
            problems.append(f"{name}: {size} bytes; the package may carry {limits.max_file // MIB} MiB per file and "
                            f"{limits.max_total // MIB} MiB in all beside its binaries")
            continue
        dest = scratch / f"data-{i}"
        try:
            with opener() as src:
                digest, n = _copy(src, dest, min(limits.max_file, limits.max_total - total))
        except _TooBig:
            problems.append(f"{name}: larger than it declares, or than the caps")
            continue
        except (OSError, zipfile.BadZipFile) as e:
            problems.append(f"{name}: cannot read it ({e})")
            continue
        if pkg.kind == "zip" and n != size:
            problems.append(f"{name}: declares {size} bytes but holds {n}")
            continue
        total += n
        out[name] = DataFile(dest, digest, executable, n)
    if problems:
        raise ShimimgError(f"{pkg.code_uri}: cannot take the {len(problems)} file(s) listed from the "
                           f"{'zip' if pkg.kind == 'zip' else 'folder'} into the image",
                           problems=problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50
                                                     else []),
                           hint="the image holds what the zip held; remove or fix these files in the package")
    return out



def _zip_members(path: Path, problems: list[str]):
    with _open_zip(path) as zf:
        infos = zf.infolist()
    seen: dict[str, str] = {}
    out = []
    for info in infos:
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        if info.is_dir():
            continue
        why = _bad_name(info.filename)
        if why:
            problems.append(f"{info.filename!r} {why}: it cannot go under /var/task")
            continue
        name = strip_dot_slash(info.filename)
        if stat.S_ISLNK(mode):
            problems.append(f"{name} is a symbolic link; shimimg copies files, not links")
            continue
        if mode and not stat.S_ISREG(mode):
            problems.append(f"{name} is not a regular file")
            continue
        if name in seen:
            problems.append(f"{name} is in the zip twice ({seen[name]}, {info.filename}): which one Lambda saw "
                            "is not clear")
            continue
        seen[name] = info.filename
        out.append((name, lambda info=info: _zip_open(path, info), info.file_size,
                    bool(mode & 0o111) or info.create_system != 3))
    return out


class _zip_open:
    """A member of the zip, opened on entry (one zip handle per member read)."""

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        self.path, self.info = path, info

    def __enter__(self):
        self.zf = zipfile.ZipFile(self.path)
        self.src = self.zf.open(self.info)
        return self.src

    def __exit__(self, *exc) -> None:
        self.src.close()
        self.zf.close()


def _dir_members(root: Path, problems: list[str]):
    """Files below ``root``, links not followed (a link is refused when it leads outside)."""
    out = []
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(root) and d in SKIPPED_DIRS))
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                dirnames.remove(d)
                problems.append(f"{os.path.relpath(full, root)} is a link to a folder; shimimg copies files, not "
                                "links")
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            why = _bad_name(rel)
            if why:
                problems.append(f"{rel!r} {why}")
                continue
            found = regular_file(full, real_root, rel, "the package")
            if isinstance(found, str):
                problems.append(found)
                continue
            full, st = found
            out.append((rel, lambda full=full: _open_nofollow(full), st.st_size, bool(st.st_mode & 0o111)))
    return out


def regular_file(full: str, real_root: str, rel: str, where: str) -> tuple[str, os.stat_result] | str:
    """(the file to read, its stat) for a regular file, or a link to one, that stays inside
    ``real_root``; otherwise why not. A link out of the package could carry any file of the machine."""
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(full)
        if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
            return f"{rel} is a link leading outside {where} ({real})"
        return real, os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        return f"{rel} is not a regular file"
    return full, st


def _open_nofollow(path: str):
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ShimimgError(f"{path} does not exist") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise ShimimgError(f"{path} is not a readable zip ({e})") from None


def _from_zip(path: Path, handler: str, dest: Path, limit: int) -> tuple[str, int]:
    with _open_zip(path) as zf:
        found = _entries(zf, handler)
        if not found:
            raise ShimimgError(f"{path} has no {handler}")
        if len(found) > 1:
            raise ShimimgError(f"{path} holds {handler} {len(found)} times ({', '.join(i.filename for i in found)}): "
                               "which one runs is not clear")
        info = found[0]
        mode = info.external_attr >> 16
        if info.is_dir() or stat.S_ISLNK(mode):
            raise ShimimgError(f"{handler} in {path} is a {'folder' if info.is_dir() else 'symbolic link'}, "
                               "not a binary")
        if info.file_size > limit:
            raise _TooBig()
        try:
            with zf.open(info) as src:
                digest, n = _copy(src, dest, limit)
        except zipfile.BadZipFile as e:  # CRC mismatch, truncated data
            raise ShimimgError(f"{handler} in {path} is corrupt ({e})") from None
        if n != info.file_size:
            raise ShimimgError(f"{handler} in {path} declares {info.file_size} bytes but holds {n}")
        return digest, n


def _zip_executable(path: Path, handler: str) -> bool:
    with _open_zip(path) as zf:
        info = _entries(zf, handler)[0]
    # Zips made on Unix keep the mode in the upper 16 bits; others carry none.
    return bool((info.external_attr >> 16) & 0o111) or info.create_system != 3


def _inside(path: Path, root: Path) -> Path:
    """``path`` with links resolved, refused when it leaves ``root`` (the package folder)."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real_root not in real.parents:
        raise ShimimgError(f"{path} leads outside the package ({real}); shimimg takes binaries from the package only")
    return real


def _from_dir(root: Path, handler: str, dest: Path, limit: int) -> str:
    path = root / strip_dot_slash(handler)
    if not os.path.lexists(path):
        raise ShimimgError(f"{path} does not exist")
    real = _inside(path, root)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ShimimgError(f"cannot read {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ShimimgError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise _TooBig()
        digest, _ = _copy(src, dest, limit)
    return digest


def _dir_executable(root: Path, handler: str) -> bool:
    return os.stat(root / strip_dot_slash(handler)).st_mode & 0o111 != 0
