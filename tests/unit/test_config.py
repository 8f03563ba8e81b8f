from pathlib import Path

import pytest

from shimimg import config
from shimimg.errors import ShimimgError


def test_defaults_point_at_the_real_base(tmp_path):
    s = config.load(tmp_path, {}, environ={})
    assert s.base_ref == "public.ecr.aws/lambda/provided:al2"
    assert s.arch == "arm64"
    assert s.cache_dir == tmp_path / ".shimimg" / "cache"
    assert s.sources == {}


def test_precedence_default_file_env_flag(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname="x"\n[tool.shimimg]\nbase_image = "al2023"\narch = "x86_64"\nprebuilt = true\n'
        '[tool.shimimg.handlers]\n"bin/a" = "./services/a"\n'
    )
    env = {"SHIMIMG_ARCH": "arm64", "SHIMIMG_GO_TAGS": "netgo, osusergo"}
    s = config.load(tmp_path, {"prebuilt": False, "builder": None}, environ=env)
    assert s.base_ref == "public.ecr.aws/lambda/provided:al2023"
    assert s.arch == "arm64"
    assert s.go_tags == ("netgo", "osusergo")
    assert s.prebuilt is False
    assert s.handlers == {"bin/a": "./services/a"}
    assert s.sources == {
        "base_image": str(tmp_path / "pyproject.toml"),
        "arch": "environment",
        "prebuilt": "command line",
        "handlers": str(tmp_path / "pyproject.toml"),
        "go_tags": "environment",
    }


def test_shimimg_toml_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.shimimg]\nbase_image = "al2023"\n')
    (tmp_path / "shimimg.toml").write_text('base-image = "mirror.example/lambda/provided:al2"\n')
    assert config.load(tmp_path, {}, environ={}).base_ref == "mirror.example/lambda/provided:al2"


def test_pyproject_without_tool_table_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert config.load(tmp_path, {}, environ={}).sources == {}


@pytest.mark.parametrize(
    "files,env,fragment",
    [
        ({"shimimg.toml": "bogus = 1\n"}, {}, "unknown shimimg option(s): bogus"),
        ({"shimimg.toml": "arch = \n"}, {}, "not valid TOML"),
        ({}, {"SHIMIMG_ARCH": "mips"}, "SHIMIMG_ARCH: invalid value 'mips' for arch"),
        ({}, {"SHIMIMG_PREBUILT": "maybe"}, "SHIMIMG_PREBUILT: invalid value 'maybe' for prebuilt"),
    ],
)
def test_bad_settings_name_their_source(tmp_path: Path, files, env, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ShimimgError) as e:
        config.load(tmp_path, {}, environ=env)
    assert fragment in e.value.message


def test_every_option_has_help():
    for name in config._option_names():
        assert config.option_help(name).split(" [env:")[0], name
