"""The only module that runs ``git``: revision, source URL and commit time for the OCI labels.

git runs in the user's repository, which may not be theirs to trust (issue 19): every setting that
makes these read-only commands run a program is overridden on the command line, which wins over
any config file. Measured with git 2.39 and planted programs that leave a mark:
``core.fsmonitor`` ran on ``git status`` (``core.fsmonitor=false`` stops it); a clean or process
filter named in ``.gitattributes`` ran on ``git status`` for a touched file, and
``-c filter.<name>.clean= -c filter.<name>.process=`` (an empty command) stops it, so the drivers
the config defines are listed first (reading config runs nothing); a ``post-index-change`` hook
ran when ``git status`` refreshed the index, and ``--no-optional-locks`` stops that write;
``gpg.program`` ran on ``git log`` with ``log.showSignature``, stopped by
``log.showSignature=false``. Submodules are not entered (their config is not listed here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shimimg.proc import CommandFailed, ProgramMissing, run

_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "-c", "log.showSignature=false",
         "-c", "core.hooksPath=/dev/null", "-c", "status.submoduleSummary=false", "--no-optional-locks",
         "--no-pager")


@dataclass(frozen=True)
class Revision:
    commit: str = ""
    commit_time: str = ""  # seconds since the epoch
    source: str = ""  # the remote URL, when there is one
    dirty: bool = False


def _no_filters(directory: Path) -> tuple[str, ...]:
    """``-c`` overrides that empty every filter driver the config defines (any file it includes)."""
    try:
        r = run(["git", *_SAFE, "-C", str(directory), "config", "--null", "--name-only", "--get-regexp",
                 r"^filter\..*\.(clean|smudge|process)$"], check=False, timeout=30)
    except (ProgramMissing, OSError):
        return ()
    except Exception as e:
        if type(e).__name__ == "TimeoutExpired":
            return ()
        raise
    names = {key.rsplit(".", 1)[0] for key in r.out.split("\0") if key.startswith("filter.")}
    return tuple(arg for name in sorted(names) for kind in ("clean", "smudge", "process")
                 for arg in ("-c", f"{name}.{kind}="))


def _git(directory: Path, *args: str, secret: bool = False) -> str | None:
    try:
        overrides = _no_filters(directory) if args[0] == "status" else ()
        extra = ("--ignore-submodules=all",) if args[0] == "status" else ()
        r = run(["git", *_SAFE, *overrides, "-C", str(directory), args[0], *extra, *args[1:]], check=True,
                timeout=30, secret_output=secret)
    except (CommandFailed, ProgramMissing, OSError):
        return None
    except Exception as e:  # a git that hangs (subprocess.TimeoutExpired): labels are optional
        if type(e).__name__ == "TimeoutExpired":
            return None
        raise
    return r.out.strip()


# scp-like ssh remotes: git@host:owner/repo.git (no scheme; the user part is a login name, not a secret).
_SCP = re.compile(r"(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//)[A-Za-z0-9._~/-]+")


def public_url(url: str) -> str:
    """The remote URL as it may be published, or "" when it cannot be.

    In CI the origin URL often carries the job's token (``https://gitlab-ci-token:TOKEN@host/x``,
    ``https://x-access-token:TOKEN@github.com/...``): userinfo, query and fragment go. Only
    http(s) and ssh remotes are recorded; a local path, ``file://`` or ``ext::`` says nothing a
    reader of the image can use, and may say more than it should.
    """
    url = url.strip()
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return ""
    if "://" not in url:
        # user@host:path (scp-like ssh): the same remote as ssh://host/path, without the user.
        if _SCP.fullmatch(url):
            host, _, path = url.split("@", 1)[-1].partition(":")
            return f"ssh://{host}/{path.lstrip('/')}"
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https", "ssh", "git+ssh", "ssh+git") or not parts.hostname:
        return ""
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))


def revision(directory: Path) -> Revision:
    """What git knows of ``directory``; empty fields where it is not in a repository."""
    if _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return Revision()
    log = _git(directory, "log", "-1", "--format=%H %ct") or ""
    commit, _, ctime = log.partition(" ")
    url = _git(directory, "config", "--get", "remote.origin.url", secret=True) or ""
    status = _git(directory, "status", "--porcelain", "--", ".")
    return Revision(commit=commit, commit_time=ctime, source=public_url(url), dirty=bool(status))
