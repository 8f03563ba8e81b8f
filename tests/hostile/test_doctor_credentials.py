"""Issue 19, Low: `doctor --repository` says "credentials ok" only after the registry really
answered with those credentials: not for one that never answers, nor for wrong credentials."""

from __future__ import annotations

import json
import socket

import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401

from conftest import copy_example, shimimg


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "orders")


def _credentials(r) -> dict:
    return next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "credentials")


@pytest.fixture
def silent():
    """A port that accepts connections and never says a word."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_a_registry_that_never_answers_is_not_credentials_ok(work, tmp_path, silent, standin):
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {silent: ("ci", "pw")})), "SHIMIMG_TIMEOUT": "3"}
    r = shimimg("doctor", "--base-image", standin, "--repository", f"{silent}/x/orders", "--json", cwd=work, env=env,
                timeout=120)
    check = _credentials(r)
    assert check["ok"] is False, check
    assert r.returncode == 1


def test_only_real_credentials_are_ok(work, tmp_path, registry_tools, standin):  # noqa: F811
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    try:
        for password, ok in (("wrong", False), ("pw", True)):
            config = docker_config(tmp_path / f"docker-{password}", {reg.address: ("ci", password)})
            env = {"DOCKER_CONFIG": str(config)}
            r = shimimg("doctor", "--base-image", standin, "--repository", f"{reg.address}/x/orders", "--json",
                        cwd=work, env=env, timeout=120)
            assert _credentials(r)["ok"] is ok, (password, r.stdout, r.stderr)
    finally:
        reg.stop()
