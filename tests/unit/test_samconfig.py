"""samconfig.toml/.yaml read as SAM reads them, and SAM's deploy options turned into repositories
(issue 20). tests/integration/test_samconfig_vs_sam.py checks the same files against SAM's own code."""

from pathlib import Path

import pytest

from shimimg import samconfig
from shimimg.commands import samargs
from shimimg.errors import ShimimgError
from shimimg.plan.records import Function, Package, Plan

TOML = '''version = 0.1
[default.global.parameters]
region = "eu-west-1"
parameter_overrides = "Stage=dev"
[default.deploy.parameters]
image_repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders"
[staging.deploy.parameters]
region = "eu-central-1"
profile = "staging"
image_repositories = ["CreateOrderFunction=123456789012.dkr.ecr.eu-central-1.amazonaws.com/create"]
'''


def test_command_table_over_global_and_environments(tmp_path):
    (tmp_path / "samconfig.toml").write_text(TOML)
    cfg = samconfig.load(tmp_path, "deploy")
    assert cfg.path == tmp_path / "samconfig.toml"
    assert cfg.text("region") == "eu-west-1" and cfg.text("image_repository").endswith("/orders")
    staging = samconfig.load(tmp_path, "deploy", config_env="staging")
    assert staging.text("region") == "eu-central-1" and staging.text("image_repository") is None
    assert staging.items("image_repositories") == ["CreateOrderFunction=123456789012.dkr.ecr.eu-central-1."
                                                   "amazonaws.com/create"]
    assert samconfig.load(tmp_path, "local_invoke", config_env="nowhere").values == {}


def test_toml_first_then_yaml_then_yml_and_config_file_relative_to_the_template(tmp_path):
    (tmp_path / "samconfig.yml").write_text("version: 0.1\ndefault:\n  deploy:\n    parameters:\n      region: yml\n")
    assert samconfig.load(tmp_path, "deploy").text("region") == "yml"
    (tmp_path / "samconfig.yaml").write_text("version: 0.1\ndefault:\n  deploy:\n    parameters:\n      region: yaml\n")
    assert samconfig.load(tmp_path, "deploy").text("region") == "yaml"
    (tmp_path / "samconfig.toml").write_text('version = 0.1\n[default.deploy.parameters]\nregion = "toml"\n')
    assert samconfig.load(tmp_path, "deploy").text("region") == "toml"
    assert samconfig.load(tmp_path, "deploy", config_file="samconfig.yml").text("region") == "yml"
    assert samconfig.load(Path("/"), "deploy", config_file=tmp_path / "samconfig.yaml").text("region") == "yaml"


@pytest.mark.parametrize("files,kwargs,fragment", [
    ({}, {"config_file": "missing.toml"}, "--config-file missing.toml:"),
    ({"c.json": "{}"}, {"config_file": "c.json"}, "reads .toml, .yaml and .yml"),
    ({"samconfig.toml": "[default.deploy.parameters]\n"}, {}, "'version' key is not present"),
    ({"samconfig.toml": "version = 0.1\n[default\n"}, {}, "samconfig.toml: not valid TOML"),
    ({"samconfig.yaml": "version: [\n"}, {}, "samconfig.yaml: not valid YAML"),
])
def test_bad_config_files_are_named(tmp_path, files, kwargs, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ShimimgError, match=None) as e:
        samconfig.load(tmp_path, "deploy", **kwargs)
    assert fragment in e.value.message


def test_flags_win_over_the_file_key_by_key(tmp_path):
    (tmp_path / "samconfig.toml").write_text(TOML)
    d = samconfig.deploy(tmp_path, region="us-west-2")
    assert (d.region, d.profile) == ("us-west-2", None) and d.image_repository.endswith("/orders")
    d = samconfig.deploy(tmp_path, config_env="staging", profile="mine")
    assert (d.region, d.profile) == ("eu-central-1", "mine")
    assert d.image_repositories == {"CreateOrderFunction": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/create"}
    d = samconfig.deploy(tmp_path, config_env="staging", image_repositories=["GetOrderFunction=r.example/x"])
    assert d.image_repositories == {"GetOrderFunction": "r.example/x"}
    with pytest.raises(ShimimgError, match="is not FUNCTION=URI"):
        samconfig.deploy(tmp_path, image_repositories=["nouri"])


def _plan(tmp_path) -> Plan:
    fn = lambda name: Function(name, "AWS::Serverless::Function", f"bin/{name.lower()}", "go1.x")  # noqa: E731
    packages = (Package("./", tmp_path, "dir", "shimimg/a:latest", "arm64", (fn("A1"), fn("A2"))),
                Package("b/", tmp_path / "b", "dir", "shimimg/b:latest", "arm64", (fn("B1"),)))
    return Plan(template=tmp_path / "template.yaml", packages=packages)


def test_image_repositories_name_the_repository_of_the_functions_package(tmp_path):
    plan = _plan(tmp_path)
    d = samconfig.Deploy(image_repository="r.example/all", image_repositories={"B1": "r.example/b"})
    assert samargs.repository_specs([], d, plan) == ["r.example/all", "b/=r.example/b"]
    same = samconfig.Deploy(image_repositories={"A1": "r.example/a", "A2": "r.example/a"})
    assert samargs.repository_specs([], same, plan) == ["./=r.example/a"]
    with pytest.raises(ShimimgError) as e:
        samargs.repository_specs([], samconfig.Deploy(image_repositories={"A1": "r.example/a", "A2": "r.example/z",
                                                                          "Nope": "r.example/n"}), plan)
    assert any("A1 and A2 share package ./ (one image)" in p for p in e.value.problems)
    assert any("Nope is not a Go function shimimg moves" in p for p in e.value.problems)
    with pytest.raises(ShimimgError, match="--repository and --image-repository both"):
        samargs.repository_specs(["r.example/one"], samconfig.Deploy(image_repository="r.example/two"), plan)


def test_a_region_that_contradicts_an_ecr_repository_stops_the_push():
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders"
    samargs.check_region([ecr, "127.0.0.1:5000/x"], "eu-west-1")
    samargs.check_region([ecr], None)
    with pytest.raises(ShimimgError, match="is in eu-west-1, but the region is us-east-1"):
        samargs.check_region([f"./={ecr}"], "us-east-1")
