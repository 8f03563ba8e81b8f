"""Issue 19, items 2 and 4: a cache another party can write. Another user's folder, a folder others
may write, a cache inside the checkout (refused unless asked for, then never trusted), an empty
SHIMIMG_CACHE_DIR, entries moved between keys, and a planted Dockerfile link in a build context."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from conftest import copy_example, refused, shimimg
from shimimg.cache import project_name


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "orders")


def _shipped(tag: str, dest) -> list[bytes]:
    cid = subprocess.run(["docker", "create", "--platform", "linux/arm64", tag], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        subprocess.run(["docker", "cp", f"{cid}:/var/task/bin", str(dest)], check=True, capture_output=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    return [p.read_bytes() for p in sorted(dest.iterdir())]


def test_a_cache_folder_of_another_user_is_refused(work, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chown(cache, 65534, 65534)
    refused(shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": str(cache)}),
            f"cache folder {cache}: {cache} belongs to another user (uid 65534)")
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("mode,who", [(0o777, "every user"), (0o775, "its group")])
def test_a_cache_folder_others_may_write_is_refused(work, tmp_path, mode, who):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, mode)
    refused(shimimg("build", "--cache-dir", str(cache), cwd=work), f"{cache} can be written by {who}")
    assert list(cache.iterdir()) == []


def test_a_world_writable_parent_without_sticky_bit_is_refused(work, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    refused(shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": str(shared / "cache")}),
            f"{shared} can be written by every user")
    os.chmod(shared, 0o1777)  # sticky, as /tmp: others cannot replace what is ours
    assert shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": str(shared / "cache")}).returncode == 0


def test_a_cache_inside_the_checkout_is_refused_unless_asked_for(work):
    cache = work / ".cache" / "shimimg"
    r = shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": str(cache)})
    refused(r, f"cache folder {cache} is inside the checkout", "--cache-in-checkout")
    assert not cache.exists()
    r = shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": str(cache), "SHIMIMG_CACHE_IN_CHECKOUT": "1"})
    assert r.returncode == 0, r.stderr
    assert "inside the checkout: nothing recorded there is reused" in r.stderr


def test_an_empty_cache_dir_variable_means_unset(work, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    r = shimimg("plan", cwd=work, env={"SHIMIMG_CACHE_DIR": "", "HOME": str(home), "XDG_CACHE_HOME": ""})
    assert r.returncode == 0, r.stderr
    assert not (work / "CACHEDIR.TAG").exists() and not (work / "projects").exists()
    assert (home / ".cache" / "shimimg" / "CACHEDIR.TAG").is_file()


def test_committed_cache_binaries_and_records_are_never_shipped(work, tmp_path, standin):
    """The repository commits a cache (binaries and matching records) where CI keeps one."""
    cache = work / ".cache" / "shimimg"
    args = ["build", "--base-image", standin, "--cache-dir", str(cache), "--cache-in-checkout", "--json"]
    assert shimimg(*args, cwd=work).returncode == 0

    for binary in cache.glob("bin/arm64/*/*/binary"):
        data = binary.read_bytes()[:-8] + b"PLANTED!"
        binary.write_bytes(data)
        record = json.loads((binary.parent / "entry.json").read_text())
        record.update(sha256=hashlib.sha256(data).hexdigest(), stat=[0, 0, 0, 0])  # a record that agrees
        (binary.parent / "entry.json").write_text(json.dumps(record))
    r = shimimg(*args, "--progress", "plain", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "compile (5 of 5 handler(s))" in r.stderr
    shipped = _shipped(json.loads(r.stdout)["packages"][0]["image"]["tag"], tmp_path / "shipped")
    assert len(shipped) == 5 and not [b for b in shipped if b.endswith(b"PLANTED!")]


def test_a_cache_entry_moved_to_another_key_is_dropped(work, tmp_path, standin):
    cache = tmp_path / "cache"
    args = ["build", "--base-image", standin, "--cache-dir", str(cache)]
    assert shimimg(*args, cwd=work).returncode == 0
    entries = sorted(cache.glob("bin/arm64/*/*"))
    assert len(entries) == 5
    # Another party swaps two entries whole (binary and record): each is intact, under the wrong key.
    a, b = entries[0], entries[1]
    os.rename(a, tmp_path / "swap")
    os.rename(b, a)
    os.rename(tmp_path / "swap", b)
    r = shimimg(*args, "--progress", "plain", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("was recorded for another key") == 2
    assert "compile (2 of 5 handler(s))" in r.stderr


def test_a_planted_dockerfile_link_in_the_context_is_refused(work, tmp_path, standin):
    cache = tmp_path / "cache"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    context = cache / "projects" / project_name(work) / "context"
    assert shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work).returncode == 0
    [folder] = context.iterdir()
    (folder / "Dockerfile").unlink()
    (folder / "Dockerfile").symlink_to(victim)
    src = work / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace("order not found", "order missing"))  # forces a rebuild
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work)
    refused(r, f"{folder}/Dockerfile is a symbolic link")
    assert victim.read_text() == "precious"
