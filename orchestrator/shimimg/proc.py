"""The one subprocess wrapper: every outside program (go, docker, ...) runs through ``run``.

It logs the exact, shell-quoted command before running it and returns (rc, stdout, stderr);
``CommandFailed`` shows the command and its output. Callers in the module that owns each
program turn a failure into a ``ShimimgError`` that says what to do.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("shimimg.proc")


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


def quote(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
    timeout: float | None = None,
) -> Result:
    """Run ``cmd`` to completion, capturing its output.

    ``env`` entries are added to the current environment (not replacing it).
    """
    full_env = None
    if env:
        full_env = {**os.environ, **env}
    cmd = tuple(str(c) for c in cmd)
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    log.debug("$ %s%s%s", prefix, " " if prefix else "", quote(cmd))
    try:
        cp = subprocess.run(
            cmd,
            cwd=cwd,
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise ProgramMissing(cmd[0]) from e
    result = Result(cmd, cp.returncode, cp.stdout, cp.stderr)
    if check and cp.returncode != 0:
        raise CommandFailed(result)
    return result
