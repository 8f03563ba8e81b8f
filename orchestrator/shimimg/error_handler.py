"""The one place that turns how a command ended into an exit code (as pre-commit's error handler).

    ShimimgError → 1 with its message; click usage errors → 2; interrupts → 130 (SIGINT) or 143
    (SIGTERM) with one line; anything else is a bug → 3, with a log holding the traceback and the
    versions of shimimg, Python, docker, buildx and go, ready for a bug report.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shimimg import __version__
from shimimg.errors import (
    EXIT_BUG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Interrupted,
    ShimimgError,
    Terminated,
)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def signals() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (every ``finally`` and ``except KeyboardInterrupt`` runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tool_version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({type(e).__name__})"
    return (r.stdout.strip() or r.stderr.strip() or f"exit {r.returncode}").splitlines()[0]


def versions() -> dict[str, str]:
    return {
        "shimimg": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "docker": _tool_version(["docker", "version", "--format",
                                 "client {{.Client.Version}}, engine {{.Server.Version}}"]),
        "buildx": _tool_version(["docker", "buildx", "version"]),
        "go": _tool_version(["go", "version"]),
    }


def bug_log(exc: BaseException, argv: list[str]) -> Path:
    fd, name = tempfile.mkstemp(prefix="shimimg-bug-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        for key, value in versions().items():
            f.write(f"{key}: {value}\n")
        f.write(f"argv: {argv}\n\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return Path(name)


def run(call: Callable[[], int], *, argv: list[str], usage_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``call`` (a command) and map how it ended to an exit code, printing one message."""
    try:
        with signals():
            return call()
    except ShimimgError as e:
        _say(e.render())
        return EXIT_ERROR
    except Terminated:
        return _interrupted(terminated=True)
    except KeyboardInterrupt:
        return _interrupted(terminated=False)
    except Interrupted as e:
        return _interrupted(terminated=e.terminated)
    except usage_errors:
        raise
    except OSError as e:
        if e.errno not in _DISK_FULL:
            return _bug(e, argv)
        # A full disk is the machine's state, not a bug: wherever shimimg was writing (its cache,
        # a build context), say which file and what to free (issue 19).
        where = f" writing {e.filename} (the disk mounted at {_mount_of(e.filename)})" if e.filename else ""
        _say(ShimimgError(f"the disk is full{where}: {os.strerror(e.errno)}",
                          hint="free space on that disk (or move shimimg's cache with --cache-dir), then run "
                               "again").render())
        return EXIT_ERROR
    except Exception as e:
        return _bug(e, argv)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _mount_of(path: str | bytes) -> str:
    current = os.path.abspath(os.fsdecode(path))
    while not os.path.ismount(current):
        current = os.path.dirname(current)
    return current


def _bug(e: Exception, argv: list[str]) -> int:
    """A bug: keep the traceback for the report, tell the user where."""
    path = bug_log(e, argv)
    _say(f"error: shimimg hit a bug: {type(e).__name__}: {e}\n  the traceback is in {path}; "
         "please attach it to a bug report")
    return EXIT_BUG


def _interrupted(*, terminated: bool) -> int:
    _say("interrupted (SIGTERM): stopped and cleaned up" if terminated else "interrupted: stopped and cleaned up")
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _say(text: str) -> None:
    from shimimg import ui

    ui.error_line(text)
