from pathlib import Path

import pytest

from shimimg import config
from shimimg.errors import ShimimgError


def test_defaults_point_at_the_real_base_and_a_cache_outside_the_work_tree(tmp_path):
    s = config.load(tmp_path, {}, environ={"HOME": "/home/u"})
    assert s.base_ref == "public.ecr.aws/lambda/provided:al2"
    assert s.arch == "arm64"
    assert s.cache_dir == Path("/home/u/.cache/shimimg")
    assert config.load(tmp_path, {}, environ={"XDG_CACHE_HOME": "/x"}).cache_dir == Path("/x/shimimg")
    relative = config.load(tmp_path, {}, environ={"XDG_CACHE_HOME": "rel", "HOME": "/h"})
    assert relative.cache_dir == Path("/h/.cache/shimimg")
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


def test_every_option_has_help_flags_and_an_env_name():
    for name in config.OPTION_FIELDS:
        if name == "source_date_epoch":
            continue
        assert config.option_help(name).split(" [env:")[0], name
        assert f"SHIMIMG_{name.upper()}" in config.option_help(name)


@pytest.mark.parametrize("name,value", [
    ("cache_dir", "'.'"), ("builder", "'evil'"), ("cache_to", "['type=local,dest=/root']"),
    ("registry_endpoint", "'attacker.example'"), ("max_binary_size", "4096"), ("jobs", "256"),
    ("timeout", "86400"), ("retries", "100"),
])
def test_a_repository_config_cannot_choose_machine_resources(tmp_path, name, value):
    (tmp_path / "shimimg.toml").write_text(f"{name} = {value}\n")
    with pytest.raises(ShimimgError) as e:
        config.load(tmp_path, {}, environ={})
    assert f"{name} cannot be set in a repository's config file" in e.value.message
    assert f"SHIMIMG_{name.upper()}" in e.value.hint
    # The same value from the environment is the machine owner's choice.
    env_value = value.strip("'[]")
    from_env = config.load(tmp_path.parent, {}, environ={f"SHIMIMG_{name.upper()}": env_value})
    assert from_env.sources[name] == "environment"


@pytest.mark.parametrize("env,fragment", [
    ({"SHIMIMG_BASE_IMAGE": "x\nRUN id"}, "control characters"),
    ({"SHIMIMG_BASE_IMAGE": "Bad Ref"}, "not an image reference"),
    ({"SHIMIMG_BASE_IMAGE": "repo:tag\r"}, "control characters"),
    ({"SHIMIMG_GO_TAGS": "-toolexec=x"}, "a Go build tag is letters"),
    ({"SHIMIMG_BUILDER": "--driver=x"}, "a buildx builder name"),
    ({"SHIMIMG_CACHE_TO": "--output=x"}, "cannot start with '-'"),
    ({"SHIMIMG_COMPRESSION_LEVEL": "10"}, "expected 0 to 9"),
    ({"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH='yesterday' is not a number"),
])
def test_values_are_validated_once_whatever_their_source(tmp_path, env, fragment):
    with pytest.raises(ShimimgError) as e:
        config.load(tmp_path, {}, environ=env)
    assert fragment in e.value.message


def test_mapping_tables_and_the_hint_tables_match_the_config_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.shimimg.handlers]\n"bin/a" = "./x"\n[tool.shimimg.packages."./svc/".handlers]\n"bin/b" = "./y"\n')
    s = config.load(tmp_path, {}, environ={})
    assert s.handlers == {"bin/a": "./x"}
    assert s.package_mapping("./svc/") == {"bin/b": "./y"} and s.package_mapping("other/") == {}
    assert s.handler_table() == "[tool.shimimg.handlers]"
    assert s.package_table("./svc/") == '[tool.shimimg.packages."./svc/".handlers]'
    bare = config.load(tmp_path / "nothing-here", {}, environ={})
    assert bare.handler_table() == "[handlers]" and bare.package_table("a") == '[packages."a".handlers]'


def test_source_date_epoch_is_read_once(tmp_path):
    assert config.load(tmp_path, {}, environ={"SOURCE_DATE_EPOCH": "1700000000"}).source_date_epoch == 1700000000
    assert config.load(tmp_path, {}, environ={}).source_date_epoch is None
