"""The environment ``invoke`` gives a function: Lambda's variables, the template's, SAM-format overrides,
with SAM's precedence (measured with sam local invoke 1.170, /work/research/sam/invoke)."""

from __future__ import annotations

import json

import pytest

from shimimg.errors import ShimimgError
from shimimg.localinvoke import envvars
from shimimg.plan.records import Function
from support import EXAMPLE, missing


def fn(env=(), memory=None, timeout=None, logical_id="EchoEnvFunction") -> Function:
    return Function(logical_id, "AWS::Serverless::Function", "bin/echo_env", "go1.x", memory, timeout, tuple(env))


def ctx(environ=None, resolved=None, **kw) -> envvars.Context:
    return envvars.Context(environ=environ or {}, resolved={"EchoEnvFunction": resolved or {}}, **kw)


def environment(f: Function, overrides=None, **kw) -> envvars.Environment:
    return envvars.function_environment(f, overrides or envvars.Overrides(), context=ctx(**kw), handler=f.handler)


def write(tmp_path, data) -> object:
    path = tmp_path / "env.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# --- the --env-vars file -----------------------------------------------------------------------------

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


# --- precedence ----------------------------------------------------------------------------------------

def test_literals_pass_and_intrinsics_take_their_local_value():
    f = fn(env=[("TABLE_NAME", "orders-table"), ("STAGE", None), ("QUEUE_URL", None), ("ODD", None)])
    env = environment(f, resolved={"STAGE": "dev", "QUEUE_URL": "OrdersQueue", "TABLE_NAME": "ignored"})
    assert env.variables["TABLE_NAME"] == "orders-table"
    assert env.variables["STAGE"] == "dev" and env.variables["QUEUE_URL"] == "OrdersQueue"
    assert env.variables["ODD"] == "" and env.unresolved == ("ODD",)  # as `sam local` does for what it cannot resolve
    assert env.ignored == ()


def test_precedence_is_function_section_then_parameters_then_shell_then_template():
    names = ["OWN", "SHARED", "SHELL", "LITERAL", "INTRINSIC"]
    f = fn(env=[(n, "template" if n != "INTRINSIC" else None) for n in names])
    o = envvars.Overrides(shared={n: "parameters" for n in names[:2]}, functions={"EchoEnvFunction": {"OWN": "own"}})
    env = environment(f, o, environ={n: "shell" for n in names[:3]}, resolved={"INTRINSIC": "resolved"}).variables
    assert [env[n] for n in names] == ["own", "parameters", "shell", "template", "resolved"]


def test_the_shell_overrides_a_declared_variable_only():
    f = fn(env=[("FROM_SHELL", "template-default"), ("STAGE", None), ("KEPT", "template-default")])
    env = environment(f, environ={"FROM_SHELL": "shell-value", "STAGE": "shell-stage", "NOT_IN_TEMPLATE": "shell"},
                      resolved={"STAGE": "dev"}).variables
    assert env["FROM_SHELL"] == "shell-value" and env["STAGE"] == "shell-stage" and env["KEPT"] == "template-default"
    assert "NOT_IN_TEMPLATE" not in env


def test_an_override_can_replace_a_literal_but_never_adds_an_undeclared_variable():
    f = fn(env=[("TABLE_NAME", "orders-table")])
    o = envvars.Overrides(shared={"SHARED_ONLY": "x"}, functions={"EchoEnvFunction": {"TABLE_NAME": "t2", "TYPO": "1"}})
    env = environment(f, o)
    assert env.variables["TABLE_NAME"] == "t2"
    assert "TYPO" not in env.variables and "SHARED_ONLY" not in env.variables
    # Only the function's own section is reported: shared names are meant for other functions too.
    assert env.ignored == ("TYPO",)


# --- Lambda's own variables, region, credentials ----------------------------------------------------------

def test_lambdas_own_variables_as_sam_local_invoke_sets_them():
    env = environment(fn(memory=256, timeout=10), region="eu-west-1").variables
    assert env["AWS_SAM_LOCAL"] == "true"
    assert env["AWS_ACCOUNT_ID"] == "123456789012"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "EchoEnvFunction"
    assert env["AWS_LAMBDA_FUNCTION_HANDLER"] == "bin/echo_env"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "aws/lambda/EchoEnvFunction"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_LAMBDA_RUNTIME_API" not in env  # set, it would make the entrypoint skip the emulator
    defaults = environment(fn()).variables
    assert defaults["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128" and defaults["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "3"
    assert defaults["AWS_REGION"] == "us-east-1"


def test_lambdas_variables_win_over_the_template_and_direct_mode_has_no_handler():
    f = fn(env=[("AWS_REGION", "template-region")])
    env = envvars.function_environment(f, envvars.Overrides(), context=ctx(region="sa-east-1")).variables
    assert env["AWS_REGION"] == "sa-east-1"
    assert "AWS_LAMBDA_FUNCTION_HANDLER" not in env


def test_dummy_credentials_unless_real_ones_are_given():
    dummy = environment(fn())
    assert not dummy.real_credentials
    assert {k: dummy.variables[k] for k in envvars.DUMMY_CREDENTIALS} == {
        "AWS_ACCESS_KEY_ID": "defaultkey", "AWS_SECRET_ACCESS_KEY": "defaultsecret"}
    real = environment(fn(), credentials={"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"})
    assert real.real_credentials
    assert real.variables["AWS_ACCESS_KEY_ID"] == "AKID" and real.variables["AWS_SECRET_ACCESS_KEY"] == "SECRET"
    assert "AWS_SESSION_TOKEN" not in real.variables


def _context(tmp_path, environ, **kw) -> envvars.Context:
    from shimimg.template import load_document

    (tmp_path / "template.yaml").write_text(
        "Resources:\n  EchoEnvFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Environment:\n        Variables:\n          REGION: !Ref AWS::Region\n")
    doc = load_document(tmp_path / "template.yaml")
    return envvars.Context.of(doc, tmp_path / "template.yaml", environ=environ, **kw)


def test_context_reads_credentials_and_region_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws
    c = _context(tmp_path, {"AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T",
                            "AWS_DEFAULT_REGION": "ap-south-1"})
    assert c.credentials == {"AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"}
    assert c.region == "ap-south-1" and c.resolved == {"EchoEnvFunction": {"REGION": "ap-south-1"}}
    bare = _context(tmp_path, {"AWS_ACCESS_KEY_ID": "AKID"}, region="eu-west-1")
    assert bare.credentials is None and bare.region == "eu-west-1"


def test_context_reads_a_profile_from_the_shared_files(tmp_path, monkeypatch):
    try:
        import boto3  # noqa: F401  (the profile is read through botocore)
    except ImportError:
        missing("boto3", "pip install -e '.[dev]'")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "credentials").write_text("[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = psecret\n")
    (tmp_path / "config").write_text("[profile dev]\nregion = eu-central-1\n")
    for name, value in (("AWS_SHARED_CREDENTIALS_FILE", "credentials"), ("AWS_CONFIG_FILE", "config")):
        monkeypatch.setenv(name, str(tmp_path / value))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    import os

    c = _context(tmp_path, dict(os.environ), profile="dev")
    assert c.credentials == {"AWS_ACCESS_KEY_ID": "AKIDPROFILE", "AWS_SECRET_ACCESS_KEY": "psecret"}
    assert c.region == "eu-central-1"
    with pytest.raises(ShimimgError, match="AWS profile 'nope' is not configured"):
        _context(tmp_path, dict(os.environ), profile="nope")
