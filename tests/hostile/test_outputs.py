"""Issue 19, item 1: outputs (-o of every command, --in-place, the default) written through links
the repository committed — a file link, a folder link on the way — are refused naming the link."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from conftest import copy_example, refused, shimimg, snapshot


@pytest.fixture
def work(tmp_path):
    work = copy_example(tmp_path / "orders")
    subprocess.run(["git", "init", "-q", str(work)], check=True)  # a checkout, as CI has one
    return work


@pytest.fixture
def victim(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "profile").write_text("export PATH=/usr/bin\n")
    return outside


def _same(victim, before):
    assert snapshot(victim) == before
    assert sorted(p.name for p in victim.iterdir()) == sorted(before)


@pytest.mark.parametrize("command", [["migrate"], ["build", "--base-image", "shimimg-local/provided:al2"],
                                     ["push", "--repository", "127.0.0.1:9/x"]])
def test_a_committed_output_link_is_refused_for_every_command(work, victim, command):
    (work / "pinned.yaml").symlink_to(victim / "profile")
    before = snapshot(victim)
    r = shimimg(*command, "-o", "pinned.yaml", cwd=work)
    refused(r, f"{work}/pinned.yaml is a symbolic link (to {victim}/profile) inside the checkout")
    _same(victim, before)


def test_pin_refuses_a_committed_output_link(work, victim):
    (work / "pinned.yaml").symlink_to(victim / "profile")
    (work / "result.json").write_text("{}")
    before = snapshot(victim)
    r = shimimg("pin", "result.json", "-o", "pinned.yaml", cwd=work)
    refused(r, f"{work}/pinned.yaml is a symbolic link")
    _same(victim, before)


def test_a_committed_folder_link_on_the_output_path_is_refused(work, victim):
    (work / "deploy").symlink_to(victim)
    before = snapshot(victim)
    r = shimimg("migrate", "-o", "deploy/template.yaml", cwd=work)
    refused(r, f"{work}/deploy is a symbolic link (to {victim}) inside the checkout")
    _same(victim, before)


def test_a_link_outside_the_checkout_that_the_user_named_is_followed(work, tmp_path):
    """Links above the checkout are the machine's (e.g. /tmp on macOS): still followed."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    r = shimimg("migrate", "-o", str(tmp_path / "via" / "out.yaml"), cwd=work)
    assert r.returncode == 0, r.stderr
    assert "PackageType: Image" in (real / "out.yaml").read_text()


def test_in_place_on_a_template_linked_outside_the_checkout_is_refused(work, victim):
    elsewhere = victim / "template.yaml"
    os.replace(work / "template.yaml", elsewhere)
    (work / "template.yaml").symlink_to(elsewhere)
    before = snapshot(victim)
    r = shimimg("migrate", "--in-place", cwd=work)
    refused(r, f"template.yaml is a symbolic link to {elsewhere}, outside the checkout")
    _same(victim, before)
    assert not (work / "template.yaml.bak").exists()


def test_in_place_with_a_committed_backup_link_is_refused(work, victim):
    (work / "template.yaml.bak").symlink_to(victim / "profile")
    before = snapshot(victim)
    text = (work / "template.yaml").read_text()
    refused(shimimg("migrate", "--in-place", cwd=work), "template.yaml.bak is a symbolic link")
    _same(victim, before)
    assert (work / "template.yaml").read_text() == text


@pytest.mark.parametrize("make,kind", [(os.mkfifo, "is a FIFO"), (os.mkdir, "is a folder"),
                                       (lambda p: os.symlink("/dev/zero", p), "is a device")])
def test_migrate_check_output_that_is_not_a_file_is_refused_not_read(work, tmp_path, make, kind):
    target = tmp_path / "target"
    make(target)
    r = shimimg("migrate", "--check", "-o", str(target), cwd=work, timeout=60)
    refused(r, f"{target} {kind}")
    assert not stat.S_ISREG(os.stat(target).st_mode)
