"""The ``--json`` documents of every command, in one place so their shapes agree: a
``schema_version``, the ``command``, the ``template``, and ``packages`` each with the same
``functions`` list of objects. docs/json.md documents them; docs/schema/*.json are the JSON
Schemas the tests validate real output against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shimimg.plan.records import Function, Package, Plan
from shimimg.readfile import TEMPLATE_MAX, read_bytes

SCHEMA_VERSION = 1


def template_sha256(template: Path) -> str:
    return hashlib.sha256(read_bytes(template, TEMPLATE_MAX, "template")).hexdigest()


def function_doc(fn: Function) -> dict[str, Any]:
    return {"logical_id": fn.logical_id, "handler": fn.handler, "binary": fn.binary}


def _head(command: str, template: Path) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "command": command, "template": str(template)}


def _package(pkg: Package) -> dict[str, Any]:
    return {"code_uri": pkg.code_uri, "path": str(pkg.path), "kind": pkg.kind, "arch": pkg.arch,
            "functions": [function_doc(f) for f in pkg.functions]}


def revision_text(template: Path) -> str | None:
    """The git commit of the template's folder (``-dirty`` with uncommitted changes), None outside
    git. It goes into --json output, not into the image (issue 20: a label would change every
    digest on every commit); ``pin`` compares it across shards."""
    from shimimg.vcs import revision

    rev = revision(template.resolve().parent)
    return rev.commit + ("-dirty" if rev.dirty else "") if rev.commit else None


def build_document(result: Any, output: Path) -> dict[str, Any]:
    doc = _head("build", result.plan.template)
    doc["output"] = str(output)
    doc["revision"] = revision_text(result.plan.template)
    doc["packages"] = []
    for img in result.images:
        p = _package(img.package)
        p["image"] = {"tag": img.tag, "id": img.image_id, "digest": img.digest, "cached": img.cached}
        doc["packages"].append(p)
    return doc


def push_document(result: Any, pushed: Sequence[Any], output: Path, *, template: Path) -> dict[str, Any]:
    doc = _head("push", result.plan.template)
    doc["output"] = str(output)
    doc["template_sha256"] = template_sha256(template)
    doc["revision"] = revision_text(template)
    doc["packages"] = []
    by_path = {img.package.path: img for img in result.images}
    for p in pushed:
        item = _package(p.package)
        img = by_path.get(p.package.path)
        if img is not None:
            item["image"] = {"tag": img.tag, "id": img.image_id, "digest": img.digest, "cached": img.cached}
        item["push"] = {
            "repository": p.repository.uri, "tags": list(p.tags), "digest": p.digest, "image_uri": p.image_uri,
            "layers": p.stats.layers, "layers_pushed": p.stats.layers_pushed,
            "layers_mounted": p.stats.layers_mounted, "bytes_pushed": p.stats.bytes_pushed,
        }
        doc["packages"].append(item)
    return doc


def plan_document(plan: Plan, reports: dict[Path, Any], problems: Sequence[str],
                  notes: Sequence[str] = ()) -> dict[str, Any]:
    """``reports``: package path → ``commands.plan.Report`` (binaries, module, mains, libraries,
    files beside the binaries, findings)."""
    doc = _head("plan", plan.template)
    doc["packages"] = []
    for pkg in plan.packages:
        report = reports.get(pkg.path)
        how = report.how if report else "prebuilt"
        item = _package(pkg)
        item.update({"exists": _exists(pkg.path), "image": pkg.image, "binaries": how,
                     "module": str(report.module) if report and report.module else None,
                     "data": [{"path": rel, "bytes": n} for rel, n in (report.data if report else [])],
                     "uncovered": [{"pattern": g, "files": n} for g, n in (report.uncovered if report else [])],
                     "notes": list(report.notes) if report else []})
        item["functions"] = []
        for fn in pkg.functions:
            f = function_doc(fn)
            r = report.resolved.get(fn.binary) if report else None
            lib = report.libraries.get(fn.binary) if report else None
            f.update({
                "resource_type": fn.resource_type, "runtime": fn.runtime, "arch": pkg.arch,
                "template_arch": fn.template_arch, "memory": fn.memory, "timeout": fn.timeout,
                # null marks a value only CloudFormation can resolve (!Ref, !Sub, ...).
                "environment": dict(fn.environment), "layers": fn.layers,
                "main": ({"dir": str(r.main_dir), "import_path": r.import_path, "rule": r.rule, "why": r.why}
                         if r is not None else None),
                # null: not known (a zip not built yet)
                "library": lib.to_json() if lib is not None else None,
            })
            item["functions"].append(f)
        doc["packages"].append(item)
    doc["skipped"] = [{"logical_id": s.logical_id, "reason": s.reason, "fix": s.fix, "line": s.line}
                      for s in plan.skipped]
    doc["untouched"] = [{"logical_id": u.logical_id, "reason": u.reason} for u in plan.untouched]
    doc["arch_changes"] = [{"logical_id": fn.logical_id, "from": old, "to": new}
                           for fn, old, new in plan.arch_changes()]
    # Problems that make build refuse (a pipeline gates on these), then findings that do not.
    doc["warnings"] = list(problems)
    doc["notes"] = list(notes)
    # --consolidate: each image after merging, and the packages (CodeUris) it replaces.
    doc["consolidation"] = [{"code_uri": m.code_uri, "module": str(m.module), "before": list(m.before),
                             "functions": m.functions, "binaries": m.binaries, "workspace": m.workspace}
                            for m in plan.merges]
    return doc


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
