"""The pipeline examples run as written: their ``run:`` steps (GitHub Actions) and ``commands``
(CodeBuild), in order, with shimimg installed from the built wheel as the pipelines install it,
the real SAM CLI, moto's ECR + S3 + CloudFormation on loopback and a real registry standing in
for ECR's. ``sam deploy`` goes through the change set to a created stack (moto has no SAM
transform, so the stack's functions are not checked there: shimimg's templates are, by
``sam validate --lint``). actionlint and shellcheck judge the workflows."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import yaml
from dist_fixtures import dists, wheel_venv  # noqa: F401 - fixtures
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401

from support import EXAMPLE, ROOT, missing

PIPELINES = ROOT / "examples" / "pipelines"
ACCOUNT, REGION = "123456789012", "eu-west-1"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders"
SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))
ACTIONLINT = Path(os.environ.get("SHIMIMG_ACTIONLINT", "/opt/shimimg/bin/actionlint"))


@pytest.fixture
def aws(tmp_path_factory, registry_tools):  # noqa: F811
    """A fresh moto per pipeline (one account, one region: stacks of two pipelines would share
    resource names) on loopback — named localhost: moto reads a TemplateURL's bucket from its path
    only then — and a registry accepting exactly the ECR token moto hands out."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_ecr = f"http://{host}:{port}"
    endpoint = f"http://localhost:{port}"
    # moto's state is per process, not per server: start each pipeline from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{moto_ecr}/moto-api/reset", method="POST"), timeout=30)
    client = boto3.client("ecr", region_name=REGION, endpoint_url=moto_ecr, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    token = client.get_authorization_token(registryIds=[ACCOUNT])["authorizationData"][0]["authorizationToken"]
    user, _, secret = base64.b64decode(token).decode().partition(":")
    reg = Registry(tmp_path_factory.mktemp("ecr-registry"), {user: secret}).start()
    boto3.client("s3", region_name=REGION, endpoint_url=moto_ecr, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    yield endpoint, reg
    reg.stop()
    server.stop()


def runner_env(tmp_path: Path, venv: Path, endpoint: str, reg: Registry, standin: str, workflow_env: dict) -> dict:
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    tools = tmp_path / "runner-bin"
    tools.mkdir(parents=True, exist_ok=True)
    if not (tools / "sam").exists():
        (tools / "sam").symlink_to(SAM)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIMIMG_", "AWS_", "VIRTUAL_ENV"))}
    env.update({k: str(v) for k, v in workflow_env.items() if "${{" not in str(v)})
    env.update({
        "PATH": f"{venv / 'bin'}:{tools}:{env['PATH']}",
        "HOME": str(home),
        "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {})),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
        "SAM_CLI_TELEMETRY": "0",
        "IMAGE_REPOSITORY": REPOSITORY, "ARTIFACT_BUCKET": "artifacts",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_OUTPUT": str(tmp_path / "github-output"),
        # Offline stand-ins: the base image, and where the "ECR" registry traffic really goes.
        "SHIMIMG_BASE_IMAGE": standin, "SHIMIMG_REGISTRY_ENDPOINT": reg.address,
        "SHIMIMG_CACHE_DIR": str(tmp_path / "cache"),
    })
    return env


def workspace(tmp_path: Path, wheel: Path, wanted: str) -> Path:
    """A checkout as the pipeline sees it: the example, and the wheel at the path the pipeline names."""
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws / "examples" / "orders",
                    ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    assert Path(wanted).name == wheel.name, f"the pipeline installs {wanted}, the build makes {wheel.name}"
    (ws / wanted).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, ws / wanted)
    return ws


def run_steps(scripts: list[str], cwd: Path, env: dict) -> None:
    for script in scripts:
        # GitHub's default shell for `run:` on Linux (bash --noprofile --norc -eo pipefail).
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, f"$ {script}\n{r.stdout}\n{r.stderr}"


def gha(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def stack_status(endpoint: str, name: str) -> str:
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    assert cfn.list_change_sets(StackName=name)["Summaries"], "sam deploy made a change set"
    return stack["StackStatus"]


def test_actionlint_and_shellcheck_pass_on_the_workflows():
    if not ACTIONLINT.is_file() or not shutil.which("shellcheck"):
        missing("actionlint and shellcheck", "scripts/provision.sh linters")
    r = subprocess.run([str(ACTIONLINT), "-shellcheck", shutil.which("shellcheck"),
                        *map(str, sorted(PIPELINES.glob("github-actions*.yml")))], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # The linter does look into run: scripts (a control with an unquoted variable is caught).
    bad = PIPELINES.parent.parent / "tests" / "integration" / ".control-workflow.yml"
    try:
        bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $HOME\n")
        r = subprocess.run([str(ACTIONLINT), "-shellcheck", shutil.which("shellcheck"), str(bad)], capture_output=True,
                           text=True)
        assert "SC2086" in r.stdout
    finally:
        bad.unlink()


def test_the_github_actions_deploy_runs_as_written(tmp_path, aws, wheel_venv, dists, standin):  # noqa: F811
    endpoint, reg = aws
    flow = gha(PIPELINES / "github-actions.yml")
    ws = workspace(tmp_path, dists["wheel"], flow["env"]["SHIMIMG_WHEEL"])
    env = runner_env(tmp_path, wheel_venv, endpoint, reg, standin, flow["env"])
    steps = [s["run"] for s in flow["jobs"]["deploy"]["steps"] if "run" in s]
    assert any(s.startswith("sam deploy") and "--image-repository" in s for s in steps)
    run_steps(steps, ws, env)
    push = json.loads((ws / "push.json").read_text())
    assert push["packages"][0]["push"]["image_uri"].startswith(f"{REPOSITORY}@sha256:")
    assert stack_status(endpoint, flow["env"]["STACK_NAME"]) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def test_the_codebuild_buildspec_runs_as_written(tmp_path, aws, wheel_venv, dists, standin):  # noqa: F811
    endpoint, reg = aws
    spec = yaml.safe_load((PIPELINES / "buildspec.yml").read_text())
    variables = dict(spec["env"]["variables"], STACK_NAME="orders-codebuild")
    ws = workspace(tmp_path, dists["wheel"], variables["SHIMIMG_WHEEL"])
    env = runner_env(tmp_path, wheel_venv, endpoint, reg, standin, variables)
    commands = [c for phase in ("install", "pre_build", "build", "post_build")
                for c in (spec["phases"].get(phase) or {}).get("commands", [])]
    # CodeBuild runs a phase's commands in one shell session, stopping at the first failure.
    run_steps(["set -e\n" + "\n".join(commands)], ws, env)
    assert stack_status(endpoint, "orders-codebuild") in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    for artifact in spec["artifacts"]["files"]:
        assert (ws / artifact).is_file(), artifact


def test_the_sharded_workflow_pins_every_shard_and_deploys(tmp_path, aws, wheel_venv, dists, standin):  # noqa: F811
    """One process (with its own cache and HOME) per package, as matrix jobs run; then pin + deploy."""
    endpoint, reg = aws
    flow = gha(PIPELINES / "github-actions-sharded.yml")
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "tests" / "fixtures" / "layouts" / "sam-starter", ws)
    (ws / flow["env"]["SHIMIMG_WHEEL"]).parent.mkdir(parents=True)
    shutil.copy(dists["wheel"], ws / flow["env"]["SHIMIMG_WHEEL"])
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qam", "x",
                    "--allow-empty"], cwd=ws, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "sources"],
                   cwd=ws, check=True)
    steps = {job: [s["run"] for s in spec["steps"] if "run" in s] for job, spec in flow["jobs"].items()}

    env = runner_env(tmp_path / "plan", wheel_venv, endpoint, reg, standin, flow["env"])
    run_steps(steps["plan"], ws, env)
    packages = json.loads(Path(env["GITHUB_OUTPUT"]).read_text().split("packages=", 1)[1])
    assert sorted(packages) == ["goodbye/", "hello-world/", "orders/"]
    results = tmp_path / "artifacts"
    results.mkdir()
    for i, package in enumerate(packages):
        shard = tmp_path / f"shard-{i}"
        env = runner_env(shard, wheel_venv, endpoint, reg, standin, {**flow["env"], "PACKAGE": package})
        run_steps(steps["push"], ws, env)
        for result in ws.glob("push-*.json"):
            shutil.move(str(result), results / result.name)
    assert len(list(results.iterdir())) == 3
    deploy_ws = tmp_path / "deploy-ws"
    shutil.copytree(ws, deploy_ws, ignore=shutil.ignore_patterns("push-*.json"))
    for result in results.iterdir():
        shutil.copy(result, deploy_ws / result.name)
    env = runner_env(tmp_path / "deploy", wheel_venv, endpoint, reg, standin, flow["env"])
    run_steps(steps["deploy"], deploy_ws, env)
    pinned = (deploy_ws / "pinned.yaml").read_text()
    assert pinned.count(f"{REPOSITORY}@sha256:") == 3
    assert stack_status(endpoint, flow["env"]["STACK_NAME"]) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

    # A missing shard, or a result from another commit, is refused: nothing written.
    lone = deploy_ws / "lone"
    lone.mkdir()
    shutil.copy(next(results.iterdir()), lone / "push-one.json")
    r = subprocess.run(["shimimg", "pin", "-t", "template.yaml", str(lone / "push-one.json"), "-o", "partial.yaml"],
                       cwd=deploy_ws, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "has no result" in r.stderr and not (deploy_ws / "partial.yaml").exists()
    (deploy_ws / "README.md").write_text("a later commit\n")
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "add", "-A"], cwd=deploy_ws,
                   check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "later"],
                   cwd=deploy_ws, check=True)
    r = subprocess.run(["shimimg", "pin", "-t", "template.yaml", *map(str, results.iterdir()), "-o", "late.yaml"],
                       cwd=deploy_ws, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "pushed at revision" in r.stderr and not (deploy_ws / "late.yaml").exists()


def _migrated(template: Path, out: Path) -> Path:
    r = subprocess.run([sys.executable, "-m", "shimimg", "migrate", "-t", str(template), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (template, r.stderr)
    return out


_RULE = re.compile(r"\[\[([EWI]\d{4}):")


def test_sam_validate_lint_accepts_every_migrated_template(tmp_path):
    """`sam validate --lint` on each migrated template: no error, and no finding the template did
    not already have before the migration (functions shimimg leaves alone keep theirs: a Node.js
    runtime nearing its end, a provided.al2 custom runtime)."""
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    corpus = sorted(p for p in (ROOT / "tests" / "corpus").iterdir() if p.suffix in (".yaml", ".json"))
    layouts = sorted((ROOT / "tests" / "fixtures" / "layouts").glob("*/template.yaml"))
    templates = [EXAMPLE / "template.yaml", *corpus, *layouts]
    pairs = []
    for i, template in enumerate(templates):
        copy = tmp_path / f"t{i}"
        shutil.copytree(template.parent, copy, ignore=shutil.ignore_patterns(".shimimg", ".aws-sam", "bin", "dist"))
        pairs.append((copy / template.name, _migrated(copy / template.name, copy / f"migrated{template.suffix}")))
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}

    def findings(path: Path) -> tuple[int, set[str], str]:
        r = subprocess.run([str(SAM), "validate", "--lint", "-t", str(path)], capture_output=True, text=True, env=env,
                           timeout=300)
        return r.returncode, set(_RULE.findall(r.stdout + r.stderr)), r.stdout + r.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda pair: (pair, findings(pair[0]), findings(pair[1])), pairs))
    problems = []
    for (_original, migrated), (_, before, _), (rc, after, text) in results:
        if rc != 0 and not after:
            problems.append(f"{migrated}: sam validate failed without a lint finding: {text}")
        # One rule (e.g. 2531) reports errors and warnings: compare rule numbers, refuse any error.
        if any(r.startswith("E") for r in after) or not {r[1:] for r in after} <= {r[1:] for r in before}:
            problems.append(f"{migrated}: {sorted(after)} after, {sorted(before)} before: {text}")
    assert not problems, "\n".join(problems)
    assert len(results) == len(templates) >= 20
