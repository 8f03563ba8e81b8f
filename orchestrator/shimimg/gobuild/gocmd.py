"""The only module that runs ``go``: ``go env``, ``go list`` and ``go build``, with the same
environment (GOOS, GOARCH, CGO_ENABLED, tags) for all three, so what ``go list`` reports is what
``go build`` compiles.

Every package argument is an import path go printed or a ``./``-relative folder, and goes after
``--``: nothing from a template or a config file can be read as a flag.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.plan.records import GOARCH
from shimimg.proc import CommandFailed, ProgramMissing, Result, run

log = logging.getLogger("shimimg.go")

# lambda.norpc drops aws-lambda-go's go1.x RPC server (unused on provided.* runtimes).
NORPC = "lambda.norpc"
# -trimpath and an empty buildid make the same source give the same bytes on any machine, so
# unchanged binaries keep their layer digests. VCS stamping would put the commit and dirty state
# into every binary, changing all of them (and their layers) on any commit.
LDFLAGS = "-s -w -buildid="
FLAGS = ("-buildvcs=false", "-trimpath", "-ldflags", LDFLAGS)
# What `go env` reports that changes what the go command produces or where it reads from.
ENV_KEYS = ("GOMOD", "GOWORK", "GOVERSION", "GOROOT", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64",
            "GOMODCACHE", "GOTOOLCHAIN", "GOPROXY", "GOINSECURE", "GONOSUMDB")
# Files of a package that go reads to build it (go list's field names).
FILE_FIELDS = ("GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles", "SFiles", "SwigFiles",
               "SwigCXXFiles", "SysoFiles", "EmbedFiles")
LIST_FIELDS = ("Dir", "ImportPath", "Name", "Standard", "Module", "Deps", "Error", "DepsErrors", "IgnoredGoFiles",
               *FILE_FIELDS)

INSTALL_HINT = "install Go 1.21+ (https://go.dev/dl/), or pass --prebuilt to take binaries you built"


@dataclass(frozen=True)
class BuildEnv:
    arch: str  # Lambda's name: arm64 / x86_64
    tags: tuple[str, ...]  # user tags; lambda.norpc is always added

    @property
    def tag_list(self) -> str:
        return ",".join(dict.fromkeys([NORPC, *self.tags]))

    @property
    def env(self) -> dict[str, str]:
        return {"GOOS": "linux", "GOARCH": GOARCH[self.arch], "CGO_ENABLED": "0"}

    def describe(self) -> str:
        return f"linux/{GOARCH[self.arch]} tags={self.tag_list} flags={' '.join(FLAGS)}"


_BEFORE: list[Callable[[], None]] = []


@contextlib.contextmanager
def before_each_run(fn: Callable[[], None]) -> Iterator[None]:
    """Call ``fn`` before every go command run inside the block (from any thread). A build starts
    its buildx check there: beside go's work when go has work, not at all on a no-op."""
    _BEFORE.append(fn)
    try:
        yield
    finally:
        _BEFORE.remove(fn)


def _go(args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True) -> Result:
    for fn in tuple(_BEFORE):
        fn()
    try:
        return run(["go", *args], cwd=cwd, env=env, check=check)
    except ProgramMissing:
        raise ShimimgError("go is not installed (or not on PATH)", hint=INSTALL_HINT) from None


def go_env(directory: Path, build: BuildEnv) -> dict[str, str]:
    """``go env`` as the go command sees it in ``directory`` (its module, workspace, toolchain)."""
    try:
        r = _go(["env", "-json", *ENV_KEYS], cwd=directory, env=build.env)
    except CommandFailed as e:
        raise ShimimgError(f"`go env` failed in {directory}: {e.result.err.strip() or e.result.out.strip()}",
                           hint="check the Go installation and the go.mod / go.work files there") from None
    data = json.loads(r.out or "{}")
    return {k: str(data.get(k, "")) for k in ENV_KEYS}


def _stream(text: str) -> list[dict[str, Any]]:
    """``go list -json`` prints one JSON object after another."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def go_list(module_root: Path, patterns: Sequence[str], build: BuildEnv, *, deps: bool = False) -> list[dict[str, Any]]:
    """``go list -e -json`` of ``patterns`` (with ``-deps``: and everything they import), in
    ``module_root`` with the build's environment and tags."""
    args = ["list", "-e", f"-json={','.join(LIST_FIELDS)}", "-tags", build.tag_list]
    if deps:
        args.append("-deps")
    try:
        r = _go([*args, "--", *patterns], cwd=module_root, env=build.env)
    except CommandFailed as e:
        # -e reports package problems in the output; a failure here is the module itself.
        detail = (e.result.err.strip() or e.result.out.strip()).splitlines()
        raise ShimimgError(f"`go list` failed in {module_root}:", problems=detail[-15:],
                           hint="fix the module (go.mod, go.work) so that `go list ./...` works there") from None
    return _stream(r.out)


def go_build(module_root: Path, packages: Sequence[str], out_dir: Path, build: BuildEnv, *,
             tmpdir: Path | None = None) -> Result:
    """``go build -o OUT_DIR/ PACKAGES`` (one output per main package, named by go); ``tmpdir``
    is go's work folder (GOTMPDIR)."""
    env = {**build.env, "GOTMPDIR": str(tmpdir)} if tmpdir is not None else build.env
    return _go(["build", "-o", f"{out_dir}/", "-tags", build.tag_list, *FLAGS, "--", *packages],
               cwd=module_root, env=env, check=False)


def local_paths(module_root: Path, build: BuildEnv, gowork: str = "") -> list[tuple[str, Path]]:
    """Folders go compiles from besides the module's own, as go.mod and go.work name them:
    (what names it, e.g. "replace x => ../y" or "go.work use ../z", the folder). Read with
    ``go mod edit -json`` / ``go work edit -json``, which only parse the files."""
    out: list[tuple[str, Path]] = []
    sources = [(["mod", "edit", "-json"], module_root, "go.mod")]
    if gowork and gowork != "off":
        sources.append((["work", "edit", "-json", "--", gowork], Path(gowork).parent, "go.work"))
    for args, base, name in sources:
        try:
            data = json.loads(_go(args, cwd=module_root, env=build.env).out or "{}")
        except (CommandFailed, ValueError):
            continue
        for rep in data.get("Replace") or []:
            new = rep.get("New") or {}
            if new.get("Path") and not new.get("Version"):  # a folder, not a module version
                old = (rep.get("Old") or {}).get("Path", "?")
                out.append((f"{name} replace {old} => {new['Path']}", base / new["Path"]))
        for use in data.get("Use") or []:
            if use.get("DiskPath"):
                out.append((f"go.work use {use['DiskPath']}", base / use["DiskPath"]))
    return out


def mod_edit_json(module_root: Path, build: BuildEnv) -> dict[str, Any]:
    """``go mod edit -json`` of the module: its go and toolchain lines among the rest (parsed only)."""
    try:
        data = json.loads(_go(["mod", "edit", "-json"], cwd=module_root, env=build.env).out or "{}")
    except (CommandFailed, ValueError) as e:
        raise ShimimgError(f"cannot read {module_root}/go.mod: {e}") from None
    return data if isinstance(data, dict) else {}
