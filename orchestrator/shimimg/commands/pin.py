"""``shimimg pin``: merge the ``push --json`` results of several CI shards (``push --package``) into
the one digest-pinned template.

Results are untrusted (``results``): size-capped, shape-checked, each image a digest reference in
its package's repository. Results are refused when they come from another template (its content
hash), another commit, or another schema; when two name one package; and when a package of the
template has none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from shimimg import registry, ui
from shimimg.commands import output as outmod
from shimimg.commands import results as resmod
from shimimg.commands.planning import load_plan
from shimimg.commands.schema import SCHEMA_VERSION, template_sha256
from shimimg.config import Settings
from shimimg.errors import ShimimgError
from shimimg.vcs import revision

log = logging.getLogger("shimimg.pin")
_FIX = resmod.FIX


def run(*, template: Path, output: Path | None, results: Sequence[Path], as_json: bool, settings: Settings,
        repositories: Sequence[str] = ()) -> int:
    outmod.check(template, output, "pinned")
    doc, plan = load_plan(template, settings)
    told: dict[str, str] = {}  # code_uri → the repository its image must be in, when pin is told
    if repositories:
        assigned = registry.assign(plan.packages, repositories, base=plan.template.parent)
        told = {p.code_uri: assigned[p.path].uri for p in plan.packages}
    digest = template_sha256(template)
    rev = revision(template.resolve().parent)
    current = rev.commit + ("-dirty" if rev.dirty else "") if rev.commit else None
    problems: list[str] = []
    chosen: dict[str, tuple[Path, dict]] = {}
    for path in results:
        data = resmod.check(path, resmod.read(path), told)
        if data.template_sha256 != digest:
            problems.append(f"{path}: pushed from another version of the template (content differs from {template})")
            continue
        theirs = data.revision
        if (theirs or "").removesuffix("-dirty") != (current or "").removesuffix("-dirty"):
            problems.append(f"{path}: pushed at revision {theirs}, this checkout is {current}")
            continue
        if theirs and theirs.endswith("-dirty"):
            log.warning("%s: pushed from a checkout with uncommitted changes", path)
        for pkg in data.packages:
            code_uri = pkg["code_uri"]
            if code_uri in chosen and chosen[code_uri][1]["push"]["image_uri"] != pkg["push"]["image_uri"]:
                problems.append(f"{code_uri}: {chosen[code_uri][0]} and {path} pin different images "
                                f"({chosen[code_uri][1]['push']['image_uri']}, {pkg['push']['image_uri']})")
                continue
            chosen[code_uri] = (path, pkg)
    missing = [p.code_uri for p in plan.packages if p.code_uri not in chosen]
    problems += [f"package {c} has no result: its shard did not run, or its result was not passed" for c in missing]
    unknown = sorted(set(chosen) - {p.code_uri for p in plan.packages})
    problems += [f"package {c} ({chosen[c][0]}) is not a package of {template}" for c in unknown]
    if problems:
        raise ShimimgError(f"cannot pin {template} from {len(results)} result(s); nothing was written",
                           problems=problems, hint=_FIX)
    uris = {p.path: chosen[p.code_uri][1]["push"]["image_uri"] for p in plan.packages}
    out = outmod.write_template(doc, plan, uris, settings, template, output, kind="pinned")
    if as_json:
        ui.print_json({"schema_version": SCHEMA_VERSION, "command": "pin", "template": str(plan.template),
                       "output": str(out), "template_sha256": digest, "revision": current,
                       "packages": [chosen[p.code_uri][1] for p in plan.packages]})
        return 0
    ui.print_table([[p.code_uri, uris[p.path], str(chosen[p.code_uri][0])] for p in plan.packages],
                   ["PACKAGE", "IMAGE", "FROM"], summary=True)
    ui.print_result(f"template: {out}")
    return 0
