"""No code or Dockerfile text from the repository: mappings that look like flags, and line breaks,
quotes and ``$`` in every value that reaches a Dockerfile or a command line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import copy_example, refused, shimimg, snapshot
from support import EXAMPLE


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "orders")


def test_a_mapping_that_is_a_flag_is_refused_and_its_payload_never_runs(work, tmp_path, standin):
    marker = tmp_path / "pwned"
    payload = work / "x"
    payload.write_text(f"#!/bin/sh\ntouch {marker}\nexec \"$@\"\n")
    payload.chmod(0o755)
    for table in ("[handlers]", '[packages."./".handlers]'):
        (work / "shimimg.toml").write_text(f'{table}\n"bin/create_order" = "-toolexec=./x"\n')
        r = shimimg("build", "--base-image", standin, cwd=work)
        refused(r, "\"bin/create_order\" = '-toolexec=./x'", "it starts with '-' (a mapping is a path, never a flag)")
        assert not marker.exists()
    (work / "shimimg.toml").write_text('go_tags = ["x,-toolexec=./x"]\n')
    refused(shimimg("build", "--base-image", standin, cwd=work), "a Go build tag is letters, digits")
    assert not marker.exists()


@pytest.mark.parametrize("source", ["flag", "env", "config"])
@pytest.mark.parametrize("value", ["shimimg-local/provided:al2\nRUN touch /pwned", "x:al2\r\nRUN id",
                                   'x" AS y', "x:$HOME", "x:al2 --platform=linux/amd64"])
def test_a_base_image_that_is_not_a_reference_is_refused_from_every_source(work, source, value):
    before = snapshot(work)
    args, env = ["build"], {}
    if source == "flag":
        args += ["--base-image", value]
    elif source == "env":
        env["SHIMIMG_BASE_IMAGE"] = value
    else:
        (work / "shimimg.toml").write_text(f"base_image = {json.dumps(value)}\n")
        before = snapshot(work)
    r = shimimg(*args, cwd=work, env=env)
    refused(r, "base_image")
    assert "not an image reference" in r.stderr or "control characters" in r.stderr
    assert snapshot(work) == before


def test_quotes_dollars_and_line_breaks_in_codeuri_handlers_and_git_stay_one_value(tmp_path, standin):
    """A package folder with a line break, quotes and ``$`` in its name (go would not build from it:
    its binaries come prebuilt), a handler with quotes and ``$``, and a git remote URL with both:
    the image builds, runs nothing extra, and each label holds exactly the text."""
    root = tmp_path / "repo"
    odd = 'pkg "$HOME"\nRUN touch /pwned #'
    handler = 'bin/get$HOME"order'
    (root / odd / "bin").mkdir(parents=True)
    env = {**os.environ, "GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
    subprocess.run(["go", "build", "-o", str(root / odd / handler), "./cmd/get_order"], cwd=EXAMPLE, env=env,
                   check=True, capture_output=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    remote = 'https://example.com/x".git\\ $HOME'
    subprocess.run(["git", "-C", str(root), "config", "remote.origin.url", remote], check=True)
    template = root / "template.yaml"
    template.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  GetOrderFunction:\n"
                        "    Type: AWS::Serverless::Function\n"
                        f"    Properties: {{Runtime: go1.x, Handler: {json.dumps(handler)}, "
                        f"CodeUri: {json.dumps(odd)}}}\n")
    # --label-revision: the git remote goes into a label only when asked (issue 20).
    r = shimimg("build", "-t", str(template), "--base-image", standin, "--label-revision", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    assert "\nRUN touch" not in r.stderr  # names with line breaks are shown escaped, on one line
    tag = json.loads(r.stdout)["packages"][0]["image"]["tag"]
    labels = json.loads(subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
                                       capture_output=True, text=True, check=True).stdout)
    assert labels["io.shimimg.handlers"] == handler
    assert labels["org.opencontainers.image.source"] == remote
    files = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "/bin/sh", tag,
                            "-c", "ls /; ls /var/task/bin"], capture_output=True, text=True, check=True).stdout
    assert "pwned" not in files
    assert 'get$HOME"order' in files.split("\n")
    # And it runs: the handler's name reaches the shim as one argument.
    event = json.dumps({"pathParameters": {"id": "missing"}})
    r = shimimg("invoke", "GetOrderFunction", "-t", str(template), "--base-image", standin, "-e", "-", cwd=root,
                input=event)
    assert r.returncode == 0, r.stderr
    assert "order not found" in r.stdout
