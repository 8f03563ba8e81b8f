"""Issue 19, Low: a full disk under the cache is a normal error naming the disk (exit 1), during go
build too (never "fix the compile error"); SIGTERM during compile leaves no go-build* folder in
TMPDIR (go works in a folder shimimg removes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import copy_example, refused


def _in_namespace(script: str, cwd) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (its tmpfs mounts vanish with it)."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


SHIMIMG = f"{sys.executable} -m shimimg"


def test_go_build_on_a_full_disk_is_a_disk_error_not_a_compile_error(tmp_path, standin):
    work = copy_example(tmp_path / "orders")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    r = _in_namespace(f"mount -t tmpfs -o size=1m,mode=0700 tmpfs {cache} && "
                      f"exec {SHIMIMG} build --base-image {standin} --cache-dir {cache}", work)
    refused(r, "go build ran out of disk space", "free space on the disk holding")
    assert "fix the compile error" not in r.stderr


def test_a_full_disk_while_taking_prebuilt_binaries_into_the_cache_is_a_normal_error(tmp_path, standin):
    """The binaries are copied into the cache's scratch space, then staged: the disk fills there."""
    work = copy_example(tmp_path / "orders")
    subprocess.run(["go", "build", "-tags", "lambda.norpc", "-o", "bin/", "./cmd/..."], cwd=work, check=True,
                   env={**os.environ, "GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"})
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    r = _in_namespace(f"mount -t tmpfs -o size=3m,mode=0700 tmpfs {cache} && "
                      f"exec {SHIMIMG} build --prebuilt --base-image {standin} --cache-dir {cache}", work)
    refused(r, "the disk is full writing", f"(the disk mounted at {cache})")


def test_sigterm_during_compile_leaves_no_go_build_folder_in_tmpdir(tmp_path, standin):
    work = copy_example(tmp_path / "orders")
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    cache = tmp_path / "cache"
    env = {**os.environ, "TMPDIR": str(tmpdir), "GOCACHE": str(tmp_path / "gocache")}  # a cold go build
    p = subprocess.Popen([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--cache-dir",
                          str(cache), "--progress", "plain"], cwd=work, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (list(tmpdir.glob("go-build*")) or list(cache.glob("projects/*/tmp/go-*/gotmp/go-build*"))):
            assert time.monotonic() < deadline and p.poll() is None, "go build never started"
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, err
    assert list(tmpdir.iterdir()) == []
    assert list(cache.glob("projects/*/tmp/*")) == []
