"""The pipeline examples run as written: their ``run:`` steps (GitHub Actions) and ``commands``
(CodeBuild), in order, with shimimg installed from the built wheel as the pipelines install it,
the real SAM CLI, moto's ECR + S3 + CloudFormation on loopback and a real registry standing in
for ECR's. ``sam deploy`` goes through the change set to a created stack (moto has no SAM
transform, so the stack's functions are not checked there: shimimg's templates are, by
``sam validate --lint``). actionlint and shellcheck judge the workflows.

The production steps run too: the smoke ``shimimg invoke``, the ECR lifecycle policy put to moto,
and the scan gate against moto's scan findings. Every AWS API call the steps make (shimimg's, SAM's,
the AWS CLI's) is observed through botocore's client-side monitoring and must be allowed by the
deploy role's policy (examples/pipelines/deploy-role-policy.json)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import yaml
from dist_fixtures import dists, wheel_venv  # noqa: F401 - fixtures
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401

from pipeline_checks import IAM_PREFIX, REGISTRY_PUSH_ACTIONS, allows, deploy_policy, iam_action
from support import EXAMPLE, ROOT, missing

PIPELINES = ROOT / "examples" / "pipelines"
ACCOUNT, REGION = "123456789012", "eu-west-1"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/orders"
SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))
ACTIONLINT = Path(os.environ.get("SHIMIMG_ACTIONLINT", "/opt/shimimg/bin/actionlint"))
AWSCLI = Path(os.environ.get("SHIMIMG_AWSCLI", "/opt/shimimg/awscli-venv/bin/aws"))
CLOUDFORMATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-cloudformation"


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


def runner_env(tmp_path: Path, venv: Path, endpoint: str, reg: Registry, standin: str, workflow_env: dict,
               *, calls: ApiCalls | None = None) -> dict:
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    if not AWSCLI.is_file():
        missing("the AWS CLI", "scripts/provision.sh awscli")
    tools = tmp_path / "runner-bin"
    tools.mkdir(parents=True, exist_ok=True)
    for name, target in (("sam", SAM), ("aws", AWSCLI)):
        if not (tools / name).exists():
            (tools / name).symlink_to(target)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    # XDG_CACHE_HOME goes too: shimimg's cache is then where a runner has it, ~/.cache/shimimg,
    # the path the workflows keep between runs (checked after each run).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHIMIMG_", "AWS_", "VIRTUAL_ENV", "XDG_CACHE_HOME"))}
    env.update({k: str(v) for k, v in workflow_env.items() if "${{" not in str(v)})
    env.update({
        "PATH": f"{venv / 'bin'}:{tools}:{env['PATH']}",
        "HOME": str(home),
        "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {})),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
        "SAM_CLI_TELEMETRY": "0",
        "IMAGE_REPOSITORY": REPOSITORY, "ARTIFACT_BUCKET": "artifacts", "CLOUDFORMATION_ROLE_ARN": CLOUDFORMATION_ROLE,
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_OUTPUT": str(tmp_path / "github-output"),
        # Offline stand-ins: the base image, and where the "ECR" registry traffic really goes.
        "SHIMIMG_BASE_IMAGE": standin, "SHIMIMG_REGISTRY_ENDPOINT": reg.address,
    })
    if calls is not None:
        env.update(calls.env)
    return env


def shimimg_cache(env: dict) -> Path:
    """Where the workflows' actions/cache step saves from (``~/.cache/shimimg``) on this runner."""
    return Path(env["HOME"]) / ".cache" / "shimimg"


def workspace(tmp_path: Path, wheel: Path, wanted: str) -> Path:
    """A checkout as the pipeline sees it: the example, the pipelines' files (the lifecycle policy),
    and the wheel at the path the pipeline names."""
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws / "examples" / "orders",
                    ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    shutil.copytree(PIPELINES, ws / "examples" / "pipelines")
    assert Path(wanted).name == wheel.name, f"the pipeline installs {wanted}, the build makes {wheel.name}"
    (ws / wanted).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, ws / wanted)
    return ws


Step = tuple[str, str]  # (name, shell text)


