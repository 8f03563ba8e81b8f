"""dockercli's registry side (push, inspect, private config) with the docker CLI faked.

The messages below are what docker 28 / buildx 0.13 printed against Debian's docker-registry.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from shimimg import dockercli
from shimimg.dockercli import RegistryFailure
from shimimg.errors import ShimimgError
from shimimg.proc import Result

PUSH_OUT = """The push refers to repository [127.0.0.1:5099/team/orders]
b51d4090c413: Waiting
ca5310561c04: Pushed
5ac3223ceb3b: Layer already exists
4f4fb700ef54: Mounted from team/other
t1: digest: sha256:95ee22b3e371f92d96ad43f274d98c615b75fd72a9383a59854a98862a8219d5 size: 1880
"""


def fake(monkeypatch, answer):
    calls = []

    def _docker(args, check=True, timeout=None, env=None):
        calls.append((list(args), env))
        result = answer(list(args)) if callable(answer) else answer
        return Result(tuple(args), *result)

    monkeypatch.setattr(dockercli, "_docker", _docker)
    return calls


@pytest.mark.parametrize("message,kind", [
    ("unexpected status from HEAD request to http://127.0.0.1:5099/v2/team/orders/manifests/t1: 401 Unauthorized",
     "auth"),
    ("push access denied, repository does not exist or may require authorization: authorization failed: "
     "no basic auth credentials", "no-credentials"),
    ('failed to do request: Head "https://127.0.0.1:5098/v2/x/blobs/sha256:a": dial tcp 127.0.0.1:5098: connect: '
     "connection refused", "down"),
    ("Put http://127.0.0.1:5099/v2/x/blobs/uploads/1: write tcp 127.0.0.1:1->127.0.0.1:2: use of closed network "
     "connection", "transient"),
    ("failed commit on ref \"layer-sha256:a\": unexpected EOF", "transient"),
    ("received unexpected HTTP status: 503 Service Unavailable", "transient"),
    ("toomanyrequests: Rate exceeded", "transient"),
    ("ERROR: 127.0.0.1:5099/team/orders:nope: not found", "not-found"),
    ("tag invalid: The image tag 'v1' already exists in the 'orders' repository and cannot be overwritten because "
     "the repository is immutable.", "immutable"),
    ("name unknown: The repository with name 'x' does not exist in the registry with id '123456789012'", "denied"),
    ('error getting credentials - err: exec: "docker-credential-desktop": executable file not found in $PATH',
     "helper"),
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", "engine"),
    ("something nobody has seen", "other"),
])
def test_failures_are_sorted_into_kinds(message, kind):
    assert dockercli.failure_kind(message) == kind


def test_push_reports_each_layers_outcome(monkeypatch):
    calls = fake(monkeypatch, (0, PUSH_OUT, ""))
    layers = dockercli.push("127.0.0.1:5099/team/orders:t1", env={"DOCKER_CONFIG": "/p"})
    assert layers == {"ca5310561c04": "Pushed", "5ac3223ceb3b": "Layer already exists",
                      "4f4fb700ef54": "Mounted from team/other"}
    assert calls == [(["push", "127.0.0.1:5099/team/orders:t1"], {"DOCKER_CONFIG": "/p"})]


def test_failed_push_keeps_its_output_for_the_layers_that_made_it(monkeypatch):
    out = "ca5310561c04: Pushed\nb51d4090c413: Retrying in 5 seconds\n"
    fake(monkeypatch, (1, out, "unexpected EOF"))
    with pytest.raises(RegistryFailure) as e:
        dockercli.push("r/x:t")
    assert (e.value.kind, e.value.detail) == ("transient", "unexpected EOF")
    assert dockercli.pushed_layers(e.value.output) == {"ca5310561c04": "Pushed"}


def test_remote_image_reads_buildx_json_and_none_when_missing(monkeypatch):
    data = {"name": "r/x:t", "manifest": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                          "digest": "sha256:aa", "size": 1880},
            "image": {"architecture": "arm64", "os": "linux", "config": {}}}
    fake(monkeypatch, (0, json.dumps(data), ""))
    remote = dockercli.remote_image("r/x:t")
    assert remote == dockercli.RemoteImage("sha256:aa", "application/vnd.docker.distribution.manifest.v2+json",
                                           "arm64", "linux")
    index = {"manifest": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:bb"},
             "image": {"linux/arm64": {"architecture": "arm64"}, "linux/amd64": {"architecture": "amd64"}}}
    fake(monkeypatch, (0, json.dumps(index), ""))
    assert dockercli.remote_image("r/x:t").architecture == ""
    fake(monkeypatch, (1, "", "ERROR: r/x:t: not found"))
    assert dockercli.remote_image("r/x:t") is None
    fake(monkeypatch, (1, "", "ERROR: unexpected status from HEAD request to http://r/v2/x/manifests/t: "
                              "401 Unauthorized"))
    with pytest.raises(RegistryFailure) as e:
        dockercli.remote_image("r/x:t")
    assert e.value.kind == "auth" and not e.value.detail.startswith("ERROR")


def test_an_inspect_that_hangs_is_a_transient_failure(monkeypatch):
    def hang(args, check=True, timeout=None, env=None):
        raise subprocess.TimeoutExpired(args, timeout)

    monkeypatch.setattr(dockercli, "_docker", hang)
    with pytest.raises(RegistryFailure) as e:
        dockercli.remote_image("r/x:t")
    assert e.value.kind == "transient" and "120s" in e.value.detail


def test_engine_gone_mid_push_gets_the_engine_message(monkeypatch):
    def answer(args):
        if args[0] == "version":
            return (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
        return (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is it running?")

    fake(monkeypatch, answer)
    with pytest.raises(ShimimgError, match="does not answer"):
        dockercli.push("r/x:t")
    dockercli.engine.cache_clear()


def test_tag_failure_says_what_to_do(monkeypatch):
    fake(monkeypatch, (1, "", "Error response from daemon: No such image: sha256:aa"))
    with pytest.raises(ShimimgError, match="docker image tag sha256:aa r/x:t failed") as e:
        dockercli.tag("sha256:aa", "r/x:t")
    assert "build again" in e.value.hint


def test_private_config_hands_credentials_to_docker_through_a_helper_and_leaves_nothing(tmp_path, monkeypatch):
    user = tmp_path / "user"
    (user / "contexts" / "meta").mkdir(parents=True)
    (user / "config.json").write_text(json.dumps({
        "auths": {"other.example": {"auth": "dXNlcjpvdGhlcg=="}}, "credsStore": "desktop",
        "currentContext": "remote", "cliPluginsExtraDirs": ["/opt/plugins"],
    }))
    monkeypatch.setenv("DOCKER_CONFIG", str(user))
    with dockercli.private_config({"127.0.0.1:5000": ("AWS", "tok3n")}) as env:
        root = Path(env["DOCKER_CONFIG"])
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        config = json.loads((root / "config.json").read_text())
        # Nothing of the user's credentials, their engine and plugins kept.
        assert config == {"credHelpers": {"127.0.0.1:5000": "shimimg-0"},
                          "cliPluginsExtraDirs": [str(user / "cli-plugins"), "/opt/plugins"],
                          "currentContext": "remote"}
        assert (root / "contexts").resolve() == (user / "contexts").resolve()
        assert "tok3n" not in json.dumps(env)
        assert env["PATH"].split(os.pathsep)[0] == str(root / "bin")
        helper = root / "bin" / "docker-credential-shimimg-0"
        got = subprocess.run([str(helper), "get"], input="127.0.0.1:5000", capture_output=True, text=True)
        assert json.loads(got.stdout) == {"ServerURL": "127.0.0.1:5000", "Username": "AWS", "Secret": "tok3n"}
        assert subprocess.run([str(helper), "store"], input="{}", capture_output=True, text=True).returncode != 0
        secrets = [p for p in root.iterdir() if p.name.startswith("credentials-")]
        assert [stat.S_IMODE(p.stat().st_mode) for p in secrets] == [0o600]
    assert not root.exists()
    assert json.loads((user / "config.json").read_text())["auths"] == {"other.example": {"auth": "dXNlcjpvdGhlcg=="}}


def test_private_config_is_removed_when_the_push_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "absent"))
    with pytest.raises(RuntimeError), dockercli.private_config({"h": ("u", "p")}) as env:
        root = Path(env["DOCKER_CONFIG"])
        raise RuntimeError("push died")
    assert not root.exists()


def test_failure_detail_drops_query_strings_of_upload_urls(monkeypatch):
    fake(monkeypatch, (1, "", 'failed to do request: Put "https://prod-eu-west-1-starport-layer-bucket.s3.amazonaws.com/'
                              'x/y?X-Amz-Signature=abc123&X-Amz-Credential=AKIA": EOF'))
    with pytest.raises(RegistryFailure) as e:
        dockercli.push("r/x:t")
    assert e.value.detail == ('failed to do request: Put "https://prod-eu-west-1-starport-layer-bucket.s3.amazonaws.com'
                              '/x/y": EOF')
