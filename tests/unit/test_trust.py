import os

import pytest

from shimimg import trust
from shimimg.errors import ShimimgError
from shimimg.fsutil import PlantedLink


def test_the_checkout_is_the_nearest_folder_with_git_else_the_folder(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    assert trust.checkout_root(tmp_path / "repo" / "a" / "b") == tmp_path / "repo"
    (tmp_path / "loose").mkdir()
    assert trust.checkout_root(tmp_path / "loose") == tmp_path / "loose"


def test_links_inside_the_checkout_are_refused_links_above_it_followed(tmp_path):
    root = tmp_path / "repo"
    (root / "real").mkdir(parents=True)
    (root / "dir").symlink_to(root / "real")
    (root / "file.yaml").symlink_to(tmp_path / "victim")
    for path in (root / "dir" / "x.yaml", root / "file.yaml"):
        with pytest.raises(PlantedLink, match="inside the checkout"):
            trust.check_output_path(path, [root])
    (tmp_path / "via").symlink_to(root / "real")  # above the checkout: the machine's
    trust.check_output_path(tmp_path / "via" / "x.yaml", [root])
    trust.check_output_path(root / "new" / "deeper" / "x.yaml", [root])  # nothing there yet


def test_a_cache_others_may_write_or_inside_the_checkout_is_refused(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    assert trust.check_cache_dir(cache, project, allow_in_checkout=False) is False
    os.chmod(cache, 0o770)
    with pytest.raises(ShimimgError, match="can be written by its group"):
        trust.check_cache_dir(cache, project, allow_in_checkout=False)
    inner = project / ".cache"
    with pytest.raises(ShimimgError, match="inside the checkout"):
        trust.check_cache_dir(inner, project, allow_in_checkout=False)
    assert trust.check_cache_dir(inner, project, allow_in_checkout=True) is True


def test_a_link_inside_the_checkout_is_refused_also_before_dot_dot(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "etc" / "x").mkdir(parents=True)
    (root / "evil").symlink_to(tmp_path / "etc" / "x")
    with pytest.raises(PlantedLink, match="evil is a symbolic link"):
        trust.check_output_path(root / "evil" / ".." / "pinned.yaml", [root])  # would land in etc/
