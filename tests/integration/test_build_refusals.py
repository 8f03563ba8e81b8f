"""`shimimg build` refuses bad situations with one clear message, a non-zero exit, the template
untouched and no output written."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_build import copy_example, shimimg

from support import missing


@pytest.fixture
def work(tmp_path, go_toolchain):
    return copy_example(tmp_path / "orders")


def snapshot(work: Path) -> dict:
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in work.rglob("*")
        if p.is_file() and ".shimimg" not in p.parts
    }


def assert_refused(r, work: Path, before: dict, *fragments: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    # Progress lines may come first; the error is the last thing said.
    assert "\nerror: " in "\n" + r.stderr, r.stderr
    assert r.stderr.count("error: ") == 1, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert snapshot(work) == before
    assert not (work / ".aws-sam" / "build" / "template.yaml").exists()
    assert r.stdout == ""


def test_docker_daemon_down(work, standin):
    before = snapshot(work)
    r = shimimg("build", "--base-image", standin, cwd=work, env={"DOCKER_HOST": f"unix://{work}/no.sock"})
    assert_refused(r, work, before, "does not answer", "start the Docker daemon")


def test_go_missing(work, standin, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("docker", "git"):
        os.symlink(shutil.which(tool), bindir / tool)
    before = snapshot(work)
    r = shimimg("build", "--base-image", standin, cwd=work, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert_refused(r, work, before, "go is not installed", "--prebuilt")


def test_compile_error_names_the_handler_and_shows_the_compiler(work, standin):
    src = work / "cmd" / "fail_order" / "main.go"
    src.write_text(src.read_text().replace("func main() {", "func main() {\n\tundefinedThing()\n"))
    before = snapshot(work)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert_refused(
        r,
        work,
        before,
        "go build failed for handler bin/fail_order (FailOrderFunction)",
        "undefined: undefinedThing",
        "cmd/fail_order/main.go:",
    )


def test_prebuilt_wrong_arch_is_refused_by_name(work, standin):
    subprocess.run(["make", "build"], cwd=work, check=True, capture_output=True)  # the old amd64 chain
    before = snapshot(work)
    r = shimimg("build", "--prebuilt", "--base-image", standin, cwd=work)
    assert_refused(r, work, before, "bin/create_order", "is built for x86_64, but the image is for arm64")


def test_prebuilt_dynamic_binary_is_refused(work, standin):
    env = {"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
    subprocess.run(
        ["go", "build", "-tags", "lambda.norpc", "-o", "bin/", "./cmd/..."],
        cwd=work,
        check=True,
        env={**os.environ, **env},
    )
    # A PIE build carries an ELF interpreter: dynamically linked, as a cgo build would be.
    subprocess.run(
        ["go", "build", "-buildmode=pie", "-o", "bin/get_order", "./cmd/get_order"],
        cwd=work,
        check=True,
        env={**os.environ, **env},
    )
    before = snapshot(work)
    r = shimimg("build", "--prebuilt", "--base-image", standin, cwd=work)
    assert_refused(r, work, before, "bin/get_order", "dynamically linked", "glibc 2.26")


def test_handler_without_main_package(work, standin):
    t = work / "template.yaml"
    t.write_text(t.read_text().replace("Handler: bin/echo_env", "Handler: bin/ghost"))
    before = snapshot(work)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert_refused(r, work, before, "bin/ghost (EchoEnvFunction): no main package for it in",
                   "(looked for ./cmd/ghost and mains named ghost)", '[packages."./".handlers]', '"bin/ghost" = ')


def test_missing_base_image(work, standin):
    before = snapshot(work)
    r = shimimg("build", "--base-image", "shimimg-local/does-not-exist:al2", cwd=work)
    assert_refused(r, work, before, "docker buildx build failed", "base image")


def test_function_with_layers_is_refused_before_compiling(work, standin):
    t = work / "template.yaml"
    t.write_text(
        t.read_text().replace(
            "      Handler: bin/echo_env\n",
            "      Handler: bin/echo_env\n      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:tools:1]\n",
        )
    )
    before = snapshot(work)
    r = shimimg("-v", "build", "--base-image", standin, cwd=work)
    assert_refused(r, work, before, "EchoEnvFunction: has Layers", "--drop-layers")
    assert "go build" not in r.stderr and "$ docker buildx build" not in r.stderr


def test_buildx_missing(work, standin):
    """The real docker CLI with its plugin folders hidden (a private mount namespace): no buildx."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        missing("unshare as root (util-linux)", "apt-get install util-linux; run as root")
    dirs = [
        d
        for d in (
            "/usr/local/lib/docker/cli-plugins",
            "/usr/local/libexec/docker/cli-plugins",
            "/usr/lib/docker/cli-plugins",
            "/usr/libexec/docker/cli-plugins",
            os.path.join(os.environ.get("DOCKER_CONFIG", ""), "cli-plugins"),
        )
        if os.path.isdir(d)
    ]
    hide = " && ".join(f"mount -t tmpfs tmpfs {shlex.quote(d)}" for d in dirs) or "true"
    run = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "shimimg", "build", "--base-image", standin))
    before = snapshot(work)
    r = subprocess.run(["unshare", "-m", "sh", "-c", f"{hide} && exec {run}"], cwd=work, capture_output=True, text=True)
    assert_refused(r, work, before, "the docker buildx plugin is missing", "docker-buildx")
