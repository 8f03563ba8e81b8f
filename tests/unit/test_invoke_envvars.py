"""The environment ``invoke`` gives a function: Lambda's variables, the template's, SAM-format overrides."""

from __future__ import annotations

import json

import pytest

from shimimg import envvars
from shimimg.errors import ShimimgError
from shimimg.plan import Function
from support import EXAMPLE


def fn(env=(), memory=None, timeout=None, logical_id="EchoEnvFunction") -> Function:
    return Function(logical_id, "AWS::Serverless::Function", "bin/echo_env", "go1.x", memory, timeout, tuple(env))


def write(tmp_path, data) -> object:
    path = tmp_path / "env.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_examples_env_file_loads():
    o = envvars.load_overrides(EXAMPLE / "env.json")
    assert o.shared == {}
    assert o.functions == {
        "EchoEnvFunction": {"STAGE": "dev", "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-queue"}
    }
    assert o.source.endswith("env.json")


def test_parameters_apply_to_every_function_and_a_functions_own_section_wins(tmp_path):
    o = envvars.load_overrides(write(tmp_path, {"Parameters": {"STAGE": "prod", "LOG": "info"}, "A": {"STAGE": "dev"}}))
    assert o.for_function("A") == {"STAGE": "dev", "LOG": "info"}
    assert o.for_function("B") == {"STAGE": "prod", "LOG": "info"}


def test_values_are_stringified_as_sam_does(tmp_path):
    o = envvars.load_overrides(write(tmp_path, {"A": {"N": 3, "F": 1.5, "T": True, "X": False, "E": None}}))
    assert o.functions["A"] == {"N": "3", "F": "1.5", "T": "true", "X": "false", "E": ""}


@pytest.mark.parametrize("text,message", [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected a JSON object keyed by function logical id"),
    ('{"A": "x"}', "'A' must map variable names to values, not str"),
    ('{"A": {"B": {"nested": 1}}}', "A.B: the value must be a string, number or boolean, not dict"),
])
def test_a_bad_file_is_refused_naming_it(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ShimimgError) as e:
        envvars.load_overrides(path)
    assert str(path) in e.value.message and message in e.value.message


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ShimimgError, match="cannot read the --env-vars file"):
        envvars.load_overrides(tmp_path / "nope.json")


def test_literals_pass_and_intrinsics_need_an_override():
    f = fn(env=[("TABLE_NAME", "orders-table"), ("STAGE", None), ("QUEUE_URL", None)], memory=256, timeout=3)
    env = envvars.function_environment(f, envvars.Overrides(functions={"EchoEnvFunction": {"STAGE": "dev"}}),
                                       environ={})
    assert env.variables["TABLE_NAME"] == "orders-table"
    assert env.variables["STAGE"] == "dev"
    assert env.variables["QUEUE_URL"] == ""  # as `sam local` does for a value it cannot resolve
    assert env.unresolved == ("QUEUE_URL",)
    assert env.ignored == ()


def test_an_override_can_replace_a_literal_but_never_adds_an_undeclared_variable():
    f = fn(env=[("TABLE_NAME", "orders-table")])
    o = envvars.Overrides(shared={"SHARED_ONLY": "x"}, functions={"EchoEnvFunction": {"TABLE_NAME": "t2", "TYPO": "1"}})
    env = envvars.function_environment(f, o, environ={})
    assert env.variables["TABLE_NAME"] == "t2"
    assert "TYPO" not in env.variables and "SHARED_ONLY" not in env.variables
    # Only the function's own section is reported: shared names are meant for other functions too.
    assert env.ignored == ("TYPO",)


def test_lambdas_own_variables_with_template_values_and_defaults():
    env = envvars.function_environment(fn(memory=256, timeout=10), envvars.Overrides(), environ={}).variables
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "EchoEnvFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/EchoEnvFunction"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_LAMBDA_RUNTIME_API" not in env  # set, it would make the entrypoint skip the emulator
    defaults = envvars.function_environment(fn(), envvars.Overrides(), environ={}).variables
    assert defaults["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert defaults["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "3"


@pytest.mark.parametrize("environ,region", [
    ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1"),
    ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
    ({}, "us-east-1"),
])
def test_region_comes_from_the_environment(environ, region):
    env = envvars.function_environment(fn(), envvars.Overrides(), environ=environ).variables
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == region


def test_dummy_credentials_unless_real_ones_are_given():
    dummy = envvars.function_environment(fn(), envvars.Overrides(), environ={})
    assert not dummy.real_credentials
    assert {k: dummy.variables[k] for k in envvars.DUMMY_CREDENTIALS} == envvars.DUMMY_CREDENTIALS
    real = envvars.function_environment(
        fn(), envvars.Overrides(), environ={"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
    )
    assert real.real_credentials
    assert real.variables["AWS_ACCESS_KEY_ID"] == "AKID" and real.variables["AWS_SECRET_ACCESS_KEY"] == "SECRET"
    assert "AWS_SESSION_TOKEN" not in real.variables  # a dummy token beside real keys would break signing
    session = envvars.function_environment(
        fn(), envvars.Overrides(),
        environ={"AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "TOKEN"},
    )
    assert session.variables["AWS_SESSION_TOKEN"] == "TOKEN"
