"""The ECR API (boto3, the optional ``aws`` extra): a login token, and the repository (created
when asked). Calls are bounded by the run's ``--timeout`` and retried by botocore's standard mode
(throttling, 5xx) up to ``--retries``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shimimg.errors import ShimimgError
from shimimg.registry.refs import Repository

log = logging.getLogger("shimimg.registry")

INSTALL_AWS = "pip install 'shimimg[aws]' (or pipx inject shimimg boto3)"
ECR_PUSH_ACTIONS = ("ecr:GetAuthorizationToken, ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, "
                    "ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage, ecr:BatchGetImage")


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ShimimgError(
            "pushing to ECR needs boto3, which is not installed",
            hint=f"install the aws extra: {INSTALL_AWS}",
        ) from None
    return boto3


def require_ecr_support(repositories: Iterable[Repository]) -> None:
    """Stop before any build when an ECR push could not log in."""
    if any(r.is_ecr for r in repositories):
        _boto3()


def ecr_client(region: str, *, timeout: float = 60, retries: int = 3, profile: str | None = None) -> Any:
    """An ECR client for ``region``; the AWS_* environment (credentials, profile, and endpoint
    overrides such as AWS_ENDPOINT_URL_ECR) applies as in the AWS CLI; ``profile`` (--profile,
    samconfig) wins over AWS_PROFILE."""
    boto3 = _boto3()
    from botocore import exceptions as bce
    from botocore.config import Config

    try:
        # Standard mode retries throttling and 5xx with backoff. (botocore's "max_attempts" counts
        # retries only; "total_max_attempts" counts the first call too.)
        return boto3.session.Session(profile_name=profile).client(
            "ecr", region_name=region, config=Config(retries={"mode": "standard", "total_max_attempts": retries + 1},
                                     connect_timeout=timeout, read_timeout=timeout)
        )
    except bce.BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
        raise ShimimgError(
            f"cannot set up the AWS client for ECR in {region}: {e}",
            hint="check --profile / AWS_PROFILE and your AWS configuration (aws configure list-profiles)",
        ) from None


T = TypeVar("T")


def _ecr_call(repo: Repository, what: str, call: Callable[[], T]) -> T:
    from botocore import exceptions as bce

    where = f"ECR in {repo.region} (account {repo.account})"
    try:
        return call()
    except bce.NoCredentialsError:
        raise ShimimgError(
            f"no AWS credentials for {where}",
            hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (in CI: the job's role or "
                 "aws-actions/configure-aws-credentials)",
        ) from None
    except (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError) as e:
        raise ShimimgError(
            f"cannot reach the ECR API for {where} (tried with retries, each bounded by --timeout): {e}",
            hint="check the network, or AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL if you set one; "
                 "nothing was pushed and the template was not written",
        ) from None
    except bce.ClientError as e:
        err = e.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", str(e))
        hint = None
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                    "ExpiredTokenException"):
            hint = f"check the AWS credentials in use and that they allow {ECR_PUSH_ACTIONS}"
        raise ShimimgError(f"{where} refused {what}: {code}: {message}", hint=hint) from None
    except bce.BotoCoreError as e:
        raise ShimimgError(f"ECR API call {what} failed for {where}: {e}") from None


def ecr_login(client: Any, repo: Repository) -> tuple[str, str]:
    """(user, password) from ``get_authorization_token``: valid 12 hours, for this run only."""
    data = _ecr_call(repo, "GetAuthorizationToken",
                     lambda: client.get_authorization_token(registryIds=[repo.account]))
    token = data["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def ensure_repository(client: Any, repo: Repository, *, create: bool) -> str:
    """The repository's tag mutability ("MUTABLE"/"IMMUTABLE"); creates it when asked, idempotently."""
    from botocore.exceptions import ClientError

    def describe() -> dict | None:
        try:
            found = client.describe_repositories(registryId=repo.account, repositoryNames=[repo.name])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return None
            raise
        return found["repositories"][0]

    found = _ecr_call(repo, "DescribeRepositories", describe)
    if found is None:
        if not create:
            raise ShimimgError(
                f"ECR repository {repo.name} does not exist in account {repo.account} ({repo.region})",
                hint="create it, or pass --create-repository (immutable tags, scan on push); "
                     "nothing was pushed and the template was not written",
            )

        def create_it() -> dict:
            try:
                made = client.create_repository(
                    registryId=repo.account, repositoryName=repo.name, imageTagMutability="IMMUTABLE",
                    imageScanningConfiguration={"scanOnPush": True},
                )
            except ClientError as e:
                # Another pipeline created it meanwhile: theirs is as good as ours.
                if e.response.get("Error", {}).get("Code") == "RepositoryAlreadyExistsException":
                    return describe() or {}
                raise
            log.info("created ECR repository %s (immutable tags, scan on push)", repo.uri)
            return made["repository"]

        found = _ecr_call(repo, "CreateRepository", create_it)
    return found.get("imageTagMutability", "MUTABLE")
