"""shimimg invoke answers as `sam local invoke` does: the same function, event, --env-vars file and
parameter overrides, through both tools, on shimimg's migrated template (offline:
--skip-pull-image).

The comparison runs x86_64 images, natively: `sam local invoke` waits for the container by a TCP
connect to its published port, which docker's userland proxy accepts at once, then gives up after
a few fast retries; an emulated arm64 emulator often starts later than that (a race in SAM, not in
the image). What SAM does to an arm64 image right after `shimimg build` — a classic `docker build`
on top of it, which the containerd image store refuses for a platform it did not unpack — is
tested on its own below."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import EXAMPLE, missing

SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, standin):
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    work = tmp_path_factory.mktemp("sam-local") / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    # Emulated arm64 on a busy machine: room beyond EchoEnvFunction's 3 s for a cold start.
    t = work / "template.yaml"
    t.write_text(t.read_text().replace("Timeout: 3  ", "Timeout: 60 "))
    # A fresh image (never run), as a user's first `sam local invoke` after `shimimg build` meets it.
    (work / "cmd" / "echo_env" / "main.go").write_text((work / "cmd" / "echo_env" / "main.go").read_text()
                                                       + "\n// sam-local comparison\n")
    r = subprocess.run([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--arch", "x86_64",
                        "--json"], cwd=work, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return work, work / json.loads(r.stdout)["output"]


def env() -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIMIMG_"))}
    return {**base, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1", "HOME": os.environ["HOME"],
            "SHIMIMG_CACHE_DIR": os.environ.get("SHIMIMG_CACHE_DIR", "")}


def sam_local(work: Path, template: Path, function: str, *args: str) -> dict:
    r = subprocess.run([str(SAM), "local", "invoke", function, "-t", str(template), "--skip-pull-image", *args],
                       cwd=work, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def shimimg_invoke(work: Path, standin: str, function: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "shimimg", "invoke", function, "--base-image", standin, "--arch",
                        "x86_64", *args],
                       cwd=work, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("args", [
    (),
    ("--env-vars", "env.json"),
    ("--env-vars", "env.json", "--parameter-overrides", "Stage=prod"),
    ("--parameter-overrides", "ParameterKey=Stage,ParameterValue=staging"),
], ids=["template", "env-vars", "env-vars+overrides", "overrides-long-form"])
def test_the_same_answer_as_sam_local_invoke(built, standin, args):
    work, migrated = built
    event = ("-e", "events/echo_env.json")
    ours = shimimg_invoke(work, standin, "EchoEnvFunction", *event, *args)
    theirs = sam_local(work, migrated, "EchoEnvFunction", *event, *args)
    assert ours == theirs
    assert ours["_HANDLER"] == "bin/echo_env" and ours["AWS_REGION"] == "eu-west-1"


def test_samconfig_parameter_overrides_apply_to_both(built, standin):
    work, migrated = built
    config = work / "samconfig.toml"
    config.write_text('version = 0.1\n[default.local_invoke.parameters]\nparameter_overrides = "Stage=staging"\n')
    shutil.copy(config, migrated.parent / "samconfig.toml")  # SAM reads it beside the template it is given
    try:
        ours = shimimg_invoke(work, standin, "EchoEnvFunction", "-e", "events/echo_env.json")
        theirs = sam_local(work, migrated, "EchoEnvFunction", "-e", "events/echo_env.json")
        assert ours == theirs and ours["STAGE"] == "staging"
    finally:
        config.unlink()
        (migrated.parent / "samconfig.toml").unlink()


def test_a_function_error_reads_the_same(built, standin):
    work, migrated = built
    ours = subprocess.run([sys.executable, "-m", "shimimg", "invoke", "FailOrderFunction", "--base-image", standin,
                           "--arch", "x86_64", "-e", "events/fail_order.json"], cwd=work, env=env(),
                          capture_output=True, text=True, timeout=600)
    assert ours.returncode == 1
    theirs = sam_local(work, migrated, "FailOrderFunction", "-e", "events/fail_order.json")
    mine = json.loads(ours.stdout)
    assert (mine["errorType"], mine["errorMessage"]) == (theirs["errorType"], theirs["errorMessage"])


def classic_build_on(image: str, platform: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """What `sam local invoke` does first with an image function: a classic (non-BuildKit) build
    adding its emulator on top (samcli/local/docker/lambda_image.py)."""
    ctx = tmp_path / "rapid"
    ctx.mkdir(exist_ok=True)
    (ctx / "rie").write_text("#!/bin/sh\n")
    (ctx / "Dockerfile").write_text(f"FROM {image}\nADD rie /var/rapid/\nRUN chmod +x /var/rapid/rie\n")
    return subprocess.run(["docker", "build", "--platform", platform, "-q", str(ctx)], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=300)


def test_an_arm64_image_takes_sams_emulator_right_after_the_build(tmp_path, standin):
    # The engine bug, shown on an image loaded by buildx alone (moby/buildkit#3891).
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "marker").write_text(str(tmp_path))
    (plain / "Dockerfile").write_text(f"FROM {standin}\nCOPY --link marker /marker\n")
    tag = f"shimimg-test/plain:{abs(hash(str(tmp_path))) % 10**8}"
    subprocess.run(["docker", "buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--load", "-t", tag,
                    str(plain)], check=True, capture_output=True)
    try:
        r = classic_build_on(tag, "linux/arm64", tmp_path)
        # (Should an engine unpack every platform on --load one day, this control says so.)
        assert r.returncode != 0, "this engine no longer shows the quirk shimimg works around"
        assert "parent snapshot" in r.stderr and "does not exist" in r.stderr, r.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    # shimimg build --unpack leaves the image usable by that classic build at once.
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    (work / "cmd" / "get_order" / "main.go").write_text((work / "cmd" / "get_order" / "main.go").read_text()
                                                        + f"\n// {tmp_path.name}\n")
    r = subprocess.run([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--unpack", "--json"],
                       cwd=work, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    built = json.loads(r.stdout)["packages"][0]["image"]
    assert not built["cached"]
    r = classic_build_on(built["tag"], "linux/arm64", tmp_path)
    assert r.returncode == 0, r.stderr


def sam_local_here(work: Path, function: str, *args: str) -> dict:
    """`sam local invoke` as a user runs it after `shimimg build`: from the template's folder,
    without -t (SAM finds .aws-sam/build/template.yaml and reads the samconfig of that folder)."""
    r = subprocess.run([str(SAM), "local", "invoke", function, "--skip-pull-image", *args], cwd=work, env=env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name,select", [
    ("samconfig.yaml", ("--config-env", "staging")),
    ("team.toml", ("--config-file", "team.toml", "--config-env", "staging")),
])
def test_samconfig_env_vars_region_and_overrides_apply_as_in_sam(built, standin, name, select):
    work, _ = built
    (work / "staging-env.json").write_text(json.dumps({"EchoEnvFunction": {"QUEUE_URL": "from-env-vars"}}))
    params = {"env_vars": "staging-env.json", "parameter_overrides": "Stage=staging", "region": "ap-south-1"}
    if name.endswith(".yaml"):
        text = "version: 0.1\nstaging:\n  local_invoke:\n    parameters:\n" + "".join(
            f"      {k}: {v}\n" for k, v in params.items())
    else:
        text = "version = 0.1\n[staging.local_invoke.parameters]\n" + "".join(
            f'{k} = "{v}"\n' for k, v in params.items())
    (work / name).write_text(text)
    try:
        theirs = sam_local_here(work, "EchoEnvFunction", "-e", "events/echo_env.json", *select)
        ours = shimimg_invoke(work, standin, "EchoEnvFunction", "-e", "events/echo_env.json", *select)
        assert ours == theirs
        assert (ours["STAGE"], ours["QUEUE_URL"], ours["AWS_REGION"]) == ("staging", "from-env-vars", "ap-south-1")
        # And the flags still win, in both.
        flags = ("--parameter-overrides", "Stage=prod", "--region", "eu-north-1")
        theirs = sam_local_here(work, "EchoEnvFunction", "-e", "events/echo_env.json", *select, *flags)
        ours = shimimg_invoke(work, standin, "EchoEnvFunction", "-e", "events/echo_env.json", *select, *flags)
        assert ours == theirs and (ours["STAGE"], ours["AWS_REGION"]) == ("prod", "eu-north-1")
    finally:
        (work / name).unlink()
        (work / "staging-env.json").unlink()
