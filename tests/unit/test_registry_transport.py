"""The registry traffic (``registry.transport``) and what a failure tells the user
(``registry.messages``), with the docker CLI (``transport.run``) and the engine
(``docker.from_env``) faked; a few tests drive the real docker SDK against a fake dockerd socket."""

from __future__ import annotations

import subprocess
import time

import docker
import pytest
import requests
import urllib3
from registry_fakes import D1, D3, ECR, INDEX, L1, L2, L3, LOCAL, MANIFEST, Docker, EngineSocket, Manifest, short, stall

from shimimg.errors import ShimimgError
from shimimg.proc import ProgramMissing, Result, Stalled
from shimimg.registry import messages, transport
from shimimg.registry.refs import parse_repository
from shimimg.registry.transport import RegistryFailure

REF = f"{LOCAL}/team/orders:t1"


@pytest.mark.parametrize("message,kind", [
    ("unexpected status from HEAD request to http://127.0.0.1:5099/v2/team/orders/manifests/t1: 401 Unauthorized",
     "auth"),
    ("Your authorization token has expired. Reauthenticate and try again.", "auth"),
    ("push access denied, repository does not exist or may require authorization: authorization failed: "
     "no basic auth credentials", "no-credentials"),
    ('failed to do request: Head "https://127.0.0.1:5392/v2/exp/tiny/blobs/sha256:72f8": dial tcp '
     "127.0.0.1:5392: connect: connection refused", "down"),
    ("dial tcp: lookup registry.invalid: no such host", "down"),
    ("Put http://127.0.0.1:5099/v2/x/blobs/uploads/1: write tcp 127.0.0.1:1->127.0.0.1:2: use of closed network "
     "connection", "transient"),
    ('failed commit on ref "layer-sha256:a": unexpected EOF', "transient"),
    ("received unexpected HTTP status: 503 Service Unavailable", "transient"),
    ("toomanyrequests: Rate exceeded", "transient"),
    ("blob upload unknown: blob upload unknown to registry", "transient"),
    ("ERROR: 127.0.0.1:5099/team/orders:nope: not found", "not-found"),
    ("tag invalid: The image tag 'v1' already exists in the 'orders' repository and cannot be overwritten because "
     "the repository is immutable.", "immutable"),
    ("name unknown: The repository with name 'x' does not exist in the registry with id '123456789012'", "denied"),
    ("denied: requested access to the resource is denied", "denied"),
    ('error getting credentials - err: exec: "docker-credential-desktop": executable file not found in $PATH',
     "helper"),
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", "engine"),
    ("something nobody has seen", "other"),
])
def test_failures_are_sorted_into_kinds(message, kind):
    assert transport.failure_kind(message) == kind


# Pushing through the engine.


@pytest.fixture
def engine(monkeypatch):
    d = Docker(monkeypatch)
    d.hold(D1, Manifest(D1))
    d.names[REF] = D1
    d.land(f"{LOCAL}/team/other", Manifest(D3, {L3: 30000}))  # L3 is in another repository already
    d.blobs[f"{LOCAL}/team/orders"] = {L2}  # and L2 in this one
    return d


def test_push_reports_each_layers_outcome_and_closes_the_connection(engine):
    auth = {"username": "AWS", "password": "tok", "serveraddress": ECR}
    layers = transport.push(REF, auth=auth, stall=42)
    assert layers == {short(L1): "Pushed", short(L2): "Layer already exists", short(L3): "Mounted from team/other"}
    assert engine.pushes == [(REF, auth)]
    assert engine.timeouts == [42]  # the client's read timeout is the stall limit
    assert engine.closed == 1
    assert engine.tags[REF] == D1


def test_progress_is_passed_on(engine):
    seen = []
    transport.push(REF, auth=None, stall=1, on_progress=seen.append)
    assert seen[0] == f"The push refers to repository [{LOCAL}/team/orders]" and "Pushed" in seen


