"""The only module that runs ``git``: revision, source URL and commit time for the OCI labels.

git runs in the user's repository, which may not be theirs to trust: the configuration that
would make these read-only commands run programs (an fsmonitor hook) is switched off, and
``--no-optional-locks`` keeps ``git status`` from writing to the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shimimg.proc import CommandFailed, ProgramMissing, run

_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "--no-optional-locks")


@dataclass(frozen=True)
class Revision:
    commit: str = ""
    commit_time: str = ""  # seconds since the epoch
    source: str = ""  # the remote URL, when there is one
    dirty: bool = False


def _git(directory: Path, *args: str) -> str | None:
    try:
        r = run(["git", *_SAFE, "-C", str(directory), *args], check=True, timeout=30)
    except (CommandFailed, ProgramMissing, OSError):
        return None
    except Exception as e:  # a git that hangs (subprocess.TimeoutExpired): labels are optional
        if type(e).__name__ == "TimeoutExpired":
            return None
        raise
    return r.out.strip()


def revision(directory: Path) -> Revision:
    """What git knows of ``directory``; empty fields where it is not in a repository."""
    if _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return Revision()
    log = _git(directory, "log", "-1", "--format=%H %ct") or ""
    commit, _, ctime = log.partition(" ")
    url = _git(directory, "config", "--get", "remote.origin.url") or ""
    status = _git(directory, "status", "--porcelain", "--", ".")
    return Revision(commit=commit, commit_time=ctime, source=url, dirty=bool(status))
