"""``shimimg migrate --sam-build`` leaves the building to SAM: the real ``sam build --use-buildkit``
builds one image per package from the Dockerfiles it writes (offline: the stand-in Go image and
base), ``sam local invoke`` answers for two functions of each package, a one-handler change
rebuilt by ``sam build`` changes exactly one layer, ``sam deploy`` (moto) accepts the template, and
the --sam-build workflow's steps run as written.

x86_64 where ``sam local invoke`` runs, as in test_sam_local: it races an emulated arm64
emulator's start (see there). The layer test builds linux/arm64, where the Go stage runs on this
machine's platform and cross-compiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from dist_fixtures import dists, wheel_venv  # noqa: F401 - fixtures
from registry_fixtures import registry_tools  # noqa: F401 - fixture
from test_layouts import LAYOUTS
from test_pipelines import (  # noqa: F401
    PIPELINES,
    REGION,
    SAM,
    api_calls,
    assert_the_deploy_role_allows,
    aws,
    gha,
    run_steps,
    runner_env,
    stack_status,
)

from support import EXAMPLE, missing

GO_STANDIN = "shimimg-local/golang:" + subprocess.run(["go", "env", "GOVERSION"], capture_output=True,
                                                      text=True).stdout.strip().removeprefix("go")
FLOW = PIPELINES / "github-actions-sam-build.yml"


@pytest.fixture(scope="session")
def go_standin(docker_engine):
    r = subprocess.run(["docker", "image", "inspect", GO_STANDIN], capture_output=True, text=True)
    if r.returncode != 0:
        missing(f"the stand-in Go image {GO_STANDIN}", "scripts/provision.sh golang")
    return GO_STANDIN


def env() -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIMIMG_"))}
    return {**base, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1",
            "SHIMIMG_CACHE_DIR": os.environ.get("SHIMIMG_CACHE_DIR", "")}


def migrate(work: Path, standin: str, go_image: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", "migrate", "--sam-build", "--base-image", standin,
                           "--go-image", go_image, "--arch", "x86_64", *args], cwd=work, env=env(),
                          capture_output=True, text=True, timeout=600)


def sam(work: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(SAM), *args], cwd=work, env=env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"sam {' '.join(args)}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def sam_build(work: Path, template: str) -> tuple[list[str], dict[str, str]]:
    """(the functions each image build named, logical id → ImageUri in the built template)."""
    r = sam(work, "build", "--use-buildkit", "-t", template)
    builds = re.findall(r"^Building codeuri: .* functions: (.*)$", r.stdout + r.stderr, re.M)
    built = (work / ".aws-sam" / "build" / "template.yaml").read_text()
    uris = dict(re.findall(r"^  (\w+):\n(?:    .*\n|\n)*?      ImageUri: (\S+)$", built, re.M))
    return builds, uris


def layers(ref: str) -> list[str]:
    r = subprocess.run(["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", ref],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def local_invoke(work: Path, function: str, event: str) -> dict:
    r = sam(work, "local", "invoke", function, "-e", event, "--skip-pull-image")
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def orders(tmp_path_factory, standin, go_standin):
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    work = tmp_path_factory.mktemp("sam-build") / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml")
    assert r.returncode == 0, r.stderr
    builds, uris = sam_build(work, "template.sam.yaml")
    return work, builds, uris


def test_migrate_sam_build_is_idempotent_and_check_understands_it(orders, standin, go_standin):
    work, _, _ = orders
    written = {p: p.read_bytes() for p in [work / "template.sam.yaml", *(work / ".shimimg" / "sam-build").rglob("*")]
               if p.is_file()}
    assert {p.name for p in written} == {"template.sam.yaml", "Dockerfile", "Dockerfile.dockerignore", "bootstrap"}
    r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml")
    assert r.returncode == 0, r.stderr
    assert {p: p.read_bytes() for p in written} == written
    # A new handler changes the Dockerfile: --check says so and names the command that writes it.
    t = work / "template.yaml"
    saved = t.read_text()
    try:
        t.write_text(saved.replace("Handler: bin/get_order", "Handler: bin/echo_env"))
        r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml", "--check")
        assert r.returncode == 1 and "Dockerfile" in r.stderr and "shimimg migrate" in r.stderr, r.stderr
        assert "-    go build" in r.stdout or "./cmd/get_order" in r.stdout
    finally:
        t.write_text(saved)


def test_plan_and_a_rerun_on_its_own_output_understand_a_sam_build_template(orders, standin, go_standin):
    work, _, _ = orders
    r = subprocess.run([sys.executable, "-m", "shimimg", "plan", "-t", "template.sam.yaml"], cwd=work, env=env(),
                       capture_output=True, text=True, timeout=300)
    assert "built by `sam build` from" in r.stdout + r.stderr and "migrate --sam-build" in r.stdout + r.stderr
    before = {p: p.read_bytes() for p in [work / "template.sam.yaml", *(work / ".shimimg").rglob("*")] if p.is_file()}
    r = migrate(work, standin, go_standin, "-t", "template.sam.yaml", "--in-place")
    assert r.returncode == 0, r.stderr
    assert {p: p.read_bytes() for p in before} == before
    assert not (work / "template.sam.yaml.bak").exists()
    # A function added to the migrated template runs a handler the Dockerfile does not build.
    edited = work / "template.edited.yaml"
    edited.write_text((work / "template.sam.yaml").read_text().replace("Command: [bin/get_order]",
                                                                      "Command: [bin/list_orders]"))
    assert "bin/list_orders" in edited.read_text()
    r = migrate(work, standin, go_standin, "-t", edited.name, "--in-place", "--check")
    assert r.returncode == 1 and "bin/list_orders" in r.stderr and "no longer build every handler" in r.stderr, r.stderr


def test_a_dockerfile_someone_else_wrote_is_not_replaced(tmp_path, standin, go_standin):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    t = work / "template.yaml"
    head = "  CreateOrderFunction:\n    Type: AWS::Serverless::Function\n"
    t.write_text(t.read_text().replace(head, head + "    Metadata:\n      Dockerfile: build/Dockerfile\n"
                                       "      DockerContext: .\n", 1))
    original = t.read_bytes()
    r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml")
    assert r.returncode == 1, r.stderr
    assert "CreateOrderFunction: Metadata already says how to build an image (Dockerfile: build/Dockerfile" in r.stderr
    assert t.read_bytes() == original
    assert not (work / "template.sam.yaml").exists() and not (work / ".shimimg" / "sam-build").exists()


def test_sam_build_makes_one_image_per_package(orders):
    _, builds, uris = orders
    image_builds = [b for b in builds if "EchoEnvFunction" in b]
    assert len(image_builds) == 1, builds
    go_functions = {"CreateOrderFunction", "GetOrderFunction", "ProcessOrdersFunction", "FailOrderFunction",
                    "EchoEnvFunction"}
    assert set(image_builds[0].split(", ")) == go_functions
    assert len({uris[f] for f in go_functions}) == 1, uris


def test_sam_local_invoke_answers_for_two_functions(orders):
    work, _, _ = orders
    got = local_invoke(work, "EchoEnvFunction", "events/echo_env.json")
    assert got["_HANDLER"] == "bin/echo_env", got
    got = local_invoke(work, "GetOrderFunction", "events/get_order.json")
    assert got.get("statusCode") in (200, 404), got


def test_a_one_handler_change_rebuilt_by_sam_build_changes_one_layer(orders, standin, go_standin):
    """linux/arm64, shimimg's default: the Go stage runs on this x86_64 machine and cross-compiles."""
    work, _, _ = orders
    r = subprocess.run([sys.executable, "-m", "shimimg", "migrate", "--sam-build", "--base-image", standin,
                        "--go-image", go_standin, "--arch", "arm64", "--sam-build-dir", ".shimimg/sam-build-arm64",
                        "-t", "template.yaml", "-o", "template.arm64.yaml"], cwd=work, env=env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "FROM --platform=$BUILDPLATFORM" in (work / ".shimimg/sam-build-arm64/orders/Dockerfile").read_text()
    _, uris = sam_build(work, "template.arm64.yaml")
    image = uris["GetOrderFunction"]
    arch = subprocess.run(["docker", "image", "inspect", "--format", "{{.Architecture}}", image],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert arch == "arm64"
    before = layers(image)
    main = work / "cmd" / "get_order" / "main.go"
    main.write_text(main.read_text() + '\nvar rebuilt = "one handler changed"\n\nfunc init() { println(rebuilt) }\n')
    _, uris_after = sam_build(work, "template.arm64.yaml")
    after = layers(uris_after["GetOrderFunction"])
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(changed) == 1, (before, after)


@pytest.mark.parametrize("name", ["source-include", "zip-with-files"])
def test_layout_fixtures_build_and_answer(name, tmp_path, standin, go_standin):
    """A package built from source with include, and a zip carrying data files beside bin/."""
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    work = tmp_path / name
    shutil.copytree(LAYOUTS / name, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    expected = json.loads((work / "expected.json").read_text())
    if expected.get("prebuilt_script"):
        r = subprocess.run(["sh", expected["prebuilt_script"]], cwd=work, env={**os.environ, "GOARCH": "amd64"},
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    r = migrate(work, standin, go_standin, "-t", "template.yaml", "-o", "template.sam.yaml")
    assert r.returncode == 0, r.stderr
    builds, uris = sam_build(work, "template.sam.yaml")
    assert len(builds) == 1 and len(set(uris.values())) == 1, (builds, uris)
    for function, want in expected["functions"].items():
        got = local_invoke(work, function, want["event"])
        assert got["marker"] == want["marker"], (function, got)
        for key, value in want.get("answer", {}).items():
            assert got[key] == value, (function, key, got)


@pytest.fixture
def ecr_on_loopback(aws, monkeypatch):  # noqa: F811
    """``sam deploy`` logs docker in to the registry ECR's GetAuthorizationToken names
    (proxyEndpoint) and pushes there: moto (in this process) names the loopback registry that
    stands in for ECR's, as SHIMIMG_REGISTRY_ENDPOINT does for shimimg's own pushes."""
    from moto.ecr.responses import ECRResponse

    endpoint, reg = aws
    original = ECRResponse.get_authorization_token

    def on_loopback(self):
        result = original(self)
        for data in result.result["authorizationData"]:
            data["proxyEndpoint"] = f"http://{reg.address}"
        return result

    monkeypatch.setattr(ECRResponse, "get_authorization_token", on_loopback)
    return endpoint, reg


def test_the_sam_build_workflow_deploys_as_written(tmp_path, ecr_on_loopback, wheel_venv, dists, standin,  # noqa: F811
                                                   go_standin, api_calls):  # noqa: F811
    """The workflow's run: steps in order: no shimimg in it; the template and Dockerfiles were
    migrated once and committed (here: migrated into the checkout with the offline stand-ins)."""
    endpoint, reg = ecr_on_loopback
    flow = gha(FLOW)
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws / "examples" / "orders",
                    ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    template = Path(flow["env"]["TEMPLATE"])
    r = migrate(ws, standin, go_standin, "-t", str(template.parent / "template.yaml"), "-o", str(template))
    assert r.returncode == 0, r.stderr
    runner = runner_env(tmp_path, wheel_venv, endpoint, reg, standin, flow["env"], calls=api_calls)
    # sam deploy pushes by tag through the engine: to the loopback registry standing in for ECR.
    runner["IMAGE_REPOSITORY"] = f"{reg.address}/orders"
    steps = [s["run"] for s in flow["jobs"]["deploy"]["steps"] if "run" in s]
    assert not any("shimimg" in s for s in steps), "no shimimg in the --sam-build pipeline"
    assert [s["uses"].split("@")[0] for s in flow["jobs"]["deploy"]["steps"] if "uses" in s]
    for s in flow["jobs"]["deploy"]["steps"]:
        if "uses" in s:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"]), f"{s['uses']}: pin actions by commit SHA"
    run_steps(steps, ws, runner)
    assert stack_status(endpoint, flow["env"]["STACK_NAME"]) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    body = cfn.get_template(StackName=flow["env"]["STACK_NAME"])["TemplateBody"]
    body = body if isinstance(body, str) else json.dumps(body)
    # Every Go function's image was pushed by SAM to the repository it was given.
    assert body.count(f"{reg.address}/orders:") >= 5, body
    assert_the_deploy_role_allows(api_calls, "ecr:GetAuthorizationToken", "cloudformation:CreateChangeSet",
                                  "s3:PutObject")
