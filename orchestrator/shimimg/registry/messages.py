"""What to tell the user when the registry refuses or fails, by the kind of failure."""

from __future__ import annotations

from shimimg.errors import ShimimgError
from shimimg.registry.credentials import user_config_dir
from shimimg.registry.ecr import ECR_PUSH_ACTIONS
from shimimg.registry.refs import Repository
from shimimg.registry.transport import RegistryFailure

UNCHANGED = "the template was not written"


def failure(e: RegistryFailure, repo: Repository, endpoint: str, *, attempts: int, timeout: float) -> ShimimgError:
    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    if e.kind == "stalled":
        return ShimimgError(f"the registry at {endpoint} stopped making progress{tried}: {e.detail}; {UNCHANGED}",
                            hint=f"check the registry and the network; each attempt is stopped after {timeout:.0f} s "
                                 "without progress (--timeout), and --retries sets the attempts")
    if e.kind == "down":
        return ShimimgError(f"cannot reach the registry at {endpoint}{tried}: {e.detail}; {UNCHANGED}",
                            hint=f"check that {endpoint} is the right address and the registry is up, then run again")
    if e.kind == "transient":
        tried = tried or " (no retries)"
        return ShimimgError(f"the registry at {endpoint} kept failing{tried}: {e.detail}; {UNCHANGED}",
                            hint="run the same command again: layers already uploaded are skipped")
    if e.kind in ("auth", "no-credentials") and repo.is_ecr:
        return ShimimgError(f"{endpoint} refused the ECR token for account {repo.account}: {e.detail}; {UNCHANGED}",
                            hint=f"check that the AWS credentials allow {ECR_PUSH_ACTIONS}")
    if e.kind == "auth":
        return ShimimgError(f"{endpoint} refused the credentials docker has for it: {e.detail}; {UNCHANGED}",
                            hint=f"run `docker login {endpoint}` with valid credentials (or fix the credential "
                                 "helper configured for it), then run again")
    if e.kind == "no-credentials":
        return ShimimgError(f"docker has no credentials for {endpoint}: {e.detail}; {UNCHANGED}",
                            hint=f"run `docker login {endpoint}` (or configure a credential helper), then run again")
    if e.kind == "helper":
        return ShimimgError(f"docker's credential helper for {endpoint} failed: {e.detail}; {UNCHANGED}",
                            hint=f"check credsStore/credHelpers in {user_config_dir() / 'config.json'}")
    if e.kind == "denied":
        hint = ("does the repository exist? --create-repository creates it" if repo.is_ecr
                else f"check that your account may push to {repo.name}")
        return ShimimgError(f"{endpoint} denied access to {repo.name}: {e.detail}; {UNCHANGED}", hint=hint)
    if e.kind == "immutable":
        return ShimimgError(f"{repo.uri} has immutable tags: {e.detail}; {UNCHANGED}",
                            hint="choose another --tag: a tag in an immutable repository never moves")
    if e.kind == "engine":
        return ShimimgError(f"the Docker engine went away while pushing {e.ref}: {e.detail}; {UNCHANGED}",
                            hint="check that dockerd is running, then run again")
    return ShimimgError(f"{e.ref} failed at the registry {endpoint}: {e.detail}; {UNCHANGED}")
