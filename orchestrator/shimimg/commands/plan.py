"""``shimimg plan``: which functions would move, grouped into one image per package."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shimimg import ui
from shimimg.plan import Plan
from shimimg.template import discover, load_document


def run(*, template: Path, as_json: bool, arch: str) -> int:
    plan = discover(load_document(template), arch=arch)
    if as_json:
        ui.print_json(plan_as_dict(plan))
    else:
        print(render_table(plan))
    return 0


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (``shimimg plan --json``); keys mirror the records' fields."""
    return {
        "template": str(plan.template),
        "packages": [
            {
                "code_uri": pkg.code_uri,
                "path": str(pkg.path),
                "kind": pkg.kind,
                "exists": _exists(pkg.path),
                "image": pkg.image,
                "arch": pkg.arch,
                "functions": [
                    {
                        "logical_id": fn.logical_id,
                        "resource_type": fn.resource_type,
                        "handler": fn.handler,
                        "binary": fn.binary,
                        "runtime": fn.runtime,
                        "arch": pkg.arch,
                        "memory": fn.memory,
                        "timeout": fn.timeout,
                        # null marks a value only CloudFormation can resolve (!Ref, !Sub, ...).
                        "environment": dict(fn.environment),
                        "layers": fn.layers,
                    }
                    for fn in pkg.functions
                ],
            }
            for pkg in plan.packages
        ],
        "skipped": [
            {"logical_id": s.logical_id, "reason": s.reason, "fix": s.fix, "line": s.line} for s in plan.skipped
        ],
        "untouched": list(plan.untouched),
    }


def render_table(plan: Plan) -> str:
    """The plan for a terminal: one block per package (its image), one row per function."""
    n_fn = sum(len(p.functions) for p in plan.packages)
    n_pkg = len(plan.packages)
    lines = [f"{_relative(plan.template, Path.cwd())}: {n_fn} Go function{'s' if n_fn != 1 else ''} "
             f"to move onto {n_pkg} image{'s' if n_pkg != 1 else ''}"]
    for pkg in plan.packages:
        missing = "" if _exists(pkg.path) else ", not found yet"
        lines += ["", f"{pkg.code_uri} ({pkg.kind}{missing}) -> {pkg.image} [{pkg.arch}]"]
        rows = []
        for fn in pkg.functions:
            handler = fn.handler if fn.binary == fn.handler else f"{fn.handler} ({fn.binary})"
            env = ", ".join(name if value is not None else f"{name}*" for name, value in fn.environment)
            rows.append([fn.logical_id, handler, _or_dash(fn.memory), _or_dash(fn.timeout),
                         (env[:37] + "...") if len(env) > 40 else (env or "-")])
        table = ui.table(rows, ["FUNCTION", "HANDLER", "MEMORY", "TIMEOUT", "ENV"])
        lines += ["  " + row for row in table.splitlines()]
    functions = [fn for pkg in plan.packages for fn in pkg.functions]
    if any(value is None for fn in functions for _, value in fn.environment):
        lines += ["", "* set by an intrinsic: known only when CloudFormation deploys the stack"]
    layered = [fn.logical_id for fn in functions if fn.layers]
    if layered:
        lines += ["", f"have Layers, which images cannot take (migrate needs --drop-layers): {', '.join(layered)}"]
    if plan.skipped:
        lines += ["", "not buildable (migrate refuses until these are fixed):"]
        for s in plan.skipped:
            where = f" (line {s.line})" if s.line else ""
            lines.append(f"  {s.logical_id}{where}: {s.reason}")
            if s.fix:
                lines.append(f"    fix: {s.fix}")
    if plan.untouched:
        lines += ["", f"left as they are: {', '.join(plan.untouched)}"]
    return "\n".join(lines)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)
