"""Files shimimg reads from the repository or the command line: regular files, size-capped.

A repository can commit ``template.yaml`` as a link to ``/dev/zero`` (read without end) or make it
a FIFO (a read that never returns) (issue 19). Every such file is opened without blocking, must be
a regular file, and is read only up to a cap well above any real one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shimimg.errors import ShimimgError

MIB = 1024 * 1024
# CloudFormation takes 1 MB from S3; SAM templates before the transform stay far below this.
TEMPLATE_MAX = 16 * MIB
CONFIG_MAX = 1 * MIB  # shimimg.toml, pyproject.toml, samconfig.toml
EVENT_MAX = 8 * MIB  # Lambda's own payload limit is 6 MB
ENV_VARS_MAX = 4 * MIB
RESULT_MAX = 16 * MIB  # a `push --json` result


def kind_of(st: os.stat_result) -> str:
    mode = st.st_mode
    return ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def read_bytes(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path``: a regular file (or a link to one) of at most ``limit`` bytes.
    ``FileNotFoundError``/``IsADirectoryError`` pass through for callers that word them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens without a writer
    except (FileNotFoundError, IsADirectoryError):
        raise
    except OSError as e:
        raise ShimimgError(f"cannot read {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(st.st_mode):
            raise ShimimgError(f"{path} is {kind_of(st)}, not a {what}: shimimg reads regular files only",
                               hint=f"name a regular file as the {what}")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ShimimgError(f"{path} is larger than {limit // MIB} MiB: too large for a {what}",
                           hint=f"a real {what} is far smaller; check that {path} is the file you meant")
    return data


def head(path: Path, size: int) -> bytes | None:
    """The first ``size`` bytes of a regular file; None for anything else (never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(size) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def read_text(path: Path, limit: int, what: str = "file") -> str:
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ShimimgError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})",
                           hint=f"save the {what} as UTF-8") from None
