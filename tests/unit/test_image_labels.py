"""What goes into an image's config besides its files (issue 20): by default nothing from git, so a
commit that changes no binary keeps every digest; ``--label-revision`` opts into the OCI labels."""

from pathlib import Path

from shimimg import config
from shimimg.image import context
from shimimg.image.build import LAYOUT_VERSION, ImageSettings, created_epoch, labels
from shimimg.plan.records import Function, Package
from shimimg.vcs import Revision

PKG = Package(code_uri="./", path=Path("/p"), kind="dir", image="shimimg/p:latest", arch="arm64",
              functions=(Function("A", "AWS::Serverless::Function", "bin/b", "go1.x"),
                         Function("B", "AWS::Serverless::Function", "bin/a", "go1.x")))
REV = Revision(commit="c0ffee", commit_time="1700000000", source="https://example.com/r.git", dirty=True)
OTHER = Revision(commit="beef", commit_time="1800000000", source="https://example.com/r.git")


def test_default_labels_hold_only_what_is_in_the_image():
    opts = ImageSettings(base="b", direct=False)
    for rev in (REV, OTHER, Revision()):
        assert labels(PKG, rev, created_epoch(opts, rev)) == {"io.shimimg.handlers": "bin/a,bin/b",
                                                              "io.shimimg.layout": LAYOUT_VERSION}
        # The config's "created" does not follow the commit either.
        assert created_epoch(opts, rev) == context.FIXED_MTIME


def test_label_revision_adds_commit_time_and_source():
    opts = ImageSettings(base="b", direct=False, label_revision=True)
    epoch = created_epoch(opts, REV)
    assert epoch == 1700000000
    got = labels(PKG, REV, epoch, with_revision=True)
    assert got["org.opencontainers.image.revision"] == "c0ffee-dirty"
    assert got["org.opencontainers.image.source"] == "https://example.com/r.git"
    assert got["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert got["io.shimimg.layout"] == LAYOUT_VERSION and "io.shimimg.version" in got
    # Outside git there is nothing to label but the time.
    assert created_epoch(opts, Revision()) == context.FIXED_MTIME


def test_source_date_epoch_wins_when_the_user_sets_it():
    for label_revision in (False, True):
        opts = ImageSettings(base="b", direct=False, source_date_epoch=42, label_revision=label_revision)
        assert created_epoch(opts, REV) == 42


def test_label_revision_is_a_project_setting_from_file_env_and_flag(tmp_path):
    assert config.load(tmp_path, {}, environ={}).label_revision is False
    (tmp_path / "shimimg.toml").write_text("label-revision = true\n")
    assert config.load(tmp_path, {}, environ={}).label_revision is True
    assert config.load(tmp_path, {}, environ={"SHIMIMG_LABEL_REVISION": "0"}).label_revision is False
    assert config.load(tmp_path, {"label_revision": False}, environ={}).label_revision is False
    assert ImageSettings.of(config.load(tmp_path, {}, environ={})).label_revision is True


def test_git_is_asked_only_for_the_labels(tmp_path, monkeypatch):
    from shimimg.commands import build

    asked = []
    monkeypatch.setattr(build, "revision", lambda d: asked.append(d) or REV)
    template = tmp_path / "template.yaml"
    assert build.image_revision(template, config.load(tmp_path, {}, environ={})) == Revision()
    assert asked == []
    assert build.image_revision(template, config.load(tmp_path, {"label_revision": True}, environ={})) == REV
    assert asked == [tmp_path.resolve()]
