"""Binaries a package already holds (a folder with bin/*, or the zip the old build chain made),
taken as untrusted input: each is streamed into scratch space with a size cap (a 5 MB zip can
claim a 3 GiB file), its declared size and CRC checked, its ELF header checked (arch, exec bit,
static), and only that private copy goes on into the image. Every problem of every handler is
reported at once.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shimimg import elf
from shimimg.errors import ShimimgError
from shimimg.plan import Package
from shimimg.template.packages import strip_dot_slash

CHUNK = 1 << 20


@dataclass(frozen=True)
class Taken:
    files: Mapping[str, Path]  # "bin/x" → the private copy
    digests: Mapping[str, str]  # "bin/x" → sha256 of the copy


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
                                     allow_dynamic=allow_dynamic)
        except _TooBig:
            problems.append(f"{where}: larger than {limit_text}; pass --max-binary-size MIB if it really is a "
                            "handler binary")
            continue
        except ShimimgError as e:
            text = e.message if where in e.message else f"{where}: {e.message}"
            problems.append(text + (f"; {e.hint}" if e.hint else ""))
            continue
        files[handler] = dest
        digests[handler] = digest
    if problems:
        source = "zip" if pkg.kind == "zip" else "folder"
        if pkg.kind == "zip":
            hint = "rebuild the zip with these binaries (your old build chain, e.g. `make`), or fix the Handlers"
        else:
            hint = "build the binaries first (your old build chain, e.g. `make`)"
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
