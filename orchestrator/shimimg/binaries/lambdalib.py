"""Can a handler talk to the Lambda Runtime API? The aws-lambda-go version it links says.

aws-lambda-go before v1.18.0 only speaks the go1.x runtime's RPC protocol (it listens on
``_LAMBDA_SERVER_PORT``): on provided.* runtimes and images such a handler never asks the Runtime
API for work, and every invoke hangs until the function's timeout. The build still succeeds, so
shimimg checks every handler before it compiles (the version in the module's build list, as
``go list -deps`` reports it) or takes a prebuilt binary (the version in the binary's Go build
info), and refuses below the floor.

A binary without aws-lambda-go (another runtime client, a script) is not refused on that ground;
``plan`` says what it found. A Go binary built outside module mode carries no versions; the
library is then judged by what it reads from the environment (see ``from_binary``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shimimg.binaries import buildinfo

MODULE = "github.com/aws/aws-lambda-go"
PACKAGE = MODULE + "/lambda"
FLOOR = "v1.18.0"
_SEMVER = re.compile(r"v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")

Status = Literal["ok", "old", "none", "unknown"]


@dataclass(frozen=True)
class Library:
    """What one handler links: aws-lambda-go at ``version``, and whether it can serve a custom runtime."""

    status: Status
    version: str = ""  # "v1.17.0"; "" when unknown or absent
    detail: str = ""  # for plan: where the answer came from, or why it is unknown

    def describe(self) -> str:
        if self.status == "none":
            return f"no aws-lambda-go ({self.detail})" if self.detail else "no aws-lambda-go"
        if self.status == "unknown":
            return f"aws-lambda-go version unknown ({self.detail})"
        if not self.version:  # a binary built outside module mode: judged by the protocol it reads
            what = "a Runtime API client" if self.status == "ok" else "go1.x RPC only"
            return f"{what} ({self.detail})"
        return f"aws-lambda-go {self.version}" + (" (older than v1.18.0: go1.x RPC only)" if self.status == "old"
                                                    else "")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Library:
        return cls(d["status"], d.get("version") or "", d.get("detail", ""))

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "version": self.version or None, "detail": self.detail}


def _key(version: str) -> tuple | None:
    m = _SEMVER.fullmatch(version)
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    # A pre-release (and a pseudo-version, which is one) sorts before its release.
    return int(major), int(minor), int(patch), (0, pre) if pre else (1, "")


def below_floor(version: str) -> bool | None:
    """True when ``version`` is older than v1.18.0; None when it is not a semantic version."""
    k, floor = _key(version), _key(FLOOR)
    if k is None or floor is None:
        return None
    return k < floor


def judge(version: str, detail: str) -> Library:
    old = below_floor(version)
    if old is None:
        return Library("unknown", version, f"{detail}: {version!r} is not a release version" if version else detail)
    return Library("old" if old else "ok", version, detail)


def from_go_list(entries: Sequence[Mapping[str, Any]], mains: Iterable[str]) -> dict[str, Library]:
    """Import path of each main → the library go's build list gives it (``go list -deps`` entries)."""
    by_path = {e.get("ImportPath"): e for e in entries}
    lib = by_path.get(PACKAGE) or {}
    module = lib.get("Module") or {}
    replace = module.get("Replace") or {}
    if replace:
        version = replace.get("Version") or ""
        detail = (f"go.mod replaces it with {replace.get('Path')}" +
                  (f" {version}" if version else " (a local folder, no version)"))
    else:
        version, detail = module.get("Version") or "", "the module's build list, from go list"
    out = {}
    for main in mains:
        deps = set((by_path.get(main) or {}).get("Deps") or ())
        if PACKAGE not in deps:
            out[main] = Library("none", "", f"{main} does not import {PACKAGE}")
        elif replace and not version:
            out[main] = Library("unknown", "", detail)
        else:
            out[main] = judge(version, detail)
    return out


# Names only the library's Runtime API client reads, and only its go1.x RPC server reads. A Go
# binary built outside module mode records no versions; these names in its data tell which
# protocol it can speak (they are how the library finds its runtime, not a version guess).
_RUNTIME_API = b"AWS_LAMBDA_RUNTIME_API"
_RPC = b"_LAMBDA_SERVER_PORT"


def _mentions(path: Path, needles: Sequence[bytes], limit: int) -> set[bytes]:
    found: set[bytes] = set()
    keep = max(len(n) for n in needles)
    tail = b""
    read = 0
    with open(path, "rb") as f:
        while read < limit:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
            window = tail + chunk
            found.update(n for n in needles if n in window)
            tail = window[-keep:]
    return found


def from_binary(path: Path, *, limit: int = 1 << 30) -> Library:
    """The library a prebuilt binary links, from its Go build info."""
    info = buildinfo.read(path)
    if info is None:
        return Library("none", "", "not a Go binary")
    if info.has_modules:
        dep = info.dep(MODULE)
        if dep is None:
            return Library("none", "", f"built by {info.go_version} without {MODULE}")
        eff = dep.effective
        detail = f"build info ({info.go_version})"
        if dep.replaced_by is not None:
            detail += f", replaced by {eff.path}" + (f" {eff.version}" if eff.version else "")
            if not eff.version or eff.version == "(devel)":
                return Library("unknown", "", detail + ": a local replacement has no version")
        return judge(eff.version, detail)
    # GOPATH-era build: no versions recorded.
    found = _mentions(path, (_RUNTIME_API, _RPC), limit)
    detail = f"built by {info.go_version} outside module mode"
    if _RUNTIME_API in found:
        return Library("ok", "", detail + "; it reads AWS_LAMBDA_RUNTIME_API")
    if _RPC in found:
        return Library("old", "", detail + "; it reads only _LAMBDA_SERVER_PORT (the go1.x RPC protocol)")
    return Library("none", "", detail + "; no Lambda runtime client found")