def test_an_error_in_the_stream_keeps_the_layers_that_landed(engine):
    engine.failures["push"] = [('failed to do request: Put "https://prod-eu-west-1-starport-layer-bucket.s3.'
                                'amazonaws.com/x/y?X-Amz-Signature=abc123&X-Amz-Credential=AKIA": EOF', 1)]
    with pytest.raises(RegistryFailure) as e:
        transport.push(REF, auth=None, stall=60)
    assert (e.value.kind, e.value.ref, e.value.layers) == ("transient", REF, {short(L1): "Pushed"})
    # Presigned upload URLs lose their query string (a signature) in what is shown.
    assert e.value.detail == ('failed to do request: Put "https://prod-eu-west-1-starport-layer-bucket.s3.'
                              'amazonaws.com/x/y": EOF')
    assert engine.closed == 1


@pytest.mark.parametrize("failure,kind,detail", [
    (stall(), "stalled", "no progress for 60 s (stopped)"),
    (requests.exceptions.ReadTimeout("Read timed out. (read timeout=60)"), "stalled", "no progress for 60 s"),
    (requests.exceptions.ConnectionError("Read timed out."), "stalled", "no progress for 60 s"),
    (urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(0 bytes read)"), "engine",
     "lost the Docker engine"),
    (requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104))"), "engine",
     "lost the Docker engine"),
    (docker.errors.APIError("500 Server Error: Internal Server Error"), "transient", "500 Server Error"),
])
def test_a_stream_that_stops_is_a_failure_of_its_kind(engine, failure, kind, detail):
    engine.failures["push"] = [(failure, 2)]
    with pytest.raises(RegistryFailure) as e:
        transport.push(REF, auth=None, stall=60)
    assert e.value.kind == kind and detail in e.value.detail
    assert e.value.layers == {short(L1): "Pushed", short(L2): "Layer already exists"}
    assert engine.closed == 1


def test_an_engine_that_does_not_answer_is_the_engines_failure(monkeypatch):
    def from_env(**_):
        raise docker.errors.DockerException("Error while fetching server API version: ('Connection aborted.', "
                                            "FileNotFoundError(2, 'No such file or directory'))")

    monkeypatch.setattr(docker, "from_env", from_env)
    with pytest.raises(RegistryFailure) as e:
        transport.push(REF, auth=None, stall=5)
    assert e.value.kind == "engine" and "cannot reach the Docker engine" in e.value.detail


@pytest.mark.parametrize("behaviour,kind", [("stall", "stalled"), ("drop", "engine")])
def test_the_real_sdk_against_a_dockerd_that_stalls_or_hangs_up(monkeypatch, behaviour, kind):
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    with EngineSocket(behaviour) as host:
        monkeypatch.setenv("DOCKER_HOST", host)
        start = time.monotonic()
        with pytest.raises(RegistryFailure) as e:
            transport.push(REF, auth={"username": "u", "password": "p", "serveraddress": LOCAL}, stall=1)
    assert e.value.kind == kind
    assert e.value.layers == {short(L1): "Pushed"}
    assert time.monotonic() - start < 8