def run_steps(scripts: list[str] | list[Step], cwd: Path, env: dict,
              after: dict[str, Callable[[], None]] | None = None) -> None:
    """Each script in order, as the runner runs it; ``after[name]`` stands in, right after the step of
    that name, for what the cloud does by itself between steps (ECR scanning what was pushed)."""
    after = dict(after or {})
    for item in scripts:
        name, script = item if isinstance(item, tuple) else ("", item)
        # GitHub's default shell for `run:` on Linux (bash --noprofile --norc -eo pipefail).
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, f"$ {script}\n{r.stdout}\n{r.stderr}"
        if name in after:
            after.pop(name)()
    assert not after, f"no step named {sorted(after)}"


def named_runs(job: dict) -> list[Step]:
    return [(s.get("name", ""), s["run"]) for s in job["steps"] if "run" in s]


class ApiCalls:
    """Every AWS API call of the processes given ``env``, through botocore's client-side monitoring
    (one UDP datagram per call, to loopback): shimimg's boto3, the SAM CLI's and the AWS CLI's."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict:
        return {"AWS_CSM_ENABLED": "true", "AWS_CSM_HOST": "127.0.0.1", "AWS_CSM_PORT": str(self.sock.getsockname()[1])}

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                event = json.loads(self.sock.recv(65535))
            except (TimeoutError, socket.timeout):
                continue
            if event.get("Type") == "ApiCall":
                self.seen.add((event["Service"], event["Api"]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def actions(self) -> set[str]:
        return {a for service, api in self.seen if (a := iam_action(IAM_PREFIX.get(service, service.lower()), api))}


@pytest.fixture
def api_calls():
    calls = ApiCalls()
    yield calls
    calls.close()


def assert_the_deploy_role_allows(calls: ApiCalls, *expected: str) -> None:
    """Every call observed is allowed by the deploy role's policy; ``expected`` were observed at all
    (the monitor works, and the steps did reach AWS)."""
    actions = calls.actions()
    assert set(expected) <= actions, (sorted(expected), sorted(actions))
    policy = deploy_policy()
    denied = sorted(a for a in actions | set(REGISTRY_PUSH_ACTIONS) if not allows(policy, a))
    assert not denied, f"the steps call {denied}, which deploy-role-policy.json does not allow"


def _moto(endpoint: str, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint.replace("localhost", "127.0.0.1"),
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def ecr_scans_on_push(endpoint: str, reg: Registry, push_doc: Path, *, findings: dict | None = None) -> None:
    """What ECR does after a push, played into moto's ECR API: the loopback registry took the image
    (moto's ECR has no registry), so moto learns its manifest under its digest and tags; and, as ECR
    does for a repository that scans on push, a scan runs, with ``findings`` as its result (by
    default two LOW ones: under the pipelines' threshold)."""
    ecr = _moto(endpoint, "ecr")
    for package in json.loads(push_doc.read_text())["packages"]:
        push = package["push"]
        name = push["repository"].split("/", 1)[1]
        status, headers, body = reg.request(f"/v2/{name}/manifests/{push['digest']}")
        assert status == 200, (status, body[:200])
        for tag in push["tags"]:
            try:
                ecr.put_image(repositoryName=name, imageManifest=body.decode(), imageDigest=push["digest"],
                              imageManifestMediaType=headers["Content-Type"], imageTag=tag)
            except ecr.exceptions.ImageAlreadyExistsException:
                pass  # an unchanged package: the same image, tagged again
        [repo] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        if not repo["imageScanningConfiguration"]["scanOnPush"]:
            continue
        image_id = {"imageDigest": push["digest"]}
        try:
            ecr.start_image_scan(repositoryName=name, imageId=image_id)
        except ecr.exceptions.LimitExceededException:
            continue  # scanned already (moto allows one scan a day, as ECR's basic scanning does)
        result = {"registryId": ACCOUNT, "repositoryName": name, "imageId": image_id,
                  "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
                  "imageScanFindings": {"findings": [], "findingSeverityCounts": findings or {"LOW": 2}}}
        moto = endpoint.replace("localhost", "127.0.0.1")
        req = urllib.request.Request(f"{moto}/moto-api/static/ecr/scan-finding-results", method="POST",
                                     data=json.dumps({"results": [result], "region": REGION}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).close()


def assert_the_lifecycle_policy_is_set(endpoint: str, policy_file: Path) -> None:
    got = _moto(endpoint, "ecr").get_lifecycle_policy(repositoryName=REPOSITORY.split("/", 1)[1])
    assert json.loads(got["lifecyclePolicyText"]) == json.loads(policy_file.read_text())


def assert_the_cache_is_kept(env: dict) -> None:
    cache = shimimg_cache(env)
    assert (cache / "CACHEDIR.TAG").is_file() and any((cache / "bin").rglob("*")), f"no binaries cached in {cache}"


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


def test_the_github_actions_deploy_runs_as_written(tmp_path, aws, wheel_venv, dists, standin, api_calls):  # noqa: F811
    endpoint, reg = aws
    flow = gha(PIPELINES / "github-actions.yml")
    ws = workspace(tmp_path, dists["wheel"], flow["env"]["SHIMIMG_WHEEL"])
    env = runner_env(tmp_path, wheel_venv, endpoint, reg, standin, flow["env"], calls=api_calls)
    steps = named_runs(flow["jobs"]["deploy"])
    assert any(s.startswith("sam deploy") and "--image-repository" in s for _, s in steps)
    run_steps(steps, ws, env, after={"Build and push": lambda: ecr_scans_on_push(endpoint, reg, ws / "push.json")})
    push = json.loads((ws / "push.json").read_text())
    assert push["packages"][0]["push"]["image_uri"].startswith(f"{REPOSITORY}@sha256:")
    assert json.loads((ws / "smoke.json").read_text())["_HANDLER"] == "bin/echo_env"
    assert stack_status(endpoint, flow["env"]["STACK_NAME"]) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert_the_lifecycle_policy_is_set(endpoint, ws / flow["env"]["LIFECYCLE_POLICY"])
    assert_the_cache_is_kept(env)
    # The next commit's deploy updates the stack (SAM reads the stack's template summary then); here
    # nothing changed, which --no-fail-on-empty-changeset accepts.
    run_steps([s for s in steps if s[0] == "Deploy"], ws, env)
    assert_the_deploy_role_allows(api_calls, "ecr:GetAuthorizationToken", "ecr:PutLifecyclePolicy",
                                  "ecr:DescribeImageScanFindings", "cloudformation:CreateChangeSet",
                                  "cloudformation:GetTemplateSummary", "s3:PutObject")

    # The gate fails closed: a finding at the threshold stops it, and so does an image never scanned.
    [gate] = [s for name, s in steps if name == "Gate on the image scan"]
    ecr = _moto(endpoint, "ecr")
    name = REPOSITORY.split("/", 1)[1]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                      "digest": "sha256:" + "1" * 64}, "layers": []})
    for tag, digest, scan in (("risky", "sha256:" + "2" * 64, True), ("unscanned", "sha256:" + "3" * 64, False)):
        ecr.put_image(repositoryName=name, imageManifest=manifest.replace("1" * 64, digest[-64:]), imageTag=tag,
                      imageDigest=digest)
        if scan:
            ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})  # moto's result: one HIGH
        doc = ws / f"push-{tag}.json"
        doc.write_text(json.dumps({"packages": [{"push": {"repository": REPOSITORY, "digest": digest}}]}))
        script = gate.replace("push.json", doc.name)
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=ws, env=env,
                           capture_output=True, text=True, timeout=600)
        ref = f"{REPOSITORY}@{digest}"
        expected = f"{ref}: 1 HIGH finding(s)" if scan else f"no completed scan of {ref}"
        assert r.returncode == 1 and expected in r.stdout, (r.stdout, r.stderr)


