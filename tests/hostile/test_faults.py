"""Faults: a registry that takes the upload and never answers, SIGTERM mid-push, SIGKILL mid-invoke.
No hang, clean cancels, nothing left behind: no credential file, no child process, no temporary
tag, no container."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from blackhole import BlackHole
from registry_fixtures import Registry, docker_config, moto_ecr, registry_tools  # noqa: F401

from conftest import copy_example, refused, shimimg

ACCOUNT, REGION = "123456789012", "eu-west-1"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "orders")


@pytest.fixture
def registry(tmp_path, registry_tools):  # noqa: F811
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    yield reg
    reg.stop()


def local_names(fragment: str) -> list[str]:
    out = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if fragment in line]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def test_a_registry_that_never_answers_fails_within_timeout_times_retries(work, registry, tmp_path, standin):
    hole = BlackHole(registry.port)
    try:
        env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {hole.address: ("ci", "pw")}))}
        assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
        built = (work / ".aws-sam" / "build" / "template.yaml").read_bytes()
        t0 = time.monotonic()
        r = shimimg("push", "--base-image", standin, "--repository", f"{hole.address}/stall/orders", "--timeout", "3",
                    "--retries", "1", cwd=work, env=env, timeout=300)
        took = time.monotonic() - t0
        refused(r, f"the registry at {hole.address} stopped making progress (tried 2 times)", "--timeout")
        assert hole.swallowed >= 2
        # Two attempts of 3 s without progress, 1 s of backoff, the build (cached) and start-up.
        assert took < 3 * 2 + 1 + 20, took
        assert (work / ".aws-sam" / "build" / "template.yaml").read_bytes() == built, "build's left alone"
        assert not (work / ".shimimg" / "pinned" / "template.yaml").exists(), "not written"
        assert local_names(hole.address) == []
    finally:
        hole.close()


def test_sigterm_during_an_ecr_push_cleans_up_like_ctrl_c(work, tmp_path, standin, moto_ecr):  # noqa: F811
    import boto3

    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_ecr, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    token = ecr.get_authorization_token(registryIds=[ACCOUNT])["authorizationData"][0]["authorizationToken"]
    user, _, secret = base64.b64decode(token).decode().partition(":")
    reg = Registry(tmp_path / "registry", {user: secret}).start()
    hole = BlackHole(reg.port)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL_ECR": moto_ecr, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "TMPDIR": str(tmp), "SHIMIMG_REGISTRY_ENDPOINT": hole.address,
               "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {}))}
        repo = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/hostile/orders"
        p = subprocess.Popen([sys.executable, "-m", "shimimg", "push", "--base-image", standin, "--repository", repo,
                              "--create-repository", "--timeout", "120"], cwd=work, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not (hole.swallowed and list(tmp.glob("shimimg-docker-*"))):  # mid-upload, logged in
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "the push never reached the upload"
            time.sleep(0.2)
        assert local_names(hole.address), "the temporary tag exists while pushing"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 143, err
        assert err.rstrip().splitlines()[-1] == "interrupted (SIGTERM): stopped and cleaned up"
        assert list(tmp.iterdir()) == [], "the private docker config with the token was left behind"
        assert local_names(hole.address) == [], "a temporary tag was left behind"
        assert processes_mentioning(hole.address) == [], "a child process is still running"
        assert not (work / ".shimimg" / "pinned" / "template.yaml").exists()
    finally:
        hole.close()
        reg.stop()


def invoke_containers() -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.shimimg.invoke"], capture_output=True,
                          text=True, check=True).stdout.split()


def test_a_container_whose_shimimg_was_killed_goes_at_the_next_invoke(work, standin):
    event = json.dumps({"sleep_ms": 60_000})
    t = work / "template.yaml"
    t.write_text(t.read_text().replace("Timeout: 3  ", "Timeout: 90 "))
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    before = set(invoke_containers())
    p = subprocess.Popen([sys.executable, "-m", "shimimg", "invoke", "EchoEnvFunction", "-e", "-", "--base-image",
                          standin], cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdin.write(event)
    p.stdin.close()
    deadline = time.monotonic() + 120
    while not set(invoke_containers()) - before:
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.2)
    time.sleep(3)  # inside the invocation
    p.kill()
    p.wait()
    left = set(invoke_containers()) - before
    assert left, "SIGKILL leaves the container: nothing could remove it"
    labels = json.loads(subprocess.run(["docker", "inspect", "--format", "{{json .Config.Labels}}", *left],
                                       capture_output=True, text=True, check=True).stdout.splitlines()[0])
    assert float(labels["io.shimimg.invoke.expires"]) > time.time()  # and it would end itself, later
    r = shimimg("invoke", "GetOrderFunction", "--base-image", standin, "--no-build", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "removed 1 invoke container(s) left by an earlier run" in r.stderr
    assert set(invoke_containers()) - before == set()
