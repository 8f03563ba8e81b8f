"""Issue 19, item 6: a registry that answers the content tag with another image right after the
push. shimimg pins the digest the engine pushed, checks the registry serves it, and refuses (exit 1,
nothing written) when the tag names something else; it never pins the other image."""

from __future__ import annotations

import json

import pytest
from registry_fixtures import Registry, docker_config, registry_tools  # noqa: F401
from tagswap import TagSwap

from conftest import copy_example, refused, shimimg


@pytest.fixture
def registry(tmp_path, registry_tools):  # noqa: F811
    reg = Registry(tmp_path / "registry", {"ci": "pw"}).start()
    yield reg
    reg.stop()


def test_a_registry_that_swaps_the_tag_after_the_push_gets_nothing_pinned(tmp_path, registry, standin):
    work = copy_example(tmp_path / "orders")
    src = work / "cmd" / "get_order" / "main.go"
    original = src.read_text()
    cache = str(tmp_path / "cache")
    # The other image: a real arm64 image of this package (another build), in the same repository as "evil".
    src.write_text(original.replace("order not found", "order missing (evil)"))
    proxy = TagSwap(registry.port, evil="evil")
    try:
        env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {registry.address: ("ci", "pw"),
                                                                          proxy.address: ("ci", "pw")}))}
        r = shimimg("push", "--base-image", standin, "--cache-dir", cache, "--repository",
                    f"{registry.address}/swap/orders", "--tag", "evil", "--json", cwd=work, env=env)
        assert r.returncode == 0, r.stderr
        evil = json.loads(r.stdout)["packages"][0]["push"]["digest"]
        src.write_text(original)
        out = tmp_path / "pinned.yaml"
        r = shimimg("push", "--base-image", standin, "--cache-dir", cache, "--repository",
                    f"{proxy.address}/swap/orders", "-o", str(out), "--json", cwd=work, env=env)
        assert proxy.swapped >= 1, "the proxy never lied: the test proves nothing"
        refused(r, f"names {evil} right after shimimg pushed sha256:", "serves another image under the tag")
        assert evil not in r.stdout
        assert not out.exists()
    finally:
        proxy.close()
