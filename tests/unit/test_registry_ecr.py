"""The ECR API (``registry.ecr``) with boto3's client faked; botocore's exceptions are real."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from registry_fakes import ECR, TOKEN, FakeEcr

from shimimg.errors import ShimimgError
from shimimg.registry import ecr
from shimimg.registry.refs import parse_repository

REPO = parse_repository(f"{ECR}/team/orders")


def test_login_decodes_the_token_for_the_uris_account():
    client = FakeEcr()
    assert ecr.ecr_login(client, REPO) == ("AWS", TOKEN)
    assert client.calls == [("token", ("123456789012",))]


def test_existing_repository_is_used_as_it_is():
    client = FakeEcr(["team/orders"], mutability="MUTABLE")
    assert ecr.ensure_repository(client, REPO, create=True) == "MUTABLE"
    assert client.calls == [("describe", "123456789012", ("team/orders",))]


def test_missing_repository_is_refused_unless_create_then_made_immutable_with_scanning():
    client = FakeEcr()
    with pytest.raises(ShimimgError) as e:
        ecr.ensure_repository(client, REPO, create=False)
    assert e.value.message == "ECR repository team/orders does not exist in account 123456789012 (eu-west-1)"
    assert "--create-repository" in e.value.hint and "template was not written" in e.value.hint
    assert [c[0] for c in client.calls] == ["describe"]
    assert ecr.ensure_repository(client, REPO, create=True) == "IMMUTABLE"
    assert client.calls[-1] == ("create", "123456789012", "team/orders", "IMMUTABLE", {"scanOnPush": True})
    # Created once: the next run finds it.
    assert ecr.ensure_repository(client, REPO, create=True) == "IMMUTABLE"
    assert [c[0] for c in client.calls].count("create") == 1


def test_create_repository_race_is_not_an_error():
    client = FakeEcr()

    def create(**kw):
        client.repos["team/orders"] = "MUTABLE"  # another pipeline got there first, with its settings
        raise client.error("RepositoryAlreadyExistsException", "CreateRepository")

    client.create_repository = create
    assert ecr.ensure_repository(client, REPO, create=True) == "MUTABLE"


@pytest.mark.parametrize("failure,op,message,hint", [
    (NoCredentialsError(), "token", "no AWS credentials for ECR in eu-west-1 (account 123456789012)", "AWS_PROFILE"),
    (EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com"), "describe",
     "cannot reach the ECR API for ECR in eu-west-1", "AWS_ENDPOINT_URL_ECR"),
    (ConnectTimeoutError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com"), "token",
     "cannot reach the ECR API", "nothing was pushed"),
    (ReadTimeoutError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com"), "describe",
     "each bounded by --timeout", "template was not written"),
    (FakeEcr.error("AccessDeniedException", "GetAuthorizationToken"), "token",
     "refused GetAuthorizationToken: AccessDeniedException: AccessDeniedException says no",
     "ecr:GetAuthorizationToken"),
    (FakeEcr.error("ExpiredTokenException", "DescribeRepositories"), "describe",
     "refused DescribeRepositories: ExpiredTokenException", "ecr:PutImage"),
    (FakeEcr.error("AccessDeniedException", "CreateRepository"), "create",
     "refused CreateRepository: AccessDeniedException", "check the AWS credentials"),
])
def test_ecr_api_failures_say_what_to_do(failure, op, message, hint):
    client = FakeEcr(fail={op: failure})
    with pytest.raises(ShimimgError) as e:
        if op == "token":
            ecr.ecr_login(client, REPO)
        else:
            ecr.ensure_repository(client, REPO, create=True)
    assert message in e.value.message
    assert hint in (e.value.hint or "")


def test_other_refusals_and_botocore_errors_name_the_call():
    client = FakeEcr(fail={"describe": FakeEcr.error("LimitExceededException", "DescribeRepositories")})
    with pytest.raises(ShimimgError) as e:
        ecr.ensure_repository(client, REPO, create=False)
    assert e.value.message == ("ECR in eu-west-1 (account 123456789012) refused DescribeRepositories: "
                               "LimitExceededException: LimitExceededException says no")
    assert e.value.hint is None
    client = FakeEcr(fail={"token": ParamValidationError(report="bad registryIds")})
    with pytest.raises(ShimimgError, match="ECR API call GetAuthorizationToken failed for ECR in eu-west-1"):
        ecr.ecr_login(client, REPO)


def test_without_boto3_an_ecr_push_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ShimimgError) as e:
        ecr.require_ecr_support([parse_repository("127.0.0.1:5000/x"), REPO])
    assert e.value.message == "pushing to ECR needs boto3, which is not installed"
    assert "shimimg[aws]" in e.value.hint
    ecr.require_ecr_support([parse_repository("127.0.0.1:5000/x")])  # no ECR, no boto3 needed
    with pytest.raises(ShimimgError, match="needs boto3"):
        ecr.ecr_client("eu-west-1")


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return monkeypatch


def test_client_takes_the_region_from_the_uri_and_the_endpoint_from_the_environment(aws_env):
    aws_env.setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")
    client = ecr.ecr_client("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


class _ServerError:
    def stream(self, **_):
        yield b'{"__type": "ServerException", "message": "boom"}'


@pytest.mark.parametrize("retries", [0, 2])
def test_client_calls_are_bounded_by_timeout_and_tried_retries_plus_one_times(aws_env, retries):
    from botocore.awsrequest import AWSResponse

    client = ecr.ecr_client("eu-west-1", timeout=7, retries=retries)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (7, 7)
    sent = []

    def answer(request, **_):  # botocore's own hook in front of the HTTP call: nothing leaves
        sent.append(request.url)
        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.1"}, _ServerError())

    client.meta.events.register("before-send.ecr.*", answer)
    aws_env.setattr("time.sleep", lambda s: None)  # botocore's backoff
    with pytest.raises(ShimimgError, match="refused GetAuthorizationToken: ServerException: boom"):
        ecr.ecr_login(client, REPO)
    assert len(sent) == retries + 1


def test_a_missing_aws_profile_is_a_clear_error(aws_env):
    aws_env.setenv("AWS_PROFILE", "no-such-profile-shimimg")
    with pytest.raises(ShimimgError) as e:
        ecr.ecr_client("eu-west-1")
    assert "cannot set up the AWS client for ECR in eu-west-1" in e.value.message
    assert "no-such-profile-shimimg" in e.value.message and "AWS_PROFILE" in e.value.hint


def test_a_profile_that_does_not_exist_is_named(monkeypatch, tmp_path):
    pytest.importorskip("boto3")
    from shimimg.errors import ShimimgError
    from shimimg.registry import ecr

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(ShimimgError) as e:
        ecr.ecr_client("eu-west-1", profile="nosuch")
    assert "nosuch" in e.value.message and "--profile" in e.value.hint
