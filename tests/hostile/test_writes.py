"""Writes outside shimimg's own files: devices, FIFOs, folders, read-only and full file systems,
and symlinks planted in .shimimg/ or the cache — refused, never written through."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_example, refused, shimimg, snapshot
from shimimg.cache import project_name


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "orders")


@pytest.mark.parametrize("target,kind", [("/dev/full", "is a device"), ("/dev/null", "is a device")])
def test_a_device_as_output_is_refused_and_stays_a_device(work, target, kind):
    before = snapshot(work)
    for command in (["migrate"], ["build", "--base-image", "shimimg-local/provided:al2"]):
        r = shimimg(*command, "-o", target, cwd=work)
        refused(r, f"{target} {kind}")
        assert stat.S_ISCHR(os.stat(target).st_mode)
    assert snapshot(work) == before


def test_a_fifo_or_a_folder_as_output_is_refused(work, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(shimimg("migrate", "-o", str(fifo), cwd=work), "is a FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    refused(shimimg("migrate", "-o", str(tmp_path), cwd=work), "is a folder")


def _in_namespace(mount: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run shimimg in a private mount namespace after ``mount`` (a shell command) ran there."""
    cmd = f"{mount} && exec {sys.executable} -m shimimg " + " ".join(args)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_a_read_only_file_system_is_a_normal_error(work, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    r = _in_namespace(f"mount -t tmpfs -o ro tmpfs {ro}", ["migrate", "-o", f"{ro}/out.yaml"], work)
    refused(r, f"cannot write {ro}/out.yaml: the file system is read-only")


def test_a_full_disk_is_a_normal_error_and_leaves_no_temp_file(work, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    r = _in_namespace(f"mount -t tmpfs -o size=4k tmpfs {full} && head -c 4096 /dev/zero > {full}/filler || true",
                      ["migrate", "-o", f"{full}/out.yaml"], work)
    refused(r, f"cannot write {full}/out.yaml", "the disk is full")


def test_a_planted_output_link_in_shimimg_folder_is_refused(work, tmp_path):
    victim = tmp_path / "profile"
    victim.write_text("export PATH=/usr/bin\n")
    (work / ".shimimg" / "migrated").mkdir(parents=True)
    (work / ".shimimg" / "migrated" / "template.yaml").symlink_to(victim)
    r = shimimg("migrate", cwd=work)
    refused(r, f".shimimg/migrated/template.yaml is a symbolic link (to {victim})")
    assert victim.read_text() == "export PATH=/usr/bin\n"


@pytest.mark.parametrize("planted", [".shimimg", ".shimimg/migrated"])
def test_a_planted_folder_link_is_refused(work, tmp_path, planted):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    (work / planted).parent.mkdir(parents=True, exist_ok=True)
    (work / planted).symlink_to(elsewhere)
    refused(shimimg("migrate", cwd=work), f"{planted} is a symbolic link")
    assert [p.name for p in elsewhere.iterdir()] == ["keep"]


def test_shimimg_folder_gets_a_gitignore_and_no_cache(work):
    assert shimimg("migrate", cwd=work).returncode == 0
    assert (work / ".shimimg" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert sorted(p.name for p in (work / ".shimimg").iterdir()) == [".gitignore", "migrated"]


def test_a_cache_inside_the_repository_with_a_planted_lock_is_refused(work, tmp_path, standin):
    """A CI that caches shimimg's folder inside the checkout: links the repository planted there."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    cache = work / ".cache" / "shimimg"
    project = cache / "projects" / project_name(work)
    project.mkdir(parents=True)
    (project / "lock").symlink_to(victim)
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), "--cache-in-checkout", cwd=work)
    refused(r, f"{project}/lock is a symbolic link")
    assert victim.read_text() == "precious"


def test_a_planted_context_link_is_refused_and_its_target_kept(work, tmp_path, standin):
    cache = tmp_path / "cache"
    assert shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work).returncode == 0
    [context] = (cache / "projects" / project_name(work) / "context").iterdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    os.rename(context, tmp_path / "moved")
    context.symlink_to(elsewhere)
    src = work / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace("order not found", "order missing"))  # forces a restage
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work)
    refused(r, f"{context} is a symbolic link")
    assert [p.name for p in elsewhere.iterdir()] == ["keep"]


def test_a_planted_binary_in_the_cache_is_never_shipped(work, tmp_path, standin):
    """A cache entry whose binary no longer matches its recorded digest is rebuilt, not shipped."""
    cache = tmp_path / "cache"
    assert shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work).returncode == 0
    entries = list((cache / "bin" / "arm64").glob("*/*/binary"))
    assert len(entries) == 5
    for binary in entries:
        data = bytearray(binary.read_bytes())
        data[-8:] = b"PLANTED!"  # same size, new bytes
        st = binary.stat()
        binary.write_bytes(bytes(data))
        os.utime(binary, ns=(st.st_atime_ns, st.st_mtime_ns))
    # The image is cached already: force the binaries' use by changing nothing but the base key.
    (work / "cmd" / "echo_env" / "main.go").write_text((work / "cmd" / "echo_env" / "main.go").read_text() + "\n// x\n")
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), "--progress", "plain", "--json",
                cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("no longer matches the digest recorded") == 4  # echo_env's key moved anyway
    assert "compile (5 of 5 handler(s))" in r.stderr
    # Only echo_env's old entry, which no key names any more, still holds the planted bytes.
    assert len([p for p in (cache / "bin").rglob("binary") if b"PLANTED!" in p.read_bytes()]) == 1
    tag = json.loads(r.stdout)["packages"][0]["image"]["tag"]
    cid = subprocess.run(["docker", "create", "--platform", "linux/arm64", tag], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        subprocess.run(["docker", "cp", f"{cid}:/var/task/bin", str(tmp_path / "shipped")], check=True,
                       capture_output=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    shipped = list((tmp_path / "shipped").iterdir())
    assert len(shipped) == 5 and not [p for p in shipped if b"PLANTED!" in p.read_bytes()]


@pytest.mark.parametrize("planted", [".aws-sam", ".aws-sam/build"])
def test_a_planted_link_where_build_writes_is_refused(work, tmp_path, planted, standin):
    """build writes .aws-sam/build/template.yaml (issue 20): a link planted on the way is refused,
    and nothing is written where it points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    (work / planted).parent.mkdir(parents=True, exist_ok=True)
    (work / planted).symlink_to(elsewhere)
    refused(shimimg("build", "--base-image", standin, cwd=work), f"{planted} is a symbolic link")
    assert [p.name for p in elsewhere.iterdir()] == ["keep"]