def test_the_codebuild_buildspec_runs_as_written(tmp_path, aws, wheel_venv, dists, standin, api_calls):  # noqa: F811
    endpoint, reg = aws
    spec = yaml.safe_load((PIPELINES / "buildspec.yml").read_text())
    variables = dict(spec["env"]["variables"], STACK_NAME="orders-codebuild")
    # This machine's Go caches (its modules, offline) stand in for the ones CodeBuild restores.
    go_caches = {name: variables.pop(name) for name in ("GOMODCACHE", "GOCACHE")}
    assert sorted(f"{path}/**/*" for path in go_caches.values()) == sorted(
        p for p in spec["cache"]["paths"] if "shimimg" not in p)
    ws = workspace(tmp_path, dists["wheel"], variables["SHIMIMG_WHEEL"])
    env = runner_env(tmp_path, wheel_venv, endpoint, reg, standin, variables, calls=api_calls)
    commands = [c for phase in ("install", "pre_build", "build", "post_build")
                for c in (spec["phases"].get(phase) or {}).get("commands", [])]
    # CodeBuild runs a phase's commands in one shell session, stopping at the first failure; the
    # session is cut once, after the push, where ECR scans what was pushed (no command reads a
    # variable an earlier one set).
    cut = next(i for i, c in enumerate(commands) if c.startswith("shimimg push")) + 1
    run_steps([("push", "set -e\n" + "\n".join(commands[:cut])), ("rest", "set -e\n" + "\n".join(commands[cut:]))],
              ws, env, after={"push": lambda: ecr_scans_on_push(endpoint, reg, ws / "push.json")})
    assert stack_status(endpoint, "orders-codebuild") in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    for artifact in spec["artifacts"]["files"]:
        assert (ws / artifact).is_file(), artifact
    assert_the_lifecycle_policy_is_set(endpoint, ws / variables["LIFECYCLE_POLICY"])
    # CodeBuild runs as root: its cache path is ~/.cache/shimimg of root.
    assert_the_cache_is_kept(env)
    assert f"/root/{shimimg_cache(env).relative_to(env['HOME'])}/**/*" in spec["cache"]["paths"]
    assert_the_deploy_role_allows(api_calls, "ecr:PutLifecyclePolicy", "ecr:DescribeImageScanFindings",
                                  "cloudformation:CreateChangeSet")


