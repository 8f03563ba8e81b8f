"""The only module that runs ``go``: handler → main package, per-handler input keys, the build.

One ``go build -o DIR/ ./cmd/a ./cmd/b ...`` per package shares compilation of common packages.
Handlers whose inputs did not change are not rebuilt (see ``handler_keys``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.fsutil import sha256_file
from shimimg.plan import GOARCH
from shimimg.proc import CommandFailed, ProgramMissing, run

log = logging.getLogger("shimimg.go")

# Tags and flags every handler is built with. lambda.norpc drops aws-lambda-go's go1.x RPC
# server (unused on provided.* runtimes); -trimpath and an empty buildid make the same source
# give the same bytes on any machine, so unchanged binaries keep their layer digests.
NORPC = "lambda.norpc"
LDFLAGS = "-s -w -buildid="
# VCS stamping would put the repository's commit and dirty state into every binary, changing
# all of them (and their layers) on any commit.
FLAGS = ("-buildvcs=false", "-trimpath", "-ldflags", LDFLAGS)
# What the go command reads to build packages. Anything else (templates, bin/, build outputs,
# caches) cannot change a binary, except files a //go:embed directive names (see _inputs).
_GO_SOURCES = {".go", ".s", ".S", ".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".m", ".syso", ".swig", ".swigcxx"}
_GO_META = {"go.mod", "go.sum", "go.work", "go.work.sum"}
_SKIP_DIRS = {".git", ".shimimg", ".aws-sam", "node_modules"}
# Environment the go command reads that changes what it produces.
_GO_ENV = ("GOVERSION", "GOROOT", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GOWORK")


@dataclass(frozen=True)
class HandlerSource:
    handler: str  # "bin/create_order"
    name: str  # the output file name, "create_order"
    pattern: str  # the main package relative to the module, "./cmd/create_order"
    main_dir: Path


@dataclass(frozen=True)
class Module:
    root: Path
    path: str  # the module path from go.mod


def find_module(start: Path) -> Module | None:
    """The Go module containing ``start`` (a directory), or None."""
    for d in (start, *start.parents):
        gomod = d / "go.mod"
        if gomod.is_file():
            m = re.search(r"^module\s+(\S+)", gomod.read_text(), re.M)
            return Module(root=d, path=m.group(1).strip('"') if m else "")
    return None


def _is_main_package(d: Path) -> bool:
    for f in d.glob("*.go"):
        if f.name.endswith("_test.go"):
            continue
        if re.search(r"^package\s+main\b", f.read_text(errors="replace"), re.M):
            return True
    return False


def resolve_mains(
    module: Module, handlers: Sequence[tuple[str, str]], mapping: Mapping[str, str]
) -> list[HandlerSource]:
    """Map each (handler, functions) to its main package: ``mapping`` first, else ``./cmd/<name>``.

    Raises one ShimimgError listing every handler without a main package.
    """
    out, problems = [], []
    for handler, functions in handlers:
        name = handler.rstrip("/").rsplit("/", 1)[-1]
        pattern = mapping.get(handler) or f"./cmd/{name}"
        main_dir = (module.root / pattern).resolve()
        if not main_dir.is_dir() or not _is_main_package(main_dir):
            problems.append(
                f"{handler} ({functions}): no main package at {pattern} in {module.root}; "
                f'add [tool.shimimg.handlers] "{handler}" = "./path/to/main" to map it'
            )
            continue
        out.append(HandlerSource(handler=handler, name=name, pattern=pattern, main_dir=main_dir))
    if problems:
        raise ShimimgError("cannot find the Go source of some handlers", problems=problems)
    return out


def _inputs(root: Path) -> dict[Path, str]:
    """Every file under ``root`` that can change a binary built from it → its sha256.

    Go sources and module files everywhere; any other file only below a folder whose Go code
    has a //go:embed directive (embedding can only reach below the package's folder). Folders
    holding a CACHEDIR.TAG (shimimg's cache has one) are skipped.
    """
    found: dict[Path, str] = {}
    embed_dirs: list[Path] = []
    others: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if "CACHEDIR.TAG" in filenames:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            path = Path(dirpath) / fn
            if fn.endswith("_test.go") or fn.startswith("."):
                continue
            if fn in _GO_META or path.suffix in _GO_SOURCES:
                data = path.read_bytes()
                found[path] = hashlib.sha256(data).hexdigest()
                if path.suffix == ".go" and b"//go:embed" in data:
                    embed_dirs.append(path.parent)
            else:
                others.append(path)
    for path in others:
        if any(d == path.parent or d in path.parents for d in embed_dirs):
            found[path] = sha256_file(path)
    return found


def _local_replacements(module: Module) -> list[Path]:
    """Folders that go.mod's ``replace X => ../dir`` lines pull in from outside the module."""
    text = (module.root / "go.mod").read_text(errors="replace")
    dirs = []
    for m in re.finditer(r"=>\s*((?:\.{1,2}/|/)\S*)", text):
        d = (module.root / m.group(1)).resolve()
        if d.is_dir() and module.root not in (d, *d.parents):
            dirs.append(d)
    return dirs


def toolchain() -> str:
    """The Go toolchain and the environment it reads, part of every key: a change rebuilds everything."""
    try:
        r = run(["go", "env", *_GO_ENV])
    except ProgramMissing:
        raise ShimimgError(
            "go is not installed (or not on PATH)",
            hint="install Go 1.21+ (https://go.dev/dl/), or pass --prebuilt to take binaries you built",
        ) from None
    except CommandFailed as e:
        raise ShimimgError(f"`go env` failed: {e}", hint="check your Go installation") from None
    values = dict(zip(_GO_ENV, r.out.split("\n")))
    gowork = values.get("GOWORK", "")
    if gowork and gowork != "off" and Path(gowork).is_file():
        values["GOWORK"] += "@" + sha256_file(Path(gowork))
    return " ".join(f"{k}={v}" for k, v in values.items())


def fingerprint(arch: str, tags: Sequence[str]) -> str:
    """Everything besides the sources that decides a binary's bytes."""
    return f"{toolchain()} linux/{GOARCH[arch]} tags={','.join(tags)} flags={' '.join(FLAGS)}"


def handler_keys(module: Module, sources: Sequence[HandlerSource], fingerprint: str) -> dict[str, str]:
    """A key per handler over everything that can change its binary.

    Go forbids importing a main package, so the files directly in another handler's main folder
    cannot reach this handler: they are left out of its key. Everything else in the module
    (shared packages, go.mod, go.sum, embedded files) is in every key.
    """
    # A main package at the module root shares its folder with go.mod: treat it as shared.
    own: dict[Path, hashlib._Hash] = {s.main_dir: hashlib.sha256() for s in sources if s.main_dir != module.root}
    shared = hashlib.sha256(fingerprint.encode())
    for root in (module.root, *_local_replacements(module)):
        for path, digest in sorted(_inputs(root).items()):
            h = own.get(path.parent, shared)
            h.update(f"{path.relative_to(root)}\0{digest}\0".encode())
    shared_hex = shared.hexdigest()
    return {
        s.handler: hashlib.sha256(
            f"{shared_hex}{own[s.main_dir].hexdigest() if s.main_dir in own else ''}{s.pattern}".encode()
        ).hexdigest()
        for s in sources
    }


def _out_name(module: Module, s: HandlerSource) -> str:
    """The file ``go build -o DIR/`` writes for a main package: the import path's last element,
    skipping a major-version suffix (example.com/tool/v2 → tool)."""
    rel = s.main_dir.relative_to(module.root).as_posix()
    parts = [p for p in f"{module.path}/{rel if rel != '.' else ''}".split("/") if p]
    if len(parts) > 1 and re.fullmatch(r"v[2-9]\d*|v1\d+", parts[-1]):
        parts.pop()
    return parts[-1]


def _batches(module: Module, sources: Sequence[HandlerSource]) -> list[list[HandlerSource]]:
    """``go build -o DIR/`` names outputs after the import path: split where two would collide."""
    batches: list[list[HandlerSource]] = []
    for s in sources:
        base = _out_name(module, s)
        for b in batches:
            if all(_out_name(module, o) != base for o in b):
                b.append(s)
                break
        else:
            batches.append([s])
    return batches


def _blame(output: str, module: Module, batch: Sequence[HandlerSource], functions: Mapping[str, str]) -> str:
    """Name the handlers whose packages the compiler complained about."""
    named = []
    for s in batch:
        rel = s.main_dir.relative_to(module.root).as_posix()
        if re.search(rf"(^# {re.escape(module.path)}/{re.escape(rel)}$|^{re.escape(rel)}/[^/\s]+\.go:)", output, re.M):
            named.append(f"{s.handler} ({functions.get(s.handler, '')})".replace(" ()", ""))
    return ", ".join(named)


def build(
    module: Module,
    sources: Sequence[HandlerSource],
    out_dir: Path,
    *,
    arch: str,
    tags: Sequence[str] = (),
    functions: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Compile ``sources`` for linux/``arch`` into ``out_dir``; returns handler → binary path."""
    functions = functions or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    all_tags = ",".join(dict.fromkeys([NORPC, *tags]))
    env = {"GOOS": "linux", "GOARCH": GOARCH[arch], "CGO_ENABLED": "0"}
    result: dict[str, Path] = {}
    for batch in _batches(module, sources):
        tmp = out_dir / ".go-out"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        cmd = ["go", "build", "-o", f"{tmp}/", "-tags", all_tags, *FLAGS, *(s.pattern for s in batch)]
        try:
            run(cmd, cwd=module.root, env=env)
        except ProgramMissing:
            toolchain()  # raises the install hint
            raise
        except CommandFailed as e:
            output = (e.result.err or e.result.out).strip()
            who = _blame(output, module, batch, functions)
            raise ShimimgError(
                f"go build failed for handler {who}:\n{output}"
                if who
                else f"go build failed in {module.root}:\n{output}",
                hint="fix the compile error above and run again",
            ) from None
        for s in batch:
            dest = out_dir / s.name
            os.replace(tmp / _out_name(module, s), dest)
            result[s.handler] = dest
        shutil.rmtree(tmp, ignore_errors=True)
    return result
