"""The local stand-in base behaves like public.ecr.aws/lambda/provided:al2, on arm64 under qemu."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
INVOKE = "/2015-03-31/functions/function/invocations"


def _derived_image(standin: str, bootstrap: Path, tag: str, tmp_path: Path, platform: str = "linux/arm64") -> str:
    (tmp_path / "bootstrap").write_bytes(bootstrap.read_bytes())
    (tmp_path / "bootstrap").chmod(0o755)
    (tmp_path / "Dockerfile").write_text(f"FROM {standin}\nCOPY bootstrap /var/runtime/bootstrap\n")
    subprocess.run(
        ["docker", "buildx", "build", "--platform", platform, "--provenance=false", "--load", "-t", tag, str(tmp_path)],
        check=True,
        capture_output=True,
    )
    return tag


@pytest.mark.parametrize("platform,arch", [("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")])
def test_both_platforms_have_the_published_layout(standin, docker_client, platform, arch):
    out = docker_client.containers.run(
        standin,
        platform=platform,
        entrypoint=["/bin/sh", "-c"],
        remove=True,
        command=[
            'uname -m; echo "$LAMBDA_TASK_ROOT $LAMBDA_RUNTIME_DIR $PATH"; pwd; '
            "ls /usr/local/bin/aws-lambda-rie /lambda-entrypoint.sh; test -d /var/runtime && echo ok"
        ],
    ).decode()
    lines = out.split("\n")
    assert lines[0] == arch
    assert lines[1] == "/var/task /var/runtime /var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert lines[2] == "/var/task"
    assert "ok" in lines
    config = docker_client.api.inspect_image(standin)["Config"]
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]
    assert not config.get("Cmd")
    assert config["WorkingDir"] == "/var/task"


def test_no_argument_exits_142_with_the_documented_message(standin):
    r = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", standin], capture_output=True, text=True)
    assert r.returncode == 142
    assert r.stderr.strip() == "entrypoint requires the handler name to be the first argument"


def test_runtime_api_set_execs_bootstrap_with_handler(standin, tmp_path):
    image = _derived_image(standin, DATA / "print-bootstrap.sh", "shimimg-test/print-bootstrap:latest", tmp_path)
    r = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "-e",
            "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001",
            image,
            "bin/create_order",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # exec, not a child: the bootstrap is PID 1 of the container.
    assert r.stdout.strip() == "bootstrap ran: _HANDLER=bin/create_order AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 pid=1"


def _post(url: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


def test_without_runtime_api_the_rie_answers_invocations(standin, docker_client, tmp_path):
    image = _derived_image(standin, DATA / "rapid-bootstrap.sh", "shimimg-test/rapid-bootstrap:latest", tmp_path)
    container = docker_client.containers.run(
        image,
        command=["bin/get_order"],
        platform="linux/arm64",
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _post(f"http://127.0.0.1:{port}{INVOKE}", b'{"id": 7}')
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert status == 200
        assert json.loads(body) == {"handler": "bin/get_order", "event": {"id": 7}}
        logs = container.logs().decode()
        assert "START RequestId:" in logs and "REPORT RequestId:" in logs
    finally:
        container.remove(force=True)
