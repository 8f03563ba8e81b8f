"""Issue 19, item 3: programs named in the repository's git config (a clean or process filter, an
fsmonitor hook, hooks, gpg.program with log.showSignature) never run when shimimg reads revision
data. Each trap is first shown to fire under plain git, so the test can fail."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import copy_example, refused, shimimg

HOOKS = ("post-index-change", "reference-transaction", "post-checkout", "pre-commit", "post-commit",
         "pre-auto-gc", "post-rewrite", "fsmonitor-watchman")


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check)


def _payload(marks: Path, name: str) -> str:
    return f"sh -c 'touch {marks}/{name}; cat'"


@pytest.fixture
def trapped(tmp_path) -> tuple[Path, Path]:
    """A checkout whose config and hooks run a program that leaves a mark in ``marks``."""
    work = copy_example(tmp_path / "orders")
    marks = tmp_path / "marks"
    marks.mkdir()
    (work / ".gitattributes").write_text("* filter=evil\n*.go filter=evil2\n")
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "init")
    # HEAD becomes a commit with a signature, so git log has something to verify.
    tree = _git(work, "rev-parse", "HEAD^{tree}").stdout.strip()
    parent = _git(work, "rev-parse", "HEAD").stdout.strip()
    body = (f"tree {tree}\nparent {parent}\nauthor a <a@b> 1700000000 +0000\ncommitter a <a@b> 1700000000 +0000\n"
            "gpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\nsigned\n")
    commit = subprocess.run(["git", "-C", str(work), "hash-object", "-t", "commit", "-w", "--stdin"], input=body,
                            capture_output=True, text=True, check=True).stdout.strip()
    _git(work, "update-ref", "HEAD", commit)
    script = tmp_path / "prog.sh"
    script.write_text(f'#!/bin/sh\ntouch "{marks}/$(basename "$0")"\ncat\n')
    script.chmod(0o755)
    for hook in HOOKS:
        (work / ".git" / "hooks" / hook).write_text(f'#!/bin/sh\ntouch "{marks}/hook-{hook}"\n')
        (work / ".git" / "hooks" / hook).chmod(0o755)
    for key, value in [("filter.evil.clean", _payload(marks, "clean")),
                       ("filter.evil.smudge", _payload(marks, "smudge")),
                       ("filter.evil.required", "true"),
                       ("filter.evil2.process", _payload(marks, "process")),
                       ("core.fsmonitor", f"{tmp_path}/fsmonitor"),
                       ("gpg.program", f"{tmp_path}/gpg"),
                       ("log.showSignature", "true")]:
        _git(work, "config", key, value)
    for name in ("fsmonitor", "gpg"):
        (tmp_path / name).symlink_to(script)
    return work, marks


def _touch_tracked(work: Path) -> None:
    # Same bytes, new mtime: git must read the files again (through their filters) to compare.
    for path in [work / "template.yaml", work / "cmd" / "get_order" / "main.go"]:
        path.write_bytes(path.read_bytes())


def test_the_traps_fire_under_plain_git(trapped):
    work, marks = trapped
    _touch_tracked(work)
    _git(work, "status", "--porcelain", check=False)
    _git(work, "log", "-1", "--format=%H", check=False)
    assert {"clean", "process", "fsmonitor", "gpg", "hook-post-index-change"} <= {p.name for p in marks.iterdir()}


def test_no_program_from_git_config_runs_while_reading_the_revision(trapped):
    """pin reads the revision before it reads the results: a cheap way to drive the git calls."""
    work, marks = trapped
    _touch_tracked(work)
    (work / "r.json").write_text(json.dumps({"command": "push"}))
    r = shimimg("pin", "r.json", cwd=work)
    refused(r, "r.json")
    assert sorted(p.name for p in marks.iterdir()) == []


def test_no_program_from_git_config_runs_during_a_build(trapped, standin, tmp_path):
    work, marks = trapped
    _touch_tracked(work)
    # --label-revision: the revision labels are opt-in since issue 20, and reading them is what runs git.
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(tmp_path / "cache"), "--json",
                "--label-revision", cwd=work)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in marks.iterdir()) == []
    # The revision is still read: the labels name the (signed) commit.
    tag = json.loads(r.stdout)["packages"][0]["image"]["tag"]
    labels = json.loads(subprocess.run(["docker", "image", "inspect", tag, "--format", "{{json .Config.Labels}}"],
                                       capture_output=True, text=True, check=True).stdout)
    head = _git(work, "rev-parse", "HEAD").stdout.strip()
    assert head in json.dumps(labels)
