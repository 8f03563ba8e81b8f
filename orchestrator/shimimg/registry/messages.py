"""What to tell the user when the registry refuses or fails, by the kind of failure."""

from __future__ import annotations

from shimimg.errors import ShimimgError
from shimimg.registry.credentials import user_config_dir
from shimimg.registry.ecr import ECR_PUSH_ACTIONS
from shimimg.registry.refs import Repository
from shimimg.registry.transport import RegistryFailure

UNCHANGED = "the template was not written"

# kind → (what happened, what to do); {endpoint} {repo} {name} {ref} {account} {tried} {timeout} {config}
# are filled in. "ecr-auth" is an auth failure of an ECR token.
_SAY = {
    "stalled": ("the registry at {endpoint} stopped making progress{tried}",
                "check the registry and the network; each attempt is stopped after {timeout} s without progress "
                "(--timeout), and --retries sets the attempts"),
    "down": ("cannot reach the registry at {endpoint}{tried}",
             "check that {endpoint} is the right address and the registry is up, then run again"),
    "transient": ("the registry at {endpoint} kept failing{tried_or_none}",
                  "run the same command again: layers already uploaded are skipped"),
    "ecr-auth": ("{endpoint} refused the ECR token for account {account}",
                 f"check that the AWS credentials allow {ECR_PUSH_ACTIONS}"),
    "auth": ("{endpoint} refused the credentials docker has for it",
             "run `docker login {endpoint}` with valid credentials (or fix the credential helper configured for "
             "it), then run again"),
    "no-credentials": ("docker has no credentials for {endpoint}",
                       "run `docker login {endpoint}` (or configure a credential helper), then run again"),
    "helper": ("docker's credential helper for {endpoint} failed", "check credsStore/credHelpers in {config}"),
    "denied": ("{endpoint} denied access to {name}", "{denied_hint}"),
    "immutable": ("{repo} has immutable tags", "choose another --tag: a tag in an immutable repository never moves"),
    "engine": ("the Docker engine went away while pushing {ref}", "check that dockerd is running, then run again"),
}


def failure(e: RegistryFailure, repo: Repository, endpoint: str, *, attempts: int, timeout: float) -> ShimimgError:
    kind = "ecr-auth" if e.kind in ("auth", "no-credentials") and repo.is_ecr else e.kind
    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    values = {
        "endpoint": endpoint, "repo": repo.uri, "name": repo.name, "ref": e.ref, "account": repo.account,
        "tried": tried, "tried_or_none": tried or " (no retries)", "timeout": f"{timeout:.0f}",
        "config": user_config_dir() / "config.json",
        "denied_hint": "does the repository exist? --create-repository creates it" if repo.is_ecr
        else f"check that your account may push to {repo.name}",
    }
    if kind not in _SAY:
        return ShimimgError(f"{e.ref} failed at the registry {endpoint}: {e.detail}; {UNCHANGED}")
    what, hint = _SAY[kind]
    return ShimimgError(f"{what.format(**values)}: {e.detail}; {UNCHANGED}", hint=hint.format(**values))
