"""The one subprocess wrapper: every outside program (go, docker, git) runs through ``run``.

It logs the exact, shell-quoted command before running it (``-v``), and its output (``--debug``),
and returns (rc, stdout, stderr); ``CommandFailed`` shows the command and its output. Callers in
the module that owns each program turn a failure into a ``ShimimgError`` that says what to do.

Each child runs in a process group of its own, so ending it (an interrupt, SIGTERM, a stall) ends
what it started too (``go build``'s compilers, buildx's helpers). ``stall`` stops a command that
printed nothing for that many seconds: the caller decides whether to retry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("shimimg.proc")

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Result:
    cmd: tuple[str, ...]
    rc: int
    out: str
    err: str


class CommandFailed(Exception):
    def __init__(self, result: Result) -> None:
        self.result = result
        super().__init__(
            f"command failed (exit {result.rc}): {quote(result.cmd)}\n{result.err.strip() or result.out.strip()}"
        )


class ProgramMissing(Exception):
    def __init__(self, program: str) -> None:
        self.program = program
        super().__init__(f"{program}: not found on PATH")


class Stalled(Exception):
    """The command printed nothing for ``seconds``; it was stopped."""

    def __init__(self, result: Result, seconds: float) -> None:
        self.result = result
        self.seconds = seconds
        super().__init__(f"no progress for {seconds:g} s: {quote(result.cmd)}")


def quote(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def _kill_group(p: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
        try:
            p.wait(timeout=wait)
            # The leader is gone; anything it left in the group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def end_all() -> None:
    """End every child still running (called on the way out of an interrupted run)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for p in live:
        _kill_group(p, grace=1.0)


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
    timeout: float | None = None,
    stall: float | None = None,
    on_output: Callable[[str], None] | None = None,
    secret_output: bool = False,
) -> Result:
    """Run ``cmd`` to completion, capturing its output.

    ``env`` entries are added to the current environment (not replacing it). ``timeout`` bounds
    the whole run (``subprocess.TimeoutExpired``), ``stall`` the time without output (``Stalled``).
    ``on_output`` sees each chunk of output as it comes. ``secret_output``: the output may hold a
    credential (a remote URL with a CI token), so ``--debug`` does not log it.
    """
    full_env = {**os.environ, **env} if env else None
    cmd = tuple(str(c) for c in cmd)
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items() if k != "PATH")
    log.debug("$ %s%s%s", prefix, " " if prefix else "", quote(cmd))
    try:
        p = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except FileNotFoundError as e:
        raise ProgramMissing(cmd[0]) from e
    with _LIVE_LOCK:
        _LIVE.add(p)
    try:
        out, err, stalled = _communicate(p, stdin, timeout, stall, on_output)
    except BaseException:
        _kill_group(p)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(p)
    result = Result(cmd, p.returncode, out, err)
    if not secret_output:
        _log_output(result)
    if stalled:
        raise Stalled(result, stall or 0)
    if check and p.returncode != 0:
        raise CommandFailed(result)
    return result


def _communicate(p: subprocess.Popen, stdin: str | None, timeout: float | None, stall: float | None,
                 on_output: Callable[[str], None] | None) -> tuple[str, str, bool]:
    if stdin is not None and p.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            p.stdin.write(stdin.encode())
        p.stdin.close()
    chunks: dict[int, list[bytes]] = {1: [], 2: []}
    sel = selectors.DefaultSelector()
    assert p.stdout is not None and p.stderr is not None
    sel.register(p.stdout, selectors.EVENT_READ, 1)
    sel.register(p.stderr, selectors.EVENT_READ, 2)
    start = last = time.monotonic()
    open_streams = 2
    while open_streams:
        now = time.monotonic()
        waits = [w for w in ((start + timeout - now) if timeout else None,
                             (last + stall - now) if stall else None) if w is not None]
        wait = max(0.0, min(waits)) if waits else None
        events = sel.select(wait)
        now = time.monotonic()
        if not events:
            if timeout and now - start >= timeout:
                _kill_group(p)
                raise subprocess.TimeoutExpired(p.args, timeout)
            if stall and now - last >= stall:
                _kill_group(p)
                sel.close()
                return _text(chunks[1]), _text(chunks[2]), True
            continue
        for key, _ in events:
            data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            last = now
            chunks[key.data].append(data)
            if on_output:
                on_output(data.decode("utf-8", "replace"))
    sel.close()
    p.wait()
    return _text(chunks[1]), _text(chunks[2]), False


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", "replace")


def _log_output(result: Result) -> None:
    from shimimg import ui

    if not ui.show_output():
        return
    for name, text in (("stdout", result.out), ("stderr", result.err)):
        for line in text.strip("\n").splitlines():
            log.debug("  %s| %s", name[3:], line)
    log.debug("  exit %d", result.rc)
