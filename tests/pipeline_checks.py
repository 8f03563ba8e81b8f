"""What the pipeline examples ask of AWS, read from the examples themselves: their steps in order,
the `aws` commands in them checked against botocore's service model (the model the AWS CLI is
generated from), the IAM actions each API call needs, and whether the deploy role's policy allows
them. Shared by the static checks (tests/unit) and the runs against moto (tests/integration)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "examples" / "pipelines"
WORKFLOWS = sorted(PIPELINES.glob("github-actions*.yml"))
BUILDSPEC = PIPELINES / "buildspec.yml"
DEPLOY_POLICY = PIPELINES / "deploy-role-policy.json"
LIFECYCLE_POLICY = PIPELINES / "ecr-lifecycle-policy.json"

# Options of the AWS CLI itself, not of an operation.
_GLOBAL_OPTIONS = {"--output", "--query", "--region", "--profile", "--endpoint-url", "--no-paginate",
                   "--cli-read-timeout", "--cli-connect-timeout", "--no-cli-pager", "--debug"}
# botocore's service ids as CSM reports them → IAM's service prefix.
IAM_PREFIX = {"ECR": "ecr", "CloudFormation": "cloudformation", "S3": "s3", "STS": "sts", "IAM": "iam"}
# Operations whose IAM action has another name (S3's), or that need none.
_ACTION_OF = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("sts", "GetCallerIdentity"): None,  # needs no permission
}
# What `docker push` to ECR asks of the registry (not API calls: CSM never sees them), and what
# shimimg's ECR client calls (registry/ecr.py): both go through the deploy role.
REGISTRY_PUSH_ACTIONS = ("ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                         "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage")
SHIMIMG_PUSH_ACTIONS = ("ecr:GetAuthorizationToken", "ecr:DescribeRepositories", "ecr:CreateRepository")


@dataclass(frozen=True)
class Step:
    name: str
    run: str  # shell text
    uses: str = ""
    with_: tuple[tuple[str, str], ...] = ()


def workflow(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def job_steps(job: dict) -> list[Step]:
    return [Step(s.get("name", s.get("uses", "")), s.get("run", ""), s.get("uses", ""),
                 tuple((k, str(v)) for k, v in (s.get("with") or {}).items())) for s in job["steps"]]


def buildspec_commands(spec: dict) -> list[str]:
    return [c for phase in ("install", "pre_build", "build", "post_build")
            for c in (spec["phases"].get(phase) or {}).get("commands", [])]


def every_script() -> list[tuple[str, str]]:
    """(where, shell text) of every step of every example."""
    out = []
    for path in WORKFLOWS:
        for job_name, job in workflow(path)["jobs"].items():
            out += [(f"{path.name} {job_name}: {s.name}", s.run) for s in job_steps(job) if s.run]
    out += [(f"{BUILDSPEC.name}: {c[:40]}", c) for c in buildspec_commands(yaml.safe_load(BUILDSPEC.read_text()))]
    return out


def aws_commands(script: str) -> list[list[str]]:
    """Every `aws ...` command of a shell script, as words (variables left as written): each line is
    split into words as the shell quotes them, then into commands at operators (``|``, ``;``,
    ``$(``, ``&&`` ...), so an `aws` inside a quoted message is not taken for a command."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = ""
        segment: list[str] = []
        for token in [*lex, ";"]:
            if token and all(c in "();<>|&" for c in token):
                while segment and segment[0] in _KEYWORDS:
                    segment.pop(0)
                if segment and segment[0] == "aws":
                    out.append(segment)
                segment = []
            else:
                segment.append(token.removesuffix("$") if token.endswith("=$") else token)
    return out


_KEYWORDS = {"if", "!", "then", "do", "until", "while", "else", "elif"}


@dataclass(frozen=True)
class AwsCall:
    service: str  # the CLI's service name (ecr)
    operation: str  # botocore's operation name (PutLifecyclePolicy)
    waiter: str | None  # the waiter's name (ImageScanComplete) for `aws SERVICE wait ...`
    params: tuple[str, ...]  # the operation's input members named on the command line


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def parse_aws(words: list[str]) -> AwsCall:
    """Check an `aws` command against botocore's service model: the operation (or waiter) exists and
    every option names one of its input members. Raises ValueError saying what does not."""
    import botocore.session

    session = botocore.session.get_session()
    service, rest = words[1], words[2:]
    model = session.get_service_model(service)
    waiter = None
    if rest and rest[0] == "wait":
        waiters = session.get_waiter_model(service)
        by_cli = {_kebab(n): n for n in waiters.waiter_names}
        if rest[1] not in by_cli:
            raise ValueError(f"aws {service} wait {rest[1]}: no such waiter ({sorted(by_cli)})")
        waiter = by_cli[rest[1]]
        operation = waiters.get_waiter(waiter).operation
        rest = rest[2:]
    else:
        by_cli = {_kebab(n): n for n in model.operation_names}
        if rest[0] not in by_cli:
            raise ValueError(f"aws {service} {rest[0]}: no such operation")
        operation = by_cli[rest[0]]
        rest = rest[1:]
    members = {_kebab(m): m for m in model.operation_model(operation).input_shape.members}
    params = []
    for word in rest:
        if not word.startswith("--"):
            continue
        option = word.split("=", 1)[0]
        if option in _GLOBAL_OPTIONS:
            continue
        if option[2:] not in members:
            raise ValueError(f"aws {service} {operation}: no option {option} (has {sorted(members)})")
        params.append(members[option[2:]])
    required = set(model.operation_model(operation).input_shape.required_members)
    if not required <= set(params):
        raise ValueError(f"aws {service} {operation}: missing {sorted(required - set(params))}")
    return AwsCall(service, operation, waiter, tuple(params))


def iam_action(service_prefix: str, api: str) -> str | None:
    return _ACTION_OF.get((service_prefix, api), f"{service_prefix}:{api}")


def allows(policy: dict, action: str) -> bool:
    """Whether an Allow statement names the action (IAM matches actions case-insensitively, with
    wildcards). Resources are checked by the tests that know them."""
    for st in policy["Statement"]:
        if st["Effect"] != "Allow":
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            return True
    return False


def statements_for(policy: dict, action: str) -> list[dict]:
    return [st for st in policy["Statement"] if st["Effect"] == "Allow" and action.lower() in
            [a.lower() for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]]


def deploy_policy() -> dict:
    return json.loads(DEPLOY_POLICY.read_text())
