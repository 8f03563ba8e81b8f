"""The only module that runs ``git``: revision, source URL and commit time for the OCI labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shimimg.proc import CommandFailed, ProgramMissing, run


@dataclass(frozen=True)
class Revision:
    commit: str = ""
    commit_time: str = ""  # seconds since the epoch
    source: str = ""  # the remote URL, when there is one
    dirty: bool = False


def revision(directory: Path) -> Revision:
    """What git knows of ``directory``; empty fields where it is not in a repository."""
    try:
        r = run(["git", "-C", str(directory), "log", "-1", "--format=%H %ct"], check=True)
    except (CommandFailed, ProgramMissing):
        return Revision()
    commit, _, ctime = r.out.strip().partition(" ")
    url = run(["git", "-C", str(directory), "config", "--get", "remote.origin.url"], check=False).out.strip()
    dirty = bool(run(["git", "-C", str(directory), "status", "--porcelain", "--", "."], check=False).out.strip())
    return Revision(commit=commit, commit_time=ctime, source=url, dirty=dirty)
