"""A commit that changes no image content changes no digest (issue 20): real git, the real engine,
a real registry on loopback and moto's CloudFormation.

Two commits differing only outside the package's Go sources (a docs file) are pushed from cold
caches, as two CI runs would: the digests, the pinned template and the registry are unchanged, and
a CloudFormation change set from one pinned template to the other holds no function. A control
commit that changes one handler shows the same check does see a change. ``--label-revision``
brings the commit back into the image, and with it a new digest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from registry_fixtures import PASSWORD, USER, Registry, docker_config, registry_tools  # noqa: F401

from support import EXAMPLE

REGION = "eu-west-1"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def git(work: Path, *args: str) -> str:
    r = subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=work,
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def cfn():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield boto3.client("cloudformation", region_name=REGION, endpoint_url=f"http://{host}:{port}",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    server.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, standin, go_toolchain):
    work = tmp_path_factory.mktemp("revisions") / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", "https://example.com/team/orders.git")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "orders")
    return work


def push(work: Path, reg: Registry, standin: str, cache: Path, *extra: str) -> tuple[dict, str, list[str]]:
    """`shimimg push --json` from a cold shimimg cache, as a fresh CI runner would; (result, pinned
    template text, blobs uploaded)."""
    config = docker_config(cache.parent / f"{cache.name}-docker", {reg.address: (USER, PASSWORD)})
    # No SOURCE_DATE_EPOCH: the default build must not need it to be reproducible.
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH" and not k.startswith("SHIMIMG_")}
    env.update({"DOCKER_CONFIG": str(config), "SHIMIMG_CACHE_DIR": str(cache)})
    offset = reg.log_offset()
    r = subprocess.run([sys.executable, "-m", "shimimg", "push", "--base-image", standin, "--repository",
                        f"{reg.address}/team/orders", "--json", *extra], cwd=work, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out, (work / out["output"]).read_text(), reg.blob_uploads(offset, "team/orders")


CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def deploy(client, stack: str, template: str) -> None:
    """What `sam deploy` does for a new stack: a CREATE change set, executed. (moto has no SAM
    transform, so the change sets compare the SAM resources; an image function's Code.ImageUri is
    its ImageUri verbatim, so an unchanged resource is an unchanged function.)"""
    client.create_change_set(StackName=stack, ChangeSetName="create", TemplateBody=template, ChangeSetType="CREATE",
                             Capabilities=CAPABILITIES)
    client.execute_change_set(StackName=stack, ChangeSetName="create")
    assert client.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def change_set(client, stack: str, template: str, name: str) -> list[dict]:
    client.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=template, ChangeSetType="UPDATE",
                             Capabilities=CAPABILITIES)
    changes = client.describe_change_set(StackName=stack, ChangeSetName=name)["Changes"]
    return [c["ResourceChange"] for c in changes]


def test_a_docs_only_commit_changes_no_digest_and_no_function(repo, registry, cfn, standin, tmp_path):
    first, pinned_first, _ = push(repo, registry, standin, tmp_path / "cache-1")
    [pkg] = first["packages"]
    assert first["revision"] == git(repo, "rev-parse", "HEAD")

    (repo / "docs").mkdir()
    (repo / "docs" / "runbook.md").write_text("# Orders runbook\n\nPage the on-call engineer.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs only")
    second, pinned_second, uploads = push(repo, registry, standin, tmp_path / "cache-2")
    [again] = second["packages"]

    # The revision moved, and is in the JSON; the image did not.
    assert second["revision"] == git(repo, "rev-parse", "HEAD") != first["revision"]
    assert again["push"]["digest"] == pkg["push"]["digest"]
    assert again["image"]["tag"] == pkg["image"]["tag"]
    assert pinned_second == pinned_first
    assert uploads == [] and (again["push"]["layers_pushed"], again["push"]["bytes_pushed"]) == (0, 0)
    labels = json.loads(subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}",
                                        again["image"]["tag"]], capture_output=True, text=True,
                                       check=True).stdout)
    assert not any(k.startswith("org.opencontainers.image.") for k in labels), labels

    # CloudFormation (moto) sees no function change between the two deploys.
    deploy(cfn, "orders", pinned_first)
    same = change_set(cfn, "orders", pinned_second, "docs-only")
    assert not [c for c in same if c["ResourceType"] in FUNCTION_TYPES], same

    # Control: one handler changed gives a new digest, and the change set names the functions.
    main = repo / "cmd" / "get_order" / "main.go"
    main.write_text(main.read_text().replace('"order not found"', '"order not found (v2)"'))
    git(repo, "commit", "-qam", "get_order says v2")
    third, pinned_third, uploads = push(repo, registry, standin, tmp_path / "cache-1")
    assert third["packages"][0]["push"]["digest"] != pkg["push"]["digest"] and len(uploads) >= 2
    changed = change_set(cfn, "orders", pinned_third, "one-handler")
    modified = sorted(c["LogicalResourceId"] for c in changed if c["ResourceType"] in FUNCTION_TYPES)
    assert modified == sorted(f["logical_id"] for f in pkg["functions"])


def test_label_revision_puts_the_commit_in_the_image(repo, standin, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH" and not k.startswith("SHIMIMG_")}
    env["SHIMIMG_CACHE_DIR"] = str(tmp_path / "cache")

    def build(*extra: str) -> dict:
        r = subprocess.run([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--json", *extra],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["packages"][0]["image"]

    plain, labelled = build(), build("--label-revision")
    assert plain["digest"] != labelled["digest"] and plain["tag"] != labelled["tag"]
    inspect = json.loads(subprocess.run(["docker", "image", "inspect", labelled["tag"]], capture_output=True,
                                        text=True, check=True).stdout)[0]
    labels = inspect["Config"]["Labels"]
    head = git(repo, "rev-parse", "HEAD")
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"] == "https://example.com/team/orders.git"
    commit_time = int(git(repo, "log", "-1", "--format=%ct"))
    assert labels["org.opencontainers.image.created"] == datetime.fromtimestamp(
        commit_time, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
