"""The production pieces of the pipeline examples, checked without running them (the runs are in
tests/integration/test_pipelines.py): actions pinned by commit, SAM pinned to the version CI tests,
Go and shimimg caches where the tools put them, arm64 runners (or emulation) for arm64 images, the
steps in a safe order, every `aws` command valid against botocore's model, the deploy role's policy
covering every AWS action the steps take, and a lifecycle policy that cannot expire a pinned image."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from pipeline_checks import (
    BUILDSPEC,
    LIFECYCLE_POLICY,
    REGISTRY_PUSH_ACTIONS,
    ROOT,
    SHIMIMG_PUSH_ACTIONS,
    WORKFLOWS,
    allows,
    aws_commands,
    buildspec_commands,
    deploy_policy,
    every_script,
    iam_action,
    job_steps,
    parse_aws,
    statements_for,
    workflow,
)
from shimimg.config import default_cache_dir
from shimimg.registry.refs import content_tag

_SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _provisioned_sam_version() -> str:
    m = re.search(r"SAM_VERSION=\$\{SHIMIMG_SAM_VERSION:-([0-9.]+)\}", (ROOT / "scripts/provision.sh").read_text())
    assert m
    return m.group(1)


def _uses_lines(path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip().startswith(("- uses:", "uses:"))]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_named(path):
    lines = _uses_lines(path)
    assert lines
    for line in lines:
        ref, _, comment = line.split("uses:", 1)[1].partition("#")
        assert _SHA_PIN.match(ref.strip()), f"{path.name}: {line} is not pinned to a full commit SHA"
        assert re.match(r"\s*v\d+", comment), f"{path.name}: {line} does not name the version it pins"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_one_action_one_commit_across_the_examples(path):
    """An action pinned to two commits in the examples means one of them was missed in an update."""
    pins: dict[str, set[str]] = {}
    for p in WORKFLOWS:
        for line in _uses_lines(p):
            name, _, sha = line.split("uses:", 1)[1].split("#")[0].strip().partition("@")
            pins.setdefault(name, set()).add(sha)
    assert {n: s for n, s in pins.items() if len(s) > 1} == {}


def test_sam_is_pinned_to_the_version_ci_tests():
    version = _provisioned_sam_version()
    for path in WORKFLOWS:
        flow = workflow(path)
        assert flow["env"]["SAM_VERSION"] == version, path.name
        for job in flow["jobs"].values():
            for step in job_steps(job):
                if step.uses.startswith("aws-actions/setup-sam@"):
                    assert dict(step.with_).get("version") == "${{ env.SAM_VERSION }}", path.name
    spec = yaml.safe_load(BUILDSPEC.read_text())
    assert spec["env"]["variables"]["SAM_VERSION"] == version
    assert any('aws-sam-cli==${SAM_VERSION}' in c for c in buildspec_commands(spec))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_caches_are_where_go_and_shimimg_keep_them(path):
    home = "/home/runner"
    for name, job in workflow(path)["jobs"].items():
        steps = job_steps(job)
        builds = any("shimimg push" in s.run or "shimimg invoke" in s.run for s in steps)
        go = [dict(s.with_) for s in steps if s.uses.startswith("actions/setup-go@")]
        cache = [dict(s.with_) for s in steps if s.uses.startswith("actions/cache@")]
        if not builds:
            continue
        # setup-go caches the module and build caches keyed by these files: every go.sum of the repository.
        assert go and go[0].get("cache-dependency-path") == "**/go.sum", f"{path.name} {name}"
        assert len(cache) == 1, f"{path.name} {name}"
        assert cache[0]["path"].replace("~", home) == str(default_cache_dir({"HOME": home})), f"{path.name} {name}"
        assert "runner.arch" in cache[0]["key"] and cache[0]["restore-keys"] in cache[0]["key"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_that_run_arm64_images_run_on_arm64_or_set_up_emulation(path):
    for name, job in workflow(path)["jobs"].items():
        steps = job_steps(job)
        runs = [i for i, s in enumerate(steps) if "shimimg invoke" in s.run or "shimimg doctor" in s.run]
        if not runs:
            continue
        qemu = [i for i, s in enumerate(steps) if s.uses.startswith("docker/setup-qemu-action@")]
        assert job["runs-on"].endswith("-arm") or (qemu and qemu[0] < runs[0]), f"{path.name} {name}"


def _order(names: list[str], *wanted: str) -> list[int]:
    found = []
    for w in wanted:
        hits = [i for i, n in enumerate(names) if w in n]
        assert hits, f"no step {w!r} in {names}"
        found.append(hits[0])
    return found


def test_the_steps_come_in_a_safe_order():
    """Smoke test before anything is pushed; lifecycle and scan gate after the push (the repository
    exists, the scan has started); the gate before the deploy."""
    flow = workflow(ROOT / "examples/pipelines/github-actions.yml")
    names = [s.name or s.uses for s in job_steps(flow["jobs"]["deploy"])]
    order = _order(names, "configure-aws-credentials", "Smoke test", "Build and push",
                   "Apply the ECR lifecycle policy", "Gate on the image scan", "Deploy")
    assert order == sorted(order), names

    sharded = workflow(ROOT / "examples/pipelines/github-actions-sharded.yml")
    push = [s.name or s.uses for s in job_steps(sharded["jobs"]["push"])]
    assert _order(push, "Smoke test", "Build and push") == sorted(_order(push, "Smoke test", "Build and push"))
    deploy = [s.name or s.uses for s in job_steps(sharded["jobs"]["deploy"])]
    order = _order(deploy, "Pin", "Apply the ECR lifecycle policy", "Gate on the image scan", "Deploy")
    assert order == sorted(order), deploy

    commands = buildspec_commands(yaml.safe_load(BUILDSPEC.read_text()))
    order = _order(commands, "shimimg invoke", "shimimg push", "put-lifecycle-policy", "image-scan-complete",
                   "sam deploy")
    assert order == sorted(order), commands


def test_every_aws_command_is_an_operation_with_those_options():
    calls = [parse_aws(words) for _, script in every_script() for words in aws_commands(script)]
    assert {(c.operation, c.waiter) for c in calls} == {
        ("PutLifecyclePolicy", None), ("DescribeImageScanFindings", "ImageScanComplete"),
        ("DescribeImageScanFindings", None)}


def test_parse_aws_refuses_an_unknown_operation_option_or_missing_parameter():
    with pytest.raises(ValueError, match="no such operation"):
        parse_aws(["aws", "ecr", "put-lifecycle-polcy"])
    with pytest.raises(ValueError, match="no option --lifecycle-policy"):
        parse_aws(["aws", "ecr", "put-lifecycle-policy", "--repository-name", "x", "--lifecycle-policy", "y"])
    with pytest.raises(ValueError, match="missing"):
        parse_aws(["aws", "ecr", "describe-image-scan-findings", "--repository-name", "x"])
    with pytest.raises(ValueError, match="no such waiter"):
        parse_aws(["aws", "ecr", "wait", "image-scan-done", "--repository-name", "x"])


def test_the_deploy_policy_allows_every_action_the_steps_take():
    """The `aws` commands of the steps, shimimg's ECR calls and the registry's push protocol. What
    SAM and shimimg really call is observed in tests/integration/test_pipelines.py."""
    policy = deploy_policy()
    actions = {iam_action(c.service, c.operation) for _, script in every_script()
               for c in map(parse_aws, aws_commands(script))}
    actions |= set(REGISTRY_PUSH_ACTIONS) | set(SHIMIMG_PUSH_ACTIONS)
    assert not [a for a in sorted(actions) if not allows(policy, a)]
    assert not allows(policy, "ecr:DeleteRepository") and not allows(policy, "iam:CreateRole")


def test_the_deploy_policy_is_scoped():
    policy = deploy_policy()
    for st in policy["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any("*" in a for a in actions), st
        if st["Resource"] == "*":
            # ECR's token is account-wide: the only action IAM cannot scope to a resource here.
            assert actions == ["ecr:GetAuthorizationToken"], st
    [ecr_push] = statements_for(policy, "ecr:PutImage")
    assert ecr_push["Resource"] == ["arn:aws:ecr:eu-west-1:123456789012:repository/orders"]
    [pass_role] = statements_for(policy, "iam:PassRole")
    assert pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == "cloudformation.amazonaws.com"
    # CreateChangeSet of a template with the SAM transform is also authorised against the transform.
    assert any(st["Resource"] == "arn:aws:cloudformation:eu-west-1:aws:transform/Serverless-2016-10-31"
               for st in statements_for(policy, "cloudformation:CreateChangeSet"))


def test_the_lifecycle_policy_never_selects_what_a_template_pins_by_its_tag_status():
    """Rules are evaluated by priority; one may select untagged images (only interrupted pushes:
    every image shimimg pushes carries its content tag), and tagged ones only by shimimg's content
    tag, counted, never a rule for `any` image or by age (an unchanged package's image is old and
    still deployed)."""
    rules = json.loads(LIFECYCLE_POLICY.read_text())["rules"]
    assert len({r["rulePriority"] for r in rules}) == len(rules)
    untagged = [r for r in rules if r["selection"]["tagStatus"] == "untagged"]
    tagged = [r for r in rules if r["selection"]["tagStatus"] == "tagged"]
    assert len(untagged) <= 1 and len(untagged) + len(tagged) == len(rules)
    prefix = content_tag("sha256:" + "0" * 64).split("-", 1)[0] + "-"
    for rule in tagged:
        assert rule["selection"]["tagPrefixList"] == [prefix], rule
        assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] >= 50
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_a_policy_without_an_action_a_step_takes_is_caught():
    policy = deploy_policy()
    for st in policy["Statement"]:
        if isinstance(st["Action"], list) and "ecr:PutLifecyclePolicy" in st["Action"]:
            st["Action"].remove("ecr:PutLifecyclePolicy")
    assert not allows(policy, "ecr:PutLifecyclePolicy") and allows(policy, "ecr:PutImage")


def test_the_trust_policy_lets_only_one_branch_of_one_repository_in_through_githubs_oidc():
    [st] = json.loads((ROOT / "examples/pipelines/deploy-role-trust-policy.json").read_text())["Statement"]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    # StringEquals, not StringLike with a wildcard: no other branch, pull request or fork matches.
    assert set(st["Condition"]) == {"StringEquals"}
    cond = st["Condition"]["StringEquals"]
    assert cond["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert re.fullmatch(r"repo:[\w.-]+/[\w.-]+:ref:refs/heads/main", cond["token.actions.githubusercontent.com:sub"])
    for path in WORKFLOWS:
        assert workflow(path)["permissions"]["id-token"] == "write", path.name
