"""`shimimg push` / `build --push`: the template is written after every push succeeded, and only then.

The build (Go, buildx) and dockercli's registry calls are faked; the template engine is real.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from contextlib import contextmanager

import pytest

from shimimg import cli, dockercli
from shimimg.commands import build as build_cmd
from shimimg.commands import push
from shimimg.dockercli import RegistryFailure, RemoteImage
from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from support import EXAMPLE

DIGEST = "sha256:" + "d" * 64
LAYER = "sha256:" + "e" * 64
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def example(tmp_path):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg"))
    return work


@pytest.fixture
def built(monkeypatch):
    """build_images without Go or buildx: the real plan, one image per package."""
    calls = []

    def build_images(template, settings):
        calls.append(template)
        doc, plan = build_cmd.load_plan(template, settings)
        images = tuple(ImageResult(p, p.image, DIGEST, DIGEST, cached=True)
                       for p in plan.packages)
        return doc, build_cmd.BuildResult(plan=plan, images=images, settings=settings)

    monkeypatch.setattr(push, "build_images", build_images)
    return calls


@pytest.fixture
def registry_calls(monkeypatch):
    remote = {}
    calls = []
    failures = []

    def push_(ref, env=None):
        calls.append(ref)
        if failures:
            raise failures.pop(0)
        remote[ref] = DIGEST
        return {LAYER[7:19]: "Pushed"}

    def remote_image(ref, env=None):
        return RemoteImage(remote[ref], MANIFEST, "arm64", "linux") if ref in remote else None

    @contextmanager
    def private_config(credentials):
        yield {}

    monkeypatch.setattr(dockercli, "tag", lambda source, target: None)
    monkeypatch.setattr(dockercli, "untag", lambda ref: None)
    monkeypatch.setattr(dockercli, "push", push_)
    monkeypatch.setattr(dockercli, "remote_image", remote_image)
    monkeypatch.setattr(dockercli, "remote_manifest",
                        lambda ref, env=None: {"mediaType": MANIFEST, "layers": [{"digest": LAYER, "size": 4242}]})
    monkeypatch.setattr(dockercli, "private_config", private_config)
    return calls, failures


def test_every_function_is_pinned_and_json_names_repository_tags_digest_bytes(example, built, registry_calls, capsys):
    out = example / "pinned.yaml"
    rc = push.run(template=example / "template.yaml", output=out, flags={}, repositories=["127.0.0.1:5000/orders"],
                  tags=["ci-1"], as_json=True)
    assert rc == 0
    uris = re.findall(r"ImageUri: (\S+)", out.read_text())
    assert uris == [f"127.0.0.1:5000/orders@{DIGEST}"] * 5
    data = json.loads(capsys.readouterr().out)
    [img] = data["images"]
    assert data["template"] == str(out)
    assert img == {
        "package": "./", "repository": "127.0.0.1:5000/orders", "tags": ["sha256-" + "d" * 24, "ci-1"],
        "digest": DIGEST, "image_uri": f"127.0.0.1:5000/orders@{DIGEST}", "layers": 1, "layers_pushed": 1,
        "layers_mounted": 0, "bytes_pushed": 4242,
        "functions": ["CreateOrderFunction", "GetOrderFunction", "ProcessOrdersFunction", "FailOrderFunction",
                      "EchoEnvFunction"],
    }


def test_a_failed_push_leaves_the_template_as_it_was(example, built, registry_calls):
    calls, failures = registry_calls
    failures.append(RegistryFailure("auth", "r", "401 Unauthorized"))
    out = example / "pinned.yaml"
    out.write_text("previous run's template\n")
    with pytest.raises(ShimimgError, match="refused the credentials"):
        push.run(template=example / "template.yaml", output=out, flags={}, repositories=["127.0.0.1:5000/orders"])
    assert out.read_text() == "previous run's template\n"
    assert len(calls) == 1


def test_ecr_without_boto3_stops_before_building(example, built, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ShimimgError, match="needs boto3"):
        push.run(template=example / "template.yaml", output=None, flags={},
                 repositories=["123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders"])
    assert built == []


def test_text_output_reports_bytes_pushed(example, built, registry_calls, capsys):
    assert push.run(template=example / "template.yaml", output=None, flags={},
                    repositories=["./=127.0.0.1:5000/orders"]) == 0
    text = capsys.readouterr().out
    assert "1/1" in text and "4.2 kB" in text
    assert (example / ".shimimg" / "build" / "template.yaml").is_file()


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def run(**kwargs):
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(push, "run", run)
    return seen


def test_build_push_and_push_take_the_same_options(captured, monkeypatch):
    monkeypatch.setenv("SHIMIMG_REGISTRY_ENDPOINT", "127.0.0.1:5999")
    args = ["--repository", "r.example/a", "--tag", "v1", "--force", "--create-repository", "--retries", "1",
            "--base-image", "local/base:1"]
    assert cli.main(["build", "--push", *args]) == 0
    from_build = dict(captured)
    captured.clear()
    assert cli.main(["push", *args]) == 0
    assert from_build == captured
    assert captured["repositories"] == ["r.example/a"] and captured["tags"] == ["v1"]
    assert (captured["force"], captured["create_repository"], captured["retries"]) == (True, True, 1)
    assert captured["registry_endpoint"] == "127.0.0.1:5999"
    assert captured["flags"]["base_image"] == "local/base:1"


def test_build_repository_without_push_is_a_usage_error(captured, capsys):
    assert cli.main(["build", "--repository", "r.example/a"]) == 2
    assert "--repository needs --push" in capsys.readouterr().err
    assert captured == {}
