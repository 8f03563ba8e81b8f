"""Which main package each handler of a package is built from, and why.

Rules, first match wins (``shimimg plan`` shows which one decided each handler):

0. with ``--consolidate``, the main package each function had before its package was merged
   into its module's (see ``shimimg.plan.consolidate``);
1. a per-package mapping (``[packages."<CodeUri>".handlers]``);
2. the CodeUri folder is itself a main package: it is every function's binary, whatever the
   Handler is called (SAM's own go builder does the same);
3. a template-wide mapping (``[handlers]``);
4. ``cmd/<name>`` below the CodeUri, then below the module root;
5. the one main package in the module named like the binary (its folder, or a ``cmd`` folder
   inside a folder of that name); several such mains are refused, listing them.

What is a main package, and where, is what ``go list`` says (with the build's tags), not a guess.
A mapping value is a path relative to the module root (``./cmd/x`` or ``cmd/x``) to a main package; anything else is
refused with the reason. Every problem of a package is reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

RULE_PACKAGE_MAP = "package mapping"
RULE_CODEURI_MAIN = "CodeUri is a main package"
RULE_TEMPLATE_MAP = "template mapping"
RULE_CMD = "cmd/<name>"
RULE_NAMED = "only main named like the binary"
RULE_CONSOLIDATED = "consolidated"
_EXCLUDED = re.compile(r"build constraints exclude all Go files")


@dataclass(frozen=True)
class Resolved:
    handler: str  # "bin/create_order"
    name: str  # the binary's file name in the image ("create_order")
    main_dir: Path
    import_path: str
    rule: str
    why: str  # for plan: "mapped in shimimg.toml [handlers]"

    def to_json(self) -> dict[str, str]:
        return {"handler": self.handler, "main_dir": str(self.main_dir), "import_path": self.import_path,
                "rule": self.rule, "why": self.why, "name": self.name}

    @classmethod
    def from_json(cls, d: Mapping[str, str]) -> Resolved:
        return cls(d["handler"], d["name"], Path(d["main_dir"]), d["import_path"], d["rule"], d["why"])


@dataclass(frozen=True)
class Listing:
    """``go list ./...`` of one module: every package folder it found, with go's own verdict."""

    root: Path
    packages: Mapping[Path, Mapping[str, Any]]

    @classmethod
    def of(cls, root: Path, entries: Sequence[Mapping[str, Any]]) -> Listing:
        return cls(root, {Path(e["Dir"]): e for e in entries if e.get("Dir")})

    def is_main(self, d: Path) -> bool:
        return (self.packages.get(d) or {}).get("Name") == "main"

    def mains(self) -> list[Path]:
        return sorted(d for d, e in self.packages.items() if e.get("Name") == "main")

    def excluded(self, d: Path) -> bool:
        """Go files are there, but the build's tags exclude every one of them."""
        e = self.packages.get(d) or {}
        return bool(e.get("IgnoredGoFiles")) and bool(_EXCLUDED.search((e.get("Error") or {}).get("Err", "")))


@dataclass(frozen=True)
class Request:
    """What one package asks: its handlers (with the functions using each) and the mappings."""

    code_uri: str
    path: Path  # the CodeUri folder (it may not exist)
    handlers: tuple[tuple[str, str], ...]  # (handler, "FnA, FnB")
    package_map: Mapping[str, str]
    template_map: Mapping[str, str]
    package_table: str  # e.g. [packages."./".handlers], for messages
    template_table: str  # e.g. [handlers]
    config_name: str  # shimimg.toml or pyproject.toml
    # --consolidate's provided.* bootstrap functions: only a mapping or the CodeUri being a main
    # package may serve them (never a guess by name); the rest are left alone, not refused.
    optional: bool = False
    # --consolidate: handler → (main package folder, why) as resolved before packages were merged
    consolidated: Mapping[str, tuple[str, str]] = field(default_factory=dict)


class Problems(list):
    """Problems of one package, all reported at once; ``left``: optional handlers left alone, and why."""

    def __init__(self) -> None:
        super().__init__()
        self.left: list[tuple[str, str]] = []


def binary_name(handler: str) -> str:
    return handler.rstrip("/").rsplit("/", 1)[-1]