def test_an_engine_socket_that_is_not_there_is_the_engines_failure(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(RegistryFailure) as e:
        transport.push(REF, auth=None, stall=1)
    assert e.value.kind == "engine"


# Tagging locally.


def test_tag_and_untag(engine):
    transport.tag(D1, f"{LOCAL}/x:t")
    assert engine.names[f"{LOCAL}/x:t"] == D1
    transport.untag(f"{LOCAL}/x:t")
    assert f"{LOCAL}/x:t" not in engine.names
    assert [argv for argv, _ in engine.calls] == [("docker", "image", "tag", D1, f"{LOCAL}/x:t"),
                                                  ("docker", "image", "rm", f"{LOCAL}/x:t")]


def test_tag_failure_says_what_to_do(engine):
    with pytest.raises(ShimimgError, match="docker image tag sha256:aa r/x:t failed: .*No such image") as e:
        transport.tag("sha256:aa", "r/x:t")
    assert "build again" in e.value.hint
    engine.failures["tag"] = [subprocess.TimeoutExpired(["docker"], 60)]
    with pytest.raises(ShimimgError, match="did not finish within 60 s") as e:
        transport.tag(D1, "r/x:t")
    assert "dockerd" in e.value.hint


def test_untag_never_fails(engine):
    engine.failures["rm"] = [subprocess.TimeoutExpired(["docker"], 60), ProgramMissing("docker")]
    transport.untag("r/x:t")
    transport.untag("r/x:t")
    transport.untag("r/never-tagged:t")


# What a tag names remotely.


def test_remote_image_reads_buildx_json_and_is_none_when_missing(engine):
    engine.land(f"{LOCAL}/team/orders", Manifest(D1), "t1")
    env = {"DOCKER_CONFIG": "/private"}
    assert transport.remote_image(REF, env=env, timeout=30) == transport.RemoteImage(D1, MANIFEST, "arm64", "linux")
    assert engine.calls[-1] == (("docker", "buildx", "imagetools", "inspect", REF, "--format", "{{json .}}"), env)
    engine.land(f"{LOCAL}/team/orders", Manifest(D1, arch="amd64", media_type=INDEX), "multi")
    index = transport.remote_image(f"{LOCAL}/team/orders:multi", env=None, timeout=30)
    assert (index.media_type, index.architecture, index.os) == (INDEX, "", "")  # one config per platform
    assert transport.remote_image(f"{LOCAL}/team/orders:nope", env=None, timeout=30) is None


def test_remote_manifest_is_the_raw_manifest(engine):
    engine.land(f"{LOCAL}/team/orders", Manifest(D1), "t1")
    raw = transport.remote_manifest(REF, env=None, timeout=30)
    assert [x["digest"] for x in raw["layers"]] == [L1, L2, L3] and raw["mediaType"] == MANIFEST
    with pytest.raises(RegistryFailure) as e:
        transport.remote_manifest(f"{LOCAL}/team/orders:nope", env=None, timeout=30)
    assert (e.value.kind, e.value.detail) == ("not-found", f"{LOCAL}/team/orders:nope: not found")


def test_a_refused_lookup_keeps_dockers_words_without_its_error_prefix(engine):
    engine.failures["inspect"] = ["ERROR: unexpected status from HEAD request to http://r/v2/x/manifests/t?ns=a: "
                                  "401 Unauthorized"]
    with pytest.raises(RegistryFailure) as e:
        transport.remote_image("r/x:t", env=None, timeout=30)
    assert e.value.kind == "auth"
    assert e.value.detail == "unexpected status from HEAD request to http://r/v2/x/manifests/t: 401 Unauthorized"
    assert "401 Unauthorized" in e.value.output


def test_a_lookup_that_hangs_is_stopped_and_retryable(engine):
    engine.failures["inspect"] = [subprocess.TimeoutExpired(["docker"], 30),
                                  Stalled(Result(("docker",), -15, "", ""), 30)]
    for _ in range(2):
        with pytest.raises(RegistryFailure) as e:
            transport.remote_image("r/x:t", env=None, timeout=30)
        assert e.value.kind == "stalled" and "30 s" in e.value.detail
        assert e.value.kind in transport.RETRYABLE


def test_without_docker_the_cli_calls_say_so(engine):
    engine.failures["inspect"] = [ProgramMissing("docker")]
    with pytest.raises(ShimimgError, match="docker is not installed"):
        transport.remote_image("r/x:t", env=None, timeout=30)


# What the user is told, per kind of failure.

LOCAL_REPO = parse_repository(f"{LOCAL}/team/orders")


def test_a_helper_failure_names_the_users_docker_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    e = messages.failure(RegistryFailure("helper", REF, "why"), LOCAL_REPO, LOCAL, attempts=1, timeout=60)
    assert str(tmp_path / "config.json") in e.hint
