"""Real --json output of every command, validated against the documented schemas (docs/schema)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401

from support import EXAMPLE, ROOT

SCHEMAS = ROOT / "docs" / "schema"


def validate(command: str, data: dict) -> None:
    schema = json.loads((SCHEMAS / f"{command}.json").read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["schema_version"] == 1 and data["command"] == command


def shimimg(*args: str, cwd: Path, env: dict | None = None) -> dict:
    r = subprocess.run([sys.executable, "-m", "shimimg", *args, "--json"], cwd=cwd, env={**os.environ, **(env or {})},
                       capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_every_commands_json_matches_its_schema(tmp_path, standin, registry_tools):  # noqa: F811
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    validate("plan", shimimg("plan", cwd=work))
    validate("build", shimimg("build", "--base-image", standin, cwd=work))
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    try:
        env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {reg.address: ("ci", "pw")}))}
        pushed = shimimg("push", "--base-image", standin, "--repository", f"{reg.address}/json/orders", cwd=work,
                         env=env)
        validate("push", pushed)
        assert pushed["packages"][0]["functions"][0]["logical_id"] == "CreateOrderFunction"
        result = tmp_path / "push.json"
        result.write_text(json.dumps(pushed))
        validate("pin", shimimg("pin", str(result), "-o", str(tmp_path / "pinned.yaml"), cwd=work))
    finally:
        reg.stop()
    validate("doctor", shimimg("doctor", "--base-image", standin, cwd=work))


@pytest.mark.parametrize("layout", ["build-tags", "mains-ambiguous", "gopath-era"])
def test_plan_json_of_refused_and_prebuilt_layouts_matches_too(tmp_path, layout):
    work = tmp_path / layout
    shutil.copytree(ROOT / "tests" / "fixtures" / "layouts" / layout, work)
    plan = shimimg("plan", cwd=work)
    validate("plan", plan)
    if layout == "gopath-era":
        assert {p["binaries"] for p in plan["packages"]} == {"prebuilt"}
    else:
        assert plan["warnings"], "why the main packages are not known"


def test_every_untouched_function_of_the_corpus_has_a_reason():
    for template in sorted((ROOT / "tests" / "corpus").glob("*.[yj][as]*")):
        if template.suffix not in (".yaml", ".json"):
            continue
        plan = shimimg("plan", "-t", str(template), cwd=template.parent)
        validate("plan", plan)
        assert all(u["reason"] for u in plan["untouched"]), template
