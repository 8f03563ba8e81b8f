"""The throwaway docker config (``registry.credentials``): real files, and the real credential
helper script run the way docker runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from shimimg.registry import credentials
from shimimg.registry.credentials import private_config


def helper_get(helper: Path, host: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helper), "get"], input=host, capture_output=True, text=True, timeout=10)


@pytest.fixture
def user(tmp_path, monkeypatch):
    """The user's own docker config: credentials for another registry, a keyring, a context, plugins."""
    user = tmp_path / "user"
    (user / "contexts" / "meta").mkdir(parents=True)
    (user / "config.json").write_text(json.dumps({
        "auths": {"other.example": {"auth": "dXNlcjpvdGhlcg=="}}, "credsStore": "desktop",
        "currentContext": "remote", "cliPluginsExtraDirs": ["/opt/plugins"],
    }))
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    return user


def test_credentials_reach_docker_through_a_helper_and_nothing_else(user):
    before = (user / "config.json").read_text()
    with private_config({"127.0.0.1:5000": ("AWS", "tok3n")}) as env:
        root = Path(env["DOCKER_CONFIG"])
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        config = json.loads((root / "config.json").read_text())
        # None of the user's credentials or keyring; their engine (context) and plugins (buildx) kept.
        assert config == {"credHelpers": {"127.0.0.1:5000": "shimimg-0"},
                          "cliPluginsExtraDirs": [str(user / "cli-plugins"), "/opt/plugins"],
                          "currentContext": "remote"}
        assert (root / "contexts").resolve() == (user / "contexts").resolve()
        # The environment names where the secret is, never the secret.
        assert set(env) == {"DOCKER_CONFIG", "PATH"} and "tok3n" not in json.dumps(env)
        assert env["PATH"].split(os.pathsep)[0] == str(root / "bin")
        assert "tok3n" not in (root / "config.json").read_text()
        helper = root / "bin" / "docker-credential-shimimg-0"
        assert stat.S_IMODE(helper.stat().st_mode) == 0o700
        assert "tok3n" not in helper.read_text()
        got = helper_get(helper, "127.0.0.1:5000")
        assert got.returncode == 0
        assert json.loads(got.stdout) == {"ServerURL": "127.0.0.1:5000", "Username": "AWS", "Secret": "tok3n"}
        # It answers "get" only: docker cannot store, erase or list through it.
        for verb in ("store", "erase", "list"):
            assert subprocess.run([str(helper), verb], input=b"{}", capture_output=True, timeout=10).returncode != 0
        secrets = [p for p in root.iterdir() if p.name.startswith("credentials-")]
        assert [stat.S_IMODE(p.stat().st_mode) for p in secrets] == [0o600]
    assert not root.exists()
    assert (user / "config.json").read_text() == before


def test_each_registry_gets_a_helper_of_its_own(user):
    creds = {"b.example": ("u2", "p2"), "a.example:5000": ("u1", "p1")}
    with private_config(creds) as env:
        root = Path(env["DOCKER_CONFIG"])
        helpers = json.loads((root / "config.json").read_text())["credHelpers"]
        assert sorted(helpers) == ["a.example:5000", "b.example"] and len(set(helpers.values())) == 2
        for host, (username, secret) in creds.items():
            got = json.loads(helper_get(root / "bin" / f"docker-credential-{helpers[host]}", host).stdout)
            assert (got["ServerURL"], got["Username"], got["Secret"]) == (host, username, secret)


@pytest.mark.parametrize("interrupt", [RuntimeError("push died"), KeyboardInterrupt()])
def test_the_private_config_is_removed_when_the_run_fails_or_is_interrupted(tmp_path, monkeypatch, interrupt):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "absent"))
    with pytest.raises(type(interrupt)), private_config({"h.example": ("u", "p")}) as env:
        root = Path(env["DOCKER_CONFIG"])
        assert root.is_dir()
        raise interrupt
    assert not root.exists()


def test_a_missing_or_unreadable_user_config_still_gives_a_working_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "absent"))
    with private_config({"h.example": ("u", "p")}) as env:
        config = json.loads(Path(env["DOCKER_CONFIG"], "config.json").read_text())
        assert config == {"credHelpers": {"h.example": "shimimg-0"},
                          "cliPluginsExtraDirs": [str(tmp_path / "absent" / "cli-plugins")]}
        assert not Path(env["DOCKER_CONFIG"], "contexts").exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    monkeypatch.setenv("DOCKER_CONFIG", str(broken))
    with private_config({"h.example": ("u", "p")}) as env:
        assert json.loads(Path(env["DOCKER_CONFIG"], "config.json").read_text())["credHelpers"] == {
            "h.example": "shimimg-0"}


def test_the_users_config_folder_is_docker_config_or_dot_docker(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    assert credentials.user_config_dir() == tmp_path / "cfg"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials.user_config_dir() == tmp_path / ".docker"
    monkeypatch.setenv("DOCKER_CONFIG", "")
    assert credentials.user_config_dir() == tmp_path / ".docker"
