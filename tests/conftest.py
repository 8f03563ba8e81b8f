"""Shared fixtures.

Integration tests need the real engine, Go, the stand-in base, ... ``./dev test`` provisions all
of it first. Outside CI a missing tool skips the test with the command that provides it; under
CI=true it fails instead, because a skipped integration test there hides a broken setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import STANDIN, missing


def _go_env() -> dict:
    """Go's caches as the machine has them, read once before any test moves $HOME."""
    if not shutil.which("go"):
        return {}
    # GOENV: the go env file (e.g. GOFLAGS=-buildvcs=false) lives under $HOME; keys include
    # GOFLAGS, so a test with another $HOME would otherwise see another toolchain.
    names = ("GOPATH", "GOCACHE", "GOMODCACHE", "GOENV")
    out = subprocess.run(["go", "env", *names], capture_output=True, text=True).stdout.split("\n")
    return {n: v for n, v in zip(names, out) if v and n not in os.environ}


GO_ENV = _go_env()


@pytest.fixture(autouse=True)
def _no_home_writes(tmp_path_factory, monkeypatch):
    """Fail loudly instead of letting a test write caches into the developer's $HOME."""
    home = tmp_path_factory.mktemp("home")
    real_home = os.environ.get("HOME", "")
    monkeypatch.setenv("HOME", str(home))
    # Docker's client config (buildx plugins, credentials) stays the machine's.
    if real_home and "DOCKER_CONFIG" not in os.environ and Path(real_home, ".docker").is_dir():
        monkeypatch.setenv("DOCKER_CONFIG", str(Path(real_home, ".docker")))
    # Go's caches stay the machine's: a fresh module cache per test would need the network,
    # a fresh build cache would recompile the standard library for every test.
    for name, value in GO_ENV.items():
        monkeypatch.setenv(name, value)
    yield


@pytest.fixture(scope="session")
def docker_engine():
    if not shutil.which("docker"):
        missing("the docker CLI")
    r = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        missing("a running Docker engine")
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        missing("the docker buildx plugin")
    return r.stdout.strip()


@pytest.fixture(scope="session")
def go_toolchain():
    if not shutil.which("go"):
        missing("Go")
    return subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def arm64_emulation():
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not entry.exists() or "enabled" not in entry.read_text():
        missing("linux/arm64 emulation (qemu-user-static + binfmt)")


@pytest.fixture(scope="session")
def standin(docker_engine, arm64_emulation):
    r = subprocess.run(["docker", "image", "inspect", STANDIN], capture_output=True, text=True)
    if r.returncode != 0:
        missing(f"the stand-in base image {STANDIN}", "scripts/build-standin.sh")
    return STANDIN


@pytest.fixture(scope="session")
def docker_client(docker_engine):
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def _shimimg_cache(tmp_path_factory):
    """shimimg's cache for the whole run, outside $HOME (which tests replace); a test that needs a
    cache of its own passes --cache-dir or SHIMIMG_CACHE_DIR."""
    path = tmp_path_factory.mktemp("shimimg-cache")
    old = os.environ.get("SHIMIMG_CACHE_DIR")
    os.environ["SHIMIMG_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SHIMIMG_CACHE_DIR", None)
    else:
        os.environ["SHIMIMG_CACHE_DIR"] = old