def _rel(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return "./" if rel == "." else "./" + rel.replace(os.sep, "/")


def check_mapping(value: str, listing: Listing) -> tuple[Path | None, str]:
    """A mapping value → the main package folder, or (None, why it is refused)."""
    if not value or value.startswith("-"):
        return None, "it starts with '-' (a mapping is a path, never a flag)" if value else "it is empty"
    if any(c in value for c in "\0\r\n\t") or "\\" in value:
        return None, "it holds control characters or backslashes"
    posix = PurePosixPath(value)
    if posix.is_absolute():
        return None, "it is absolute; give a path relative to the module root, e.g. ./cmd/x"
    target = Path(os.path.normpath(listing.root / value))
    real_root = Path(os.path.realpath(listing.root))
    try:
        real = Path(os.path.realpath(target))
    except OSError:
        real = target
    if real != real_root and real_root not in real.parents:
        return None, f"it leads outside the module ({listing.root})"
    if not target.is_dir():
        return None, f"{_rel(target, listing.root)} is not a folder in the module"
    if listing.excluded(target):
        return None, f"{value} holds Go files, but the build tags exclude all of them"
    if not listing.is_main(target):
        name = (listing.packages.get(target) or {}).get("Name") or "none"
        return None, f"{value} is not a main package (go list says package {name})"
    return target, ""


def _named_like(listing: Listing, name: str) -> list[Path]:
    return [d for d in listing.mains()
            if d.name == name or (d.name == "cmd" and d.parent.name == name)]


def resolve(req: Request, listing: Listing, *, config_file: str) -> tuple[list[Resolved], Problems]:
    """Each handler's main package, following the rules above; problems for the rest."""
    out: list[Resolved] = []
    problems = Problems()
    codeuri_main = listing.is_main(req.path)

    def mapped(handler: str, name: str, who: str, value: str, table: str, rule: str) -> None:
        target, why = check_mapping(value, listing)
        if target is None:
            problems.append(f"{who}: the mapping {table} \"{handler}\" = {value!r} in {config_file} is refused: {why}")
        else:
            out.append(_resolved(handler, name, target, listing, rule, f"{table} in {config_file}"))

    for handler, functions in req.handlers:
        name = binary_name(handler)
        who = f"{handler} ({functions})"
        if handler in req.consolidated:
            value, why = req.consolidated[handler]
            target, refused = check_mapping(value, listing)
            if target is None:  # the module changed since: say so rather than build something else
                problems.append(f"{who}: {value}, its main package before consolidation, is refused now: {refused}")
            else:
                out.append(_resolved(handler, name, target, listing, RULE_CONSOLIDATED, f"consolidated; was {why}"))
            continue
        if handler in req.package_map:
            mapped(handler, name, who, req.package_map[handler], req.package_table, RULE_PACKAGE_MAP)
            continue
        if codeuri_main:
            out.append(_resolved(handler, name, req.path, listing, RULE_CODEURI_MAIN,
                                 f"the CodeUri {req.code_uri} is a main package"))
            continue
        if req.optional:
            why = ("the build tags exclude its Go files" if listing.excluded(req.path) else
                   "it is not a Go main package (go list)")
            problems.left.append((handler, f"{req.code_uri} holds the bootstrap's code, but {why}: left as a custom "
                                           "runtime"))
            continue
        if listing.excluded(req.path):
            problems.append(f"{who}: the CodeUri {req.code_uri} holds Go files that the build tags exclude")
            continue
        if handler in req.template_map:
            mapped(handler, name, who, req.template_map[handler], req.template_table, RULE_TEMPLATE_MAP)
            continue
        cmd = next((d for d in dict.fromkeys([req.path / "cmd" / name, listing.root / "cmd" / name])
                    if listing.is_main(d)), None)
        if cmd is not None:
            out.append(_resolved(handler, name, cmd, listing, RULE_CMD, f"{_rel(cmd, listing.root)} is a main package"))
            continue
        excluded = [d for d in (req.path / "cmd" / name, listing.root / "cmd" / name) if listing.excluded(d)]
        if excluded:
            problems.append(f"{who}: {_rel(excluded[0], listing.root)} holds Go files, but the build tags exclude "
                            "all of them")
            continue
        # Whether or not the CodeUri folder exists (a zip's folder not built yet, a Makefile's
        # output folder): the name is what ties a binary to its main, and a second candidate refuses.
        named = _named_like(listing, name)
        if len(named) == 1:
            out.append(_resolved(handler, name, named[0], listing, RULE_NAMED,
                                 f"{_rel(named[0], listing.root)} is the only main package named {name}"))
            continue
        if named:
            problems.append(f"{who}: several main packages are named {name}: "
                            f"{', '.join(_rel(d, listing.root) for d in named)}; map it to one")
        else:
            candidates = (req.path / "cmd" / name, listing.root / "cmd" / name)
            looked = dict.fromkeys(_rel(d, listing.root) for d in candidates)
            problems.append(f"{who}: no main package for it in {listing.root} (looked for {', '.join(looked)} "
                            f"and mains named {name})")
    return out, problems


def _resolved(handler: str, name: str, main_dir: Path, listing: Listing, rule: str, why: str) -> Resolved:
    entry = listing.packages.get(main_dir) or {}
    return Resolved(handler, name, main_dir, str(entry.get("ImportPath", "")), rule, why)


def mapping_hint(req: Request, unresolved: Sequence[str], listing: Listing) -> str:
    """The table to paste, listing every unresolved handler of the package.

    A line names a real main package only when it is the one main named like the binary; every
    other line holds a placeholder that cannot resolve, so pasting the table as shown can never
    make a handler run its neighbour's code."""
    mains = [_rel(d, listing.root) for d in listing.mains()]
    lines = []
    for h in unresolved:
        name = binary_name(h)
        named = _named_like(listing, name)
        value = _rel(named[0], listing.root) if len(named) == 1 else f"./path/to/{name}"
        lines.append(f'    "{h}" = "{value}"')
    listed = ", ".join(mains[:12]) + (", ..." if len(mains) > 12 else "")
    known = f" (main packages in the module: {listed})" if mains else ""
    return (f"map each to its main package in {req.config_name} beside the template{known}, replacing each "
            f"./path/to/... with the folder of that handler's main package:\n    {req.package_table}\n"
            + "\n".join(lines))


def shared_across_main_codeuris(resolved: Mapping[str, Sequence[Resolved]],
                                codeuri_mains: Mapping[str, Path]) -> list[str]:
    """Functions of packages whose CodeUri is itself a main package, served by another main package
    that also serves other packages: the layout where one binary silently ran everyone's code."""
    users: dict[Path, set[str]] = {}
    for code_uri, items in resolved.items():
        for r in items:
            users.setdefault(r.main_dir, set()).add(code_uri)
    problems = []
    for code_uri, items in resolved.items():
        own = codeuri_mains.get(code_uri)
        for r in items:
            if own is not None and r.main_dir != own and len(users[r.main_dir]) > 1:
                problems.append(f"{code_uri} {r.handler}: the CodeUri is a main package, but {r.import_path} "
                                f"({r.why}) would serve it and {', '.join(sorted(users[r.main_dir] - {code_uri}))}")
    return problems
