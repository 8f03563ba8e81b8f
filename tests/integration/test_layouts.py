"""Real Go Lambda repository layouts (tests/fixtures/layouts): each is built with no configuration
(real go, real buildx, the stand-in base, linux/arm64) and every function, run under the real RIE,
answers with what only its own main package says — or shimimg refuses and says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

LAYOUTS = ROOT / "tests" / "fixtures" / "layouts"


def shimimg(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=900)


def prepare(name: str, dest: Path) -> tuple[Path, dict]:
    work = dest / name
    shutil.copytree(LAYOUTS / name, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    expected = json.loads((work / "expected.json").read_text())
    script = expected.get("prebuilt_script")
    if script:
        r = subprocess.run(["sh", script], cwd=work, env={**os.environ, "GOARCH": "arm64"}, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    return work, expected


def invoke(work: Path, function: str, event: str, *args: str) -> dict:
    r = shimimg("invoke", function, "-e", event, *args, cwd=work)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_answers(work: Path, expected: dict, *args: str) -> None:
    for function, want in expected["functions"].items():
        got = invoke(work, function, want["event"], *args)
        assert got["marker"] == want["marker"], (function, got)
        for key in ("shared", "built"):
            if key in want:
                assert got[key] == want[key], (function, key, got)


@pytest.mark.parametrize("name", ["sam-starter", "root-module-folders", "nested-modules", "workspace",
                                  "mains-elsewhere", "prebuilt-dir", "prebuilt-zip", "gopath-era"])
def test_every_function_answers_with_its_own_main(name, tmp_path, standin, go_toolchain):
    work, expected = prepare(name, tmp_path)
    r = shimimg("build", "--base-image", standin, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    built = {f["logical_id"] for p in out["packages"] for f in p["functions"]}
    assert built == set(expected["functions"])
    # The plan says where each binary comes from; for source builds, the main package's folder is
    # exactly the one the marker names.
    plan = json.loads(shimimg("plan", "--json", cwd=work).stdout)
    for pkg in plan["packages"]:
        for f in pkg["functions"]:
            if pkg["binaries"] == "go build":
                rel = os.path.relpath(f["main"]["dir"], work).replace(os.sep, "/")
                assert f"{name}/{rel}".rstrip("/.") == expected["functions"][f["logical_id"]]["marker"]
            else:
                assert f["main"] is None and pkg["binaries"] == "prebuilt"
    check_answers(work, expected, "--base-image", standin)


def test_sam_starter_builds_one_image_per_codeuri(tmp_path, standin, go_toolchain):
    work, _ = prepare("sam-starter", tmp_path)
    out = json.loads(shimimg("build", "--base-image", standin, "--json", cwd=work).stdout)
    tags = {p["code_uri"]: p["image"]["tag"] for p in out["packages"]}
    assert sorted(tags) == ["goodbye/", "hello-world/", "orders/"] and len(set(tags.values())) == 3


def test_ambiguous_mains_are_refused_then_a_mapping_decides(tmp_path, standin, go_toolchain):
    work, expected = prepare("mains-ambiguous", tmp_path)
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1
    assert "several main packages are named gamma: ./functions/gamma, ./tools/gamma; map it to one" in r.stderr
    assert '[packages."./".handlers]' in r.stderr and r.stderr.count("error: ") == 1
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before
    (work / "shimimg.toml").write_text('[handlers]\n"bin/gamma" = "./functions/gamma"\n')
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    plan = json.loads(shimimg("plan", "--json", cwd=work).stdout)
    rules = {f["logical_id"]: f["main"]["rule"] for f in plan["packages"][0]["functions"]}
    assert rules == {"GammaFunction": "template mapping", "DeltaFunction": "only main named like the binary"}
    check_answers(work, expected, "--base-image", standin)


def test_build_tags_apply_to_build_and_invoke_and_a_missing_tag_is_named(tmp_path, standin, go_toolchain):
    work, expected = prepare("build-tags", tmp_path)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1
    assert "./cmd/ingest holds Go files, but the build tags exclude all of them" in r.stderr
    assert "the package's //go:build lines use lambda: pass --go-tag lambda" in r.stderr
    # The same refusal from invoke, which builds the function's package first.
    r = shimimg("invoke", "ReportFunction", "--base-image", standin, cwd=work)
    assert r.returncode == 1 and "--go-tag lambda" in r.stderr
    assert shimimg("build", "--base-image", standin, "--go-tag", "lambda", cwd=work).returncode == 0
    check_answers(work, expected, "--base-image", standin, "--go-tag", "lambda")
    # From the config file, for every command.
    (work / "shimimg.toml").write_text('go_tags = ["lambda"]\n')
    check_answers(work, expected, "--base-image", standin)


def test_a_local_tool_standing_in_for_a_tag_gated_handler_is_refused(tmp_path, standin, go_toolchain):
    """cmd/report builds without -tags lambda too — as its //go:build !lambda local tool."""
    work, _ = prepare("build-tags", tmp_path)
    t = work / "template.yaml"
    text = t.read_text()
    keep = text.split("  IngestFunction:")[0] + "  ReportFunction:" + text.split("  ReportFunction:")[1].split(
        "  NotifyFunction:")[0]
    t.write_text(keep)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1, r.stderr
    assert "does not import github.com/aws/aws-lambda-go/lambda" in r.stderr and "--go-tag lambda" in r.stderr


def test_a_change_in_a_workspace_module_rebuilds_only_its_importers(tmp_path, standin, go_toolchain):
    work, expected = prepare("workspace", tmp_path)
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    shared = next((work / "shared").rglob("*.go"))
    text = shared.read_text()
    old = expected["functions"]["GreetFunction"]["shared"]
    assert old in text
    shared.write_text(text.replace(old, "Welcome back, changed in the shared module"))
    r = shimimg("build", "--base-image", standin, "--progress", "plain", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "compile (2 of 3 handler(s))" in r.stderr, r.stderr
    got = invoke(work, "GreetFunction", "events/greet.json", "--base-image", standin)
    assert got["shared"] == "Welcome back, changed in the shared module"
    assert invoke(work, "HealthFunction", "events/health.json", "--base-image", standin)["marker"] == \
        expected["functions"]["HealthFunction"]["marker"]
