"""Two checkouts in folders of the same name (two CI jobs on one engine), with different handler
code: local tags name the content, so each build, invoke and push handles its own image — also
while the other one builds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401 - fixtures

from support import EXAMPLE

EVENT = json.dumps({"pathParameters": {"id": "missing"}})


def shimimg(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=900)


def checkout(root: Path, text: str) -> Path:
    work = root / "orders"  # the same folder name in both
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    src = work / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace('"order not found"', f'"{text}"'))
    return work


def answer(work: Path, standin: str) -> str:
    r = subprocess.run([sys.executable, "-m", "shimimg", "invoke", "GetOrderFunction", "-e", "-", "--base-image",
                        standin], cwd=work, input=EVENT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(json.loads(r.stdout)["body"])["error"]


@pytest.fixture
def registry(tmp_path, registry_tools):  # noqa: F811
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    yield reg
    reg.stop()


def local_layers(tag: str) -> list[str]:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", tag],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_same_folder_names_never_share_an_image(tmp_path, standin, go_toolchain, registry):
    a = checkout(tmp_path / "job-a", "not found in checkout A")
    b = checkout(tmp_path / "job-b", "not found in checkout B")
    built = {}
    for work in (a, b):
        r = shimimg("build", "--base-image", standin, "--json", cwd=work)
        assert r.returncode == 0, r.stderr
        built[work] = json.loads(r.stdout)["packages"][0]["image"]
    assert built[a]["tag"] != built[b]["tag"]
    assert built[a]["tag"].rsplit(":", 1)[0] == built[b]["tag"].rsplit(":", 1)[0] == "shimimg/orders"
    assert answer(a, standin) == "not found in checkout A"
    assert answer(b, standin) == "not found in checkout B"

    # A's push while B rebuilds (with a change of its own): A pins A's image.
    src = b / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace("checkout B", "checkout B, again"))
    config = docker_config(tmp_path / "docker", {registry.address: ("ci", "pw")})
    env = {"DOCKER_CONFIG": str(config)}
    rebuild = subprocess.Popen([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--json"], cwd=b,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = shimimg("push", "--base-image", standin, "--repository", f"{registry.address}/jobs/orders", "--json",
                cwd=a, env=env)
    out, err = rebuild.communicate(timeout=600)
    assert rebuild.returncode == 0, err
    assert r.returncode == 0, r.stderr
    pushed = json.loads(r.stdout)["packages"][0]["push"]
    # The pushed image is A's: gzip layers where the local build keeps plain ones, so another
    # manifest digest, but the same layers by their uncompressed digests (the config's diff_ids).
    _, manifest, _ = registry.manifest("jobs/orders", pushed["digest"])
    config = json.loads(registry.blob("jobs/orders", manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == local_layers(built[a]["tag"])
    assert local_layers(built[a]["tag"]) != local_layers(built[b]["tag"])
    pinned = (a / json.loads(r.stdout)["output"]).read_text()
    assert pinned.count(f"{registry.address}/jobs/orders@{pushed['digest']}") == 5
    assert answer(b, standin) == "not found in checkout B, again"
    assert answer(a, standin) == "not found in checkout A"