def test_the_sharded_workflow_pins_every_shard_and_deploys(tmp_path, aws, wheel_venv, dists, standin,  # noqa: F811
                                                            api_calls):
    """One process (with its own cache and HOME) per package, as matrix jobs run; then pin + deploy."""
    endpoint, reg = aws
    flow = gha(PIPELINES / "github-actions-sharded.yml")
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "tests" / "fixtures" / "layouts" / "sam-starter", ws)
    (ws / flow["env"]["SHIMIMG_WHEEL"]).parent.mkdir(parents=True)
    shutil.copy(dists["wheel"], ws / flow["env"]["SHIMIMG_WHEEL"])
    shutil.copy(PIPELINES / "ecr-lifecycle-policy.json", ws / flow["env"]["LIFECYCLE_POLICY"])
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qam", "x",
                    "--allow-empty"], cwd=ws, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "sources"],
                   cwd=ws, check=True)
    steps = {job: named_runs(spec) for job, spec in flow["jobs"].items()}

    env = runner_env(tmp_path / "plan", wheel_venv, endpoint, reg, standin, flow["env"])
    run_steps(steps["plan"], ws, env)
    packages = json.loads(Path(env["GITHUB_OUTPUT"]).read_text().split("packages=", 1)[1])
    assert sorted(packages) == ["goodbye/", "hello-world/", "orders/"]
    results = tmp_path / "artifacts"
    results.mkdir()
    for i, package in enumerate(packages):
        shard = tmp_path / f"shard-{i}"
        env = runner_env(shard, wheel_venv, endpoint, reg, standin, {**flow["env"], "PACKAGE": package},
                         calls=api_calls)
        run_steps(steps["push"], ws, env, after={"Build and push one package": lambda: [
            ecr_scans_on_push(endpoint, reg, doc) for doc in ws.glob("push-*.json")]})
        assert_the_cache_is_kept(env)
        for result in ws.glob("push-*.json"):
            shutil.move(str(result), results / result.name)
    assert len(list(results.iterdir())) == 3
    deploy_ws = tmp_path / "deploy-ws"
    shutil.copytree(ws, deploy_ws, ignore=shutil.ignore_patterns("push-*.json"))
    for result in results.iterdir():
        shutil.copy(result, deploy_ws / result.name)
    env = runner_env(tmp_path / "deploy", wheel_venv, endpoint, reg, standin, flow["env"], calls=api_calls)
    run_steps(steps["deploy"], deploy_ws, env)
    pinned = (deploy_ws / "pinned.yaml").read_text()
    assert pinned.count(f"{REPOSITORY}@sha256:") == 3
    assert stack_status(endpoint, flow["env"]["STACK_NAME"]) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert_the_lifecycle_policy_is_set(endpoint, deploy_ws / flow["env"]["LIFECYCLE_POLICY"])
    assert_the_deploy_role_allows(api_calls, "ecr:CreateRepository", "ecr:PutLifecyclePolicy",
                                  "ecr:DescribeImageScanFindings", "cloudformation:ExecuteChangeSet")

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
