"""Where each package's binaries come from: its Go module, each handler's main package, and a key
per handler over exactly its build inputs. ``go env`` and ``go list`` answer; their answers are
kept with a stamp (see ``stamp``) and reused while nothing they read has changed, so a rebuild
with nothing changed runs no ``go`` at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shimimg.binaries import lambdalib
from shimimg.errors import ShimimgError
from shimimg.fsutil import has_go_files
from shimimg.gobuild import closure, stamp, tags
from shimimg.gobuild.gocmd import NORPC, BuildEnv, go_env, go_list
from shimimg.gobuild.resolve import (
    Listing,
    Request,
    Resolved,
    mapping_hint,
    resolve,
    shared_across_main_codeuris,
)

log = logging.getLogger("shimimg.go")
_VERSION = 2  # of the recorded answers' format


class Stamps(Protocol):
    def get_stamp(self, name: str) -> dict | None: ...
    def put_stamp(self, name: str, data: dict) -> None: ...


@dataclass(frozen=True)
class Module:
    root: Path
    env: Mapping[str, str]  # go env in that module

    @property
    def workspace_files(self) -> list[str]:
        gowork = self.env.get("GOWORK", "")
        if not gowork or gowork == "off":
            return []
        return [gowork, gowork + ".sum"]

    @property
    def fingerprint(self) -> str:
        keys = ("GOVERSION", "GOROOT", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64")
        return " ".join(f"{k}={self.env.get(k, '')}" for k in keys)


@dataclass(frozen=True)
class PackageSources:
    code_uri: str
    module: Module
    handlers: tuple[Resolved, ...]
    keys: Mapping[str, str]  # handler → key
    warnings: tuple[str, ...] = ()
    from_stamp: bool = False  # answered from the record, no go run
    # handler → the aws-lambda-go its main links, from the module's build list (see lambdalib)
    libraries: Mapping[str, lambdalib.Library] = field(default_factory=dict)
    # optional handlers (--consolidate's bootstrap functions) no main package serves, and why
    left: tuple[tuple[str, str], ...] = ()


@dataclass
class ModuleRequest:
    module: Module
    requests: list[Request] = field(default_factory=list)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def find_module(directory: Path, build: BuildEnv, stamps: Stamps) -> Module | None:
    """The Go module go uses for ``directory`` (or the nearest folder above it that exists), from
    ``go env``; None when it is in no module (a GOPATH-era tree, a folder of prebuilt binaries)."""
    existing = directory
    while not existing.is_dir() and existing != existing.parent:
        existing = existing.parent
    name = "env-" + _digest(str(existing), build.describe())
    record = stamps.get_stamp(name)
    env_now = stamp.environment(os.environ)
    if (record and record.get("v") == _VERSION and record.get("environment") == json.loads(json.dumps(env_now))
            and stamp.unchanged(record["files"])):
        answer = record["goenv"]
    else:
        files = stamp.paths(stamp.ancestors(existing))
        answer = go_env(existing, build)
        stamps.put_stamp(name, {"v": _VERSION, "environment": env_now, "files": files, "goenv": answer})
    gomod = answer.get("GOMOD", "")
    if not gomod or gomod == os.devnull:
        return None
    return Module(Path(gomod).parent, answer)


def sources(module: Module, requests: Sequence[Request], build: BuildEnv, stamps: Stamps, *,
            config_file: str) -> list[PackageSources]:
    """Resolve and key every request (package) of one module: one ``go list ./...`` and one
    ``go list -deps`` for all of them, or none when the record still holds."""
    name = "mod-" + _digest(str(module.root), build.describe(), module.env,
                            [(r.code_uri, str(r.path), r.handlers, dict(r.package_map), dict(r.template_map),
                              r.optional) for r in requests])
    record = stamps.get_stamp(name)
    if record and record.get("v") == _VERSION and stamp.unchanged(record["stat"]):
        return [_from_record(module, item, True) for item in record["packages"]]
    # Taken before go reads anything: a file changed while go runs leaves a stamp that differs.
    before = stamp.tree(module.root)
    # One go list for both questions (which folders are main packages, and what each main is
    # built from): -deps over ./... costs one module load instead of two.
    entries = go_list(module.root, ["./..."], build, deps=True)
    root = str(module.root)
    own = [e for e in entries if e.get("Dir") == root or str(e.get("Dir", "")).startswith(root + os.sep)]
    listing = Listing.of(module.root, own)
    # `./...` leaves out folders whose Go files the tags exclude; ask about the ones that matter
    # by name, so the answer can say "excluded by build tags" rather than "no main package".
    hidden = [d for d in _candidates(module.root, requests) if d not in listing.packages and has_go_files(d)]
    if hidden:
        named = go_list(module.root, ["./" + os.path.relpath(d, module.root) for d in hidden], build)
        listing = Listing.of(module.root, [*own, *named])
    resolved: dict[str, list[Resolved]] = {}
    problems: list[str] = []
    hints: list[str] = []
    excluded_dirs: list[Path] = []
    warnings: dict[str, list[str]] = {}
    left: dict[str, list[tuple[str, str]]] = {}
    for req in requests:
        items, probs = resolve(req, listing, config_file=config_file)
        resolved[req.code_uri] = items
        left[req.code_uri] = probs.left
        if not req.path.exists():
            warnings.setdefault(req.code_uri, []).append(
                f"CodeUri {req.code_uri} does not exist ({req.path}); its handlers are built from the module "
                f"at {module.root}" + (" only as mapped or found there" if items else ""))
        if probs:
            problems += [f"{req.code_uri}: {p}" for p in probs]
            unresolved = [h for h, _ in req.handlers if all(r.handler != h for r in items)]
            hints.append(mapping_hint(req, unresolved, listing))
            excluded_dirs += [d for d in (req.path, req.path / "cmd", module.root / "cmd") if d.is_dir()]
            excluded_dirs += [c for d in (req.path / "cmd", module.root / "cmd") if d.is_dir() for c in d.iterdir()
                              if c.is_dir() and listing.excluded(c)]
    codeuri_mains = {r.code_uri: r.path for r in requests if listing.is_main(r.path)}
    problems += shared_across_main_codeuris(resolved, codeuri_mains)
    if problems:
        excluded = [d for d in dict.fromkeys(excluded_dirs) if listing.excluded(d)]
        hint = tags.hint(excluded, build.tags) if excluded else "\n  ".join(dict.fromkeys(hints))
        raise ShimimgError(f"cannot tell which main package to build for {len(problems)} handler(s) in "
                           f"{module.root}", problems=problems, hint=hint)
    _refuse_tag_fallbacks(resolved, listing, entries, build)
    for code_uri, gated in _tag_gated(resolved, listing, build).items():
        warnings.setdefault(code_uri, []).extend(gated)
    previous = (record or {}).get("hashes") if record and record.get("v") == _VERSION else None
    hasher = closure.Hasher(previous)
    fingerprint = f"{module.fingerprint} {build.describe()}"
    by_import = {r.import_path: r.import_path for items in resolved.values() for r in items}
    key_of, read = closure.keys(entries, by_import, fingerprint=fingerprint,
                                modcache=module.env.get("GOMODCACHE", ""),
                                workspace_files=module.workspace_files, hasher=hasher)
    libs = lambdalib.from_go_list(entries, by_import)
    out = [PackageSources(req.code_uri, module, tuple(resolved[req.code_uri]),
                          {r.handler: key_of[r.import_path] for r in resolved[req.code_uri]},
                          tuple(warnings.get(req.code_uri, ())),
                          libraries={r.handler: libs[r.import_path] for r in resolved[req.code_uri]},
                          left=tuple(left[req.code_uri]))
           for req in requests]
    # The stamp: the module tree (new mains, new files), every file a key read, and their folders.
    stat = dict(before)
    stat.update({p: hasher.now[p][0] for p in read if p not in stat and p in hasher.now})
    stat.update(stamp.paths({os.path.dirname(p) for p in read} - set(stat)))
    stat.update(stamp.paths(p for p in module.workspace_files if p not in stat))
    stamps.put_stamp(name, {"v": _VERSION, "stat": stat, "hashes": hasher.now,
                            "packages": [_to_record(ps) for ps in out]})
    return out


def _candidates(root: Path, requests: Sequence[Request]) -> list[Path]:
    out: list[Path] = []
    for r in requests:
        out.append(r.path)
        for handler, _ in r.handlers:
            name = handler.rstrip("/").rsplit("/", 1)[-1]
            out += [r.path / "cmd" / name, root / "cmd" / name]
        for value in (*r.package_map.values(), *r.template_map.values()):
            if value and not value.startswith(("-", "/")):
                out.append(Path(os.path.normpath(root / value)))
    real_root = os.path.realpath(root)
    return [d for d in dict.fromkeys(out) if os.path.realpath(d).startswith(real_root + os.sep) or d == root]


RUNTIME_PACKAGE = "github.com/aws/aws-lambda-go/lambda"


def _refuse_tag_fallbacks(resolved: Mapping[str, Sequence[Resolved]], listing: Listing,
                          entries: Sequence[Mapping[str, Any]], build: BuildEnv) -> None:
    """A main that does not start aws-lambda-go's runtime with these tags, while files the tags
    leave out do: with ``//go:build lambda`` / ``!lambda`` pairs that is a local tool standing in
    for the handler. Building it would succeed and ship the wrong program, so refuse."""
    deps = {e.get("ImportPath"): set(e.get("Deps") or ()) for e in entries}
    problems, folders = [], []
    for code_uri, items in resolved.items():
        for r in items:
            if RUNTIME_PACKAGE in deps.get(r.import_path, set()):
                continue
            ignored = (listing.packages.get(r.main_dir) or {}).get("IgnoredGoFiles") or []
            wanted = [t for t in tags.constraint_tags(r.main_dir / f for f in ignored) if t not in build.tags]
            if wanted:
                problems.append(f"{code_uri}: {r.handler}: {r.import_path} does not import {RUNTIME_PACKAGE} with "
                                f"tags {build.tag_list}, but its files for tags {', '.join(wanted)} may: the build "
                                "would ship the other variant")
                folders.append(r.main_dir)
    if problems:
        raise ShimimgError(f"{len(problems)} handler(s) would be built without the Lambda code their build tags "
                           "leave out", problems=problems, hint=tags.hint(folders, build.tags))


def _tag_gated(resolved: Mapping[str, Sequence[Resolved]], listing: Listing, build: BuildEnv) -> dict[str, list[str]]:
    """Main packages with files the build's tags leave out (go list's IgnoredGoFiles): if the
    handler needs them, go build fails a minute from now with "undefined: ...". Said up front."""
    out: dict[str, list[str]] = {}
    for code_uri, items in resolved.items():
        for r in items:
            ignored = (listing.packages.get(r.main_dir) or {}).get("IgnoredGoFiles") or []
            wanted = [t for t in tags.constraint_tags(r.main_dir / f for f in ignored)
                      if t not in build.tags and t != NORPC]
            if wanted:
                flags = " ".join(f"--go-tag {t}" for t in wanted)
                out.setdefault(code_uri, []).append(
                    f"{code_uri}: {r.handler}: {r.import_path} leaves out {', '.join(sorted(ignored))} unless built "
                    f"with tags {', '.join(wanted)}; if the handler needs them, pass {flags}")
    return out


def _to_record(ps: PackageSources) -> dict:
    return {"code_uri": ps.code_uri, "handlers": [r.to_json() for r in ps.handlers], "keys": dict(ps.keys),
            "warnings": list(ps.warnings), "libraries": {h: lib.to_json() for h, lib in ps.libraries.items()},
            "left": [list(x) for x in ps.left]}


def _from_record(module: Module, item: Mapping[str, Any], from_stamp: bool) -> PackageSources:
    return PackageSources(item["code_uri"], module, tuple(Resolved.from_json(h) for h in item["handlers"]),
                          dict(item["keys"]), tuple(item.get("warnings", ())), from_stamp,
                          {h: lambdalib.Library.from_json(d) for h, d in item.get("libraries", {}).items()},
                          tuple((h, why) for h, why in item.get("left", ())))


def group(requests: Sequence[tuple[Request, Module]]) -> list[ModuleRequest]:
    by_root: dict[Path, ModuleRequest] = {}
    for req, module in requests:
        by_root.setdefault(module.root, ModuleRequest(module)).requests.append(req)
    return list(by_root.values())

