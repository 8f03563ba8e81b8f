"""A real standalone BuildKit (scripts/buildkit.sh: buildkitd built from its Go module, registered
as the buildx remote builder "shimimg-remote", its base served by a loopback registry): build,
invoke (loads the image), push straight from the builder (never through the engine), registry
layer caches shared by a second "machine"."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401

from support import EXAMPLE, missing

BUILDER = os.environ.get("SHIMIMG_REMOTE_BUILDER", "shimimg-remote")
BASE = os.environ.get("SHIMIMG_REMOTE_BASE", "127.0.0.1:5055/shimimg-local/provided:al2")
EVENT = EXAMPLE / "events" / "get_order.json"


@pytest.fixture(scope="module")
def remote(docker_engine):
    r = subprocess.run(["docker", "buildx", "inspect", BUILDER], capture_output=True, text=True)
    if r.returncode != 0 or "Status:" not in r.stdout or "running" not in r.stdout:
        missing(f"the remote BuildKit builder {BUILDER}", "scripts/provision.sh buildkit")
    return BUILDER


def shimimg(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def work(tmp_path) -> Path:
    dest = tmp_path / "remote-orders"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    return dest


@pytest.fixture
def registry(tmp_path, registry_tools):  # noqa: F811
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    yield reg
    reg.stop()


def blob_puts(reg: Registry, since: int) -> int:
    return len(re.findall(r'"PUT /v2/\S+/blobs/uploads/\S+ HTTP/1\.1" 201', reg.log_text(since)))


def test_build_and_invoke_through_the_remote_builder(work, remote):
    r = shimimg("build", "--builder", remote, "--base-image", BASE, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    r = shimimg("invoke", "GetOrderFunction", "--builder", remote, "--base-image", BASE, "-e", str(EVENT), cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads((EXAMPLE / "events" / "get_order.expected.json").read_text())


def test_push_goes_straight_from_the_builder_and_uploads_only_what_changed(work, remote, registry, tmp_path):
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {registry.address: ("ci", "pw")}))}
    repo = f"{registry.address}/remote/orders"
    engine_images = set(subprocess.run(["docker", "image", "ls", "-q", "--no-trunc"], capture_output=True, text=True,
                                       check=True).stdout.split())
    r = shimimg("push", "--builder", remote, "--base-image", BASE, "--repository", repo, "--json", "-v", cwd=work,
                env=env)
    assert r.returncode == 0, r.stderr
    assert "--load" not in r.stderr and "push-by-digest=true" in r.stderr
    assert "$ docker image tag" not in r.stderr, "nothing went through the engine"
    after = set(subprocess.run(["docker", "image", "ls", "-q", "--no-trunc"], capture_output=True, text=True,
                               check=True).stdout.split())
    assert after == engine_images, "the image was not loaded into the engine"
    first = json.loads(r.stdout)["packages"][0]["push"]
    assert first["layers_pushed"] is None and first["image_uri"] == f"{repo}@{first['digest']}"
    manifest = registry.manifest("remote/orders", first["tags"][0])
    assert manifest[0] == first["digest"] and manifest[1]["mediaType"].endswith("image.manifest.v1+json")

    # One handler changed: that layer and the config go up, nothing else.
    src = work / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace('"order not found"', '"order NOT FOUND"'))
    mark = registry.log_offset()
    r = shimimg("push", "--builder", remote, "--base-image", BASE, "--repository", repo, "--json", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert blob_puts(registry, mark) == 2

    # Another repository of the same registry: the same image lands there; BuildKit mounts blobs it
    # knows the registry holds (from its own record of where each blob came from and went) and
    # uploads the rest. How many it mounts depends on that record, which BuildKit keeps to itself.
    mark = registry.log_offset()
    r = shimimg("push", "--builder", remote, "--base-image", BASE, "--repository", f"{registry.address}/other/orders",
                "--json", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    other = json.loads(r.stdout)["packages"][0]["push"]
    second = registry.manifest("remote/orders", json.loads(r.stdout)["packages"][0]["push"]["tags"][0])
    assert registry.manifest("other/orders", other["tags"][0])[0] == other["digest"] == second[0]
    log = registry.log_text(mark)
    mounted = log.count("mount=sha256")
    assert blob_puts(registry, mark) + mounted >= 1 and blob_puts(registry, mark) <= len(second[1]["layers"]) + 1


def test_a_second_machine_reuses_the_registry_layer_cache(work, remote, registry, tmp_path):
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {registry.address: ("ci", "pw")}))}
    cache = f"type=registry,ref={registry.address}/cache/orders:main,mode=max"
    r = shimimg("build", "--builder", remote, "--base-image", BASE, "--cache-to", cache,
                "--cache-dir", str(tmp_path / "machine-a"), cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    # The second machine: no BuildKit state, no shimimg cache.
    subprocess.run(["docker", "buildx", "prune", "-af", "--builder", remote], check=True, capture_output=True)
    r = shimimg("--debug", "build", "--builder", remote, "--base-image", BASE, "--cache-from",
                f"type=registry,ref={registry.address}/cache/orders:main", "--cache-dir", str(tmp_path / "machine-b"),
                cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert "importing cache manifest" in r.stderr
    # BuildKit's plain progress (shown with --debug): every COPY --link step (a vertex) is CACHED.
    steps = set(re.findall(r"#(\d+) \[\s*\d+/\d+\] COPY --link", r.stderr))
    cached = set(re.findall(r"#(\d+) CACHED", r.stderr))
    assert len(steps) == 6, steps
    for step in steps - cached:
        # A step BuildKit reports DONE rather than CACHED only fetched its cached blob (lazily, for
        # --load): its lines are blob downloads, nothing was copied or built again.
        lines = [ln.split(f"#{step} ", 1)[1] for ln in r.stderr.splitlines() if f"#{step} " in ln]
        body = [ln for ln in lines if not re.match(r"\[\s*\d+/\d+\] COPY", ln)]
        # BuildKit leaves the time out of a blob line that finished within one progress tick.
        assert all(re.fullmatch(r"(sha256:[0-9a-f]{64} \S+ / \S+( [\d.]+s)?( done)?|DONE [\d.]+s|extracting .*)", ln)
                   for ln in body), (step, lines)
