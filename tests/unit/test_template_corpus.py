"""The corpus in tests/corpus/: every template is migrated and the result checked five ways.

1. The diff equals the reviewed one in tests/corpus/expected/ (SHIMIMG_UPDATE_GOLDEN=1 rewrites them).
2. The diff removes only lines the rewrite needs, keeps every comment line, and adds only image settings.
3. What SAM sees after merging Globals is unchanged, apart from the zip → image properties.
4. Migrating the result again changes nothing.
5. The result passes the SAM translator and cfn-lint (no E-level finding).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from yaml.nodes import MappingNode

from shimimg.plan.records import Plan
from shimimg.template import Document, discover, load_document, parse_document, render_migrated
from shimimg.template.discovery import function_sites, globals_function
from shimimg.template.document import get, members
from shimimg.template.edits import content_end
from shimimg.template.intrinsics import to_data
from shimimg.template.packages import placeholder_uri
from shimimg.template.textdiff import unified_diff
from support import EXAMPLE, ROOT

CORPUS = ROOT / "tests" / "corpus"
EXPECTED = CORPUS / "expected"
TEMPLATES = sorted([*CORPUS.glob("*.yaml"), *CORPUS.glob("*.json")])
CASES = [*TEMPLATES, EXAMPLE / "template.yaml"]
UPDATE = os.environ.get("SHIMIMG_UPDATE_GOLDEN") == "1"

SAM_FUNCTION, LAMBDA_FUNCTION = "AWS::Serverless::Function", "AWS::Lambda::Function"
ZIP_KEYS = {"Runtime", "Handler", "CodeUri", "Layers", "Code"}
IMAGE_KEYS = {"PackageType", "ImageUri", "ImageConfig", "Architectures", "Code"}
# Keys whose members the rewrite edits, and what an added line may hold.
TOUCHED = ZIP_KEYS | IMAGE_KEYS | {"IgnoreGlobals"}
GO_BUILD_METADATA = {"BuildMethod", "BuildProperties"}
ADDED = re.compile(r"PackageType|ImageUri|ImageConfig|Command|EntryPoint|Architectures|IgnoreGlobals|Code"
                   r"|arm64|Runtime|Handler|CodeUri|Layers|Globals|Function|^[\s{}\[\],]*$")


def case_id(path: Path) -> str:
    return "example-orders" if path.parent == EXAMPLE else path.name


class Migrated:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc: Document = load_document(path)
        self.plan: Plan = discover(self.doc)
        self.text = render_migrated(self.doc, self.plan, output_path=path)


@pytest.fixture(scope="module")
def migrated() -> dict[Path, Migrated]:
    return {path: Migrated(path) for path in CASES}


def test_the_corpus_is_big_enough():
    assert len(TEMPLATES) >= 10
    assert {p.suffix for p in TEMPLATES} == {".yaml", ".json"}


@pytest.mark.parametrize("path", TEMPLATES, ids=case_id)
def test_diff_is_the_reviewed_one(migrated, path):
    m = migrated[path]
    diff = unified_diff(m.doc.original, m.text, f"a/{path.name}", f"b/{path.name}")
    golden = EXPECTED / f"{path.name}.diff"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(diff)
    assert diff == golden.read_text(), f"rerun with SHIMIMG_UPDATE_GOLDEN=1 and review {golden}"


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_diff_touches_only_the_lines_the_rewrite_needs(migrated, path):
    m = migrated[path]
    a, b = m.doc.original.splitlines(keepends=True), m.text.splitlines(keepends=True)
    allowed = needed_lines(m.doc, m.plan)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for line_no in range(i1 + 1, i2 + 1):
            assert line_no in allowed, f"{path.name}:{line_no} changed: {a[line_no - 1]!r}"
        for line in b[j1:j2]:
            assert ADDED.search(line), f"{path.name}: unexpected added line {line!r}"
    comment_lines = [line for line in a if line.lstrip().startswith("#")]
    kept = [line for line in b if line.lstrip().startswith("#")]
    assert kept == comment_lines


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_sam_sees_the_same_functions_apart_from_the_package(migrated, path):
    m = migrated[path]
    before, after = to_data(m.doc.root), to_data(parse_document(m.text, path).root)
    assert {k: v for k, v in before.items() if k not in ("Globals", "Resources")} == {
        k: v for k, v in after.items() if k not in ("Globals", "Resources")
    }
    moved = {fn.logical_id: (pkg, fn) for pkg in m.plan.packages for fn in pkg.functions}
    fns_before, fns_after = effective_functions(before), effective_functions(after)
    for lid, resource in before["Resources"].items():
        if lid not in fns_before:
            assert after["Resources"][lid] == resource
            continue
        attrs = {k: v for k, v in resource.items() if k not in ("Properties", "IgnoreGlobals", "Metadata")}
        assert {k: v for k, v in after["Resources"][lid].items()
                if k not in ("Properties", "IgnoreGlobals", "Metadata")} == attrs
        meta = resource.get("Metadata") or {}
        if lid in moved and str(meta.get("BuildMethod", "")).lower() == "go1.x":
            meta = {k: v for k, v in meta.items() if k not in GO_BUILD_METADATA}
        assert (after["Resources"][lid].get("Metadata") or {}) == meta
        old, new = fns_before[lid], fns_after[lid]
        if lid not in moved:
            assert new == old, lid
            continue
        pkg, fn = moved[lid]
        assert not ZIP_KEYS - {"Code"} & set(new), lid
        assert new["PackageType"] == "Image"
        assert new["ImageConfig"] == {"Command": [fn.handler]}
        assert new["Architectures"] == [pkg.arch]
        if resource["Type"] == SAM_FUNCTION:
            assert new["ImageUri"] == placeholder_uri(pkg.image)
        else:
            assert new["Code"] == {"ImageUri": placeholder_uri(pkg.image)}
        assert {k: v for k, v in new.items() if k not in IMAGE_KEYS} == {
            k: v for k, v in old.items() if k not in ZIP_KEYS | IMAGE_KEYS
        }


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_migrating_twice_equals_migrating_once(migrated, path):
    m = migrated[path]
    again = parse_document(m.text, path)
    plan = discover(again)
    assert plan.packages == () and plan.skipped == ()
    assert render_migrated(again, plan, output_path=path) == m.text


@pytest.mark.parametrize("path", [p for p in CASES if "Serverless" in p.read_text()], ids=case_id)
def test_sam_translates_the_result(migrated, path, monkeypatch):
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    data = to_data(parse_document(migrated[path].text, path).root)
    out = transform(as_packaged(data), {}, _ManagedPolicies())
    functions = {k: v["Properties"] for k, v in out["Resources"].items() if v["Type"] == LAMBDA_FUNCTION}
    for pkg in migrated[path].plan.packages:
        for fn in pkg.functions:
            props = functions[fn.logical_id]
            assert (props["PackageType"], props["Code"], props["Architectures"]) == (
                "Image", {"ImageUri": placeholder_uri(pkg.image)}, [pkg.arch]
            )
            assert "Runtime" not in props and "Handler" not in props and "Layers" not in props


def test_cfn_lint_finds_no_errors_in_any_result(migrated, tmp_path):
    names = []
    for path, m in migrated.items():
        name = case_id(path) + ("" if path.parent != EXAMPLE else ".yaml")
        (tmp_path / name).write_text(m.text)
        names.append(name)
    cmd = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
           "--format", "json", "--", *names]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.stdout.strip(), run.stderr
    errors = [f"{f['Filename']}:{f['Location']['Start']['LineNumber']} {f['Rule']['Id']} {f['Message']}"
              for f in json.loads(run.stdout) if f["Level"] == "Error"]
    assert errors == []


# ----------------------------------------------------------------------------------------- helpers


def needed_lines(doc: Document, plan: Plan) -> set[int]:
    """1-based input lines the rewrite may change: the members it deletes, replaces or inserts
    beside, and whole flow collections it edits (their separators move)."""
    lines: set[int] = set()

    def add_span(start_node, end_node) -> None:
        end = content_end(doc, end_node)
        lines.update(range(start_node.start_mark.line + 1, doc.text.count("\n", 0, max(end - 1, 0)) + 2))

    def add_members(mapping, keys) -> None:
        if isinstance(mapping, MappingNode) and mapping.flow_style:
            add_span(mapping, mapping)
            return
        for key, value in members(mapping):
            if keys is None or key.value in keys:
                add_span(key, value)

    moved = {fn.logical_id for pkg in plan.packages for fn in pkg.functions}
    for site in function_sites(doc):
        if site.logical_id in moved:
            add_members(site.properties, TOUCHED)
            attributes = {"IgnoreGlobals", "Properties"} if site.properties is None else {"IgnoreGlobals"}
            meta = get(site.resource, "Metadata")
            method = get(meta, "BuildMethod")
            if method is not None and str(to_data(method)).lower() == "go1.x":
                # SAM's Go builder built the zip: its Metadata goes (all of it, when nothing else is there).
                if {k.value for k, _ in members(meta)} <= GO_BUILD_METADATA:
                    attributes = attributes | {"Metadata"}
                else:
                    add_members(meta, GO_BUILD_METADATA)
            add_members(site.resource, attributes)
            lines.add(site.key.start_mark.line + 1)  # a flow resource on its key's line
        else:
            add_members(site.resource, {"IgnoreGlobals"})
    glob = globals_function(doc)
    if glob is not None:
        add_members(glob, TOUCHED)
        section = get(doc.root, "Globals")
        for key, value in members(section):
            if key.value == "Function":
                lines.add(key.start_mark.line + 1)
                if len(members(glob)) <= len(TOUCHED & {k.value for k, _ in members(glob)}):
                    add_span(key, value)
        add_members(doc.root, {"Globals"} if len(members(section)) == 1 else set())
    return lines


def effective_functions(data: dict) -> dict[str, dict]:
    """Each function's properties after SAM's own Globals merge."""
    from samtranslator.plugins.globals.globals import Globals

    merger = Globals(data) if "Globals" in data else None
    out = {}
    for lid, resource in data["Resources"].items():
        rtype = resource.get("Type")
        if rtype not in (SAM_FUNCTION, LAMBDA_FUNCTION):
            continue
        props = copy.deepcopy(resource.get("Properties") or {})
        if rtype == SAM_FUNCTION and merger is not None:
            props = merger.merge(rtype, props, lid, resource.get("IgnoreGlobals"))
        out[lid] = props
    return out


def as_packaged(data: dict) -> dict:
    """What `sam package` hands the translator: local code locations replaced by S3 URIs."""
    data = copy.deepcopy(data)
    local = {SAM_FUNCTION: "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri",
             "AWS::Serverless::Api": "DefinitionUri"}
    function_globals = (data.get("Globals") or {}).get("Function") or {}
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = "s3://bucket/globals.zip"
    for resource in data["Resources"].values():
        key, props = local.get(resource.get("Type")), resource.get("Properties") or {}
        if key and isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = "s3://bucket/" + props[key].strip("./")
    return data


class _ManagedPolicies:
    def load(self) -> dict[str, str]:
        return {"AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
