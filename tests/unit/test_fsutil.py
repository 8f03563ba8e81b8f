import errno
import os
import stat
from pathlib import Path

import pytest

from shimimg import fsutil
from shimimg.errors import ShimimgError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_leaves_no_temp_files_and_keeps_bytes(tmp_path):
    target = tmp_path / "t.yaml"
    fsutil.atomic_write_text(target, "x: 1\r\n")
    assert target.read_bytes() == b"x: 1\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.yaml"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_an_output_the_user_named_follows_its_link_and_creates_its_folders(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    fsutil.write_output(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    fsutil.write_output(tmp_path / "a" / "b" / "t.yaml", "x")
    assert (tmp_path / "a" / "b" / "t.yaml").read_text() == "x"


def test_a_link_where_shimimg_writes_its_own_files_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out.yaml"
    link.symlink_to(victim)
    with pytest.raises(fsutil.PlantedLink) as e:
        fsutil.atomic_write_text(link, "template")
    assert str(link) in e.value.message and victim.read_text() == "precious"


@pytest.mark.parametrize("make,kind", [
    (lambda p: os.mkfifo(p), "a FIFO"),
    (lambda p: p.mkdir(), "a folder"),
])
def test_special_files_are_refused_never_replaced(tmp_path, make, kind):
    target = tmp_path / "out"
    make(target)
    with pytest.raises(ShimimgError) as e:
        fsutil.write_output(target, "x")
    assert kind in e.value.message
    assert not stat.S_ISREG(os.lstat(target).st_mode)


def test_a_device_is_refused(tmp_path):
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    with pytest.raises(ShimimgError, match="is a device"):
        fsutil.write_output(link, "x")
    with pytest.raises(ShimimgError, match="is a device"):
        fsutil.write_output(Path("/dev/null"), "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "permission denied")])
def test_a_failed_write_is_an_error_that_keeps_the_old_file(tmp_path, monkeypatch, code, words):
    target = tmp_path / "t.yaml"
    target.write_text("old")

    def fail(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fsutil.os, "replace", fail)
    with pytest.raises(ShimimgError) as e:
        fsutil.atomic_write_text(target, "new")
    assert words in e.value.message and str(target) in e.value.message
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.yaml"]


def test_ensure_dir_refuses_planted_links_and_marks_new_folders(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    made = fsutil.ensure_dir(root, ".shimimg", "build", gitignore_first=True)
    assert made == root / ".shimimg" / "build"
    assert (root / ".shimimg" / ".gitignore").read_text().endswith("*\n")
    (root / ".shimimg" / "build").rmdir()
    (root / ".shimimg" / "build").symlink_to(elsewhere)
    with pytest.raises(fsutil.PlantedLink):
        fsutil.ensure_dir(root, ".shimimg", "build")


def test_remove_tree_never_follows_links(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("x")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(keep)
    fsutil.remove_tree(tree)
    assert (keep / "file").read_text() == "x" and not tree.exists()
    planted = tmp_path / "planted"
    planted.symlink_to(keep)
    with pytest.raises(fsutil.PlantedLink):
        fsutil.remove_tree(planted)
    assert (keep / "file").exists()


def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "lock").symlink_to(victim)
    with pytest.raises(fsutil.PlantedLink), fsutil.locked(tmp_path / "lock"):
        pass
    assert victim.read_text() == "precious"

