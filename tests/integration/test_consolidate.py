"""``--consolidate``: one image per Go module, SAM's provided.al2 Go layout included. Real go, real
buildx, the real RIE under qemu, the real SAM CLI's linter, a real registry on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401
from test_layouts import check_answers, prepare, shimimg

from support import missing

SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))
USER, PASSWORD = "ci", "consolidate-s3cret"


def lint(template: Path) -> subprocess.CompletedProcess:
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    return subprocess.run([str(SAM), "validate", "--lint", "-t", str(template)], capture_output=True, text=True,
                          env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, timeout=300)


def test_plain_plan_names_the_dates_and_the_flag(tmp_path, go_toolchain):
    work, expected = prepare("provided-al2-go", tmp_path)
    r = shimimg("plan", "--json", cwd=work)
    plan = json.loads(r.stdout)
    assert plan["packages"] == [] and plan["consolidation"] == []
    reasons = {u["logical_id"]: u["reason"] for u in plan["untouched"]}
    assert set(reasons) == set(expected["functions"])
    for reason in reasons.values():
        assert "provided.al2 is deprecated on 2026-07-31" in reason and "blocked from 2027-02-01" in reason
        assert "2027-03-03" in reason and "--consolidate moves it" in reason


@pytest.mark.parametrize("name,images", [
    ("provided-al2-go", {"./": ["bin/hello", "bin/orders", "bin/payments"]}),
    ("root-module-folders", {"./": ["bin/get", "bin/list", "bin/put"]}),
    ("two-modules", {"api/": ["bin/get", "bin/list"], "worker/": ["bin/notify", "bin/resize"]}),
])
def test_one_image_per_go_module_and_every_function_answers_with_its_own_main(name, images, tmp_path, standin,
                                                                               go_toolchain):
    work, expected = prepare(name, tmp_path)
    plan = json.loads(shimimg("plan", "--consolidate", "--json", cwd=work).stdout)
    assert {m["code_uri"]: m["functions"] for m in plan["consolidation"]} == \
        {k: len(v) for k, v in images.items()}
    r = shimimg("build", "--consolidate", "--base-image", standin, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    got = {p["code_uri"]: sorted({f["binary"] for f in p["functions"]}) for p in out["packages"]}
    assert got == images
    assert len({p["image"]["tag"] for p in out["packages"]}) == len(images)
    check_answers(work, expected, "--consolidate", "--base-image", standin)
    migrated = work / out["output"]
    text = migrated.read_text()
    for gone in ("Runtime", "Handler", "CodeUri", "Metadata", "BuildMethod", "BuildProperties"):
        assert not re.search(rf"^\s+{gone}:", text, re.MULTILINE), (gone, text)
    r = lint(migrated)
    assert r.returncode == 0 and "[[E" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_one_handler_change_pushes_one_layer(tmp_path, standin, go_toolchain, registry_tools):  # noqa: F811
    registry = Registry(tmp_path / "registry", {USER: PASSWORD}).start()
    try:
        env = {**os.environ, "DOCKER_CONFIG": str(docker_config(tmp_path / "docker",
                                                                 {registry.address: (USER, PASSWORD)})),
               "SOURCE_DATE_EPOCH": "1700000000"}
        work, _ = prepare("provided-al2-go", tmp_path / "w")
        args = ("push", "--consolidate", "--base-image", standin, "--repository", f"{registry.address}/team/store",
                "--json")
        r = shimimg(*args, cwd=work, env=env)
        assert r.returncode == 0, r.stderr
        (first,) = json.loads(r.stdout)["packages"]
        main = work / "functions" / "orders" / "main.go"
        main.write_text(main.read_text().replace("99)", "98)"))
        offset = registry.log_offset()
        r = shimimg(*args, cwd=work, env=env)
        assert r.returncode == 0, r.stderr
        (second,) = json.loads(r.stdout)["packages"]
        assert second["push"]["digest"] != first["push"]["digest"]
        assert second["push"]["layers_pushed"] == 1
        uploads = registry.blob_uploads(offset, "team/store")
        assert len(uploads) == 2, uploads  # the changed handler's layer and the image config
        assert second["push"]["bytes_pushed"] < first["push"]["bytes_pushed"] / 2
        print(f"consolidated push: {first['push']['layers_pushed']} layers, {first['push']['bytes_pushed']} bytes; "
              f"one handler changed: {second['push']['layers_pushed']} layer, {second['push']['bytes_pushed']} bytes")
    finally:
        registry.stop()


def test_a_bootstrap_that_is_not_a_go_main_package_is_left_alone_and_names_stay_unique(tmp_path, go_toolchain):
    work, _ = prepare("provided-al2-go", tmp_path)
    lib = work / "functions" / "payments" / "main.go"
    lib.write_text(lib.read_text().replace("package main", "package payments").replace("func main()", "func Run()"))
    r = shimimg("plan", "--consolidate", "--json", cwd=work)
    plan = json.loads(r.stdout)
    reasons = {u["logical_id"]: u["reason"] for u in plan["untouched"]}
    assert reasons == {"PaymentsFunction": "functions/payments/ holds the bootstrap's code, but it is not a Go main "
                                           "package (go list): left as a custom runtime"}
    assert [m["functions"] for m in plan["consolidation"]] == [2]
    # Two mains named alike get distinct binaries, named by their paths.
    (work / "more" / "hello").mkdir(parents=True)
    (work / "more" / "hello" / "main.go").write_text((work / "functions" / "hello" / "main.go").read_text())
    t = work / "template.yaml"
    t.write_text(t.read_text() + "\n  MoreHelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                 "      CodeUri: more/hello/\n    Metadata:\n      BuildMethod: go1.x\n")
    plan = json.loads(shimimg("plan", "--consolidate", "--json", cwd=work).stdout)
    binaries = {f["logical_id"]: f["binary"] for p in plan["packages"] for f in p["functions"]}
    assert binaries == {"HelloFunction": "bin/functions-hello", "OrdersFunction": "bin/orders",
                        "MoreHelloFunction": "bin/more-hello"}
