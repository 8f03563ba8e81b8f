"""go1.x-era repositories as they are (tests/fixtures/layouts): an image that answers as the function
did on go1.x, or a refusal that names the fix and writes nothing. Real go, real buildx, the real
RIE under qemu, real git."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from test_layouts import check_answers, invoke, prepare, shimimg

LIBRARY = "github.com/aws/aws-lambda-go"


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".shimimg" not in p.parts}


def hint_command(stderr: str) -> str:
    """The upgrade command shimimg printed for a source package, exactly as printed."""
    lines = [line.strip() for line in stderr.splitlines() if f"go get {LIBRARY}@latest" in line]
    assert lines, stderr
    return lines[0]


def test_an_old_library_is_refused_from_source_and_as_a_zip_then_both_answer_after_the_upgrade(
        tmp_path, standin, go_toolchain):
    work, expected = prepare("old-library", tmp_path)
    before = files(work)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("error: ") == 1
    assert f"2 handler(s) link {LIBRARY} older than v1.18.0" in r.stderr
    assert "./: bin/quote (QuoteFunction): aws-lambda-go v1.17.0" in r.stderr
    assert "./: bin/status (StatusFunction): aws-lambda-go v1.17.0" in r.stderr
    assert not (work / ".aws-sam").exists() and files(work) == before
    # The zip the old chain made from the same code: refused from the binaries' own build info.
    r = shimimg("build", "-t", "template-zip.yaml", "--base-image", standin, cwd=work)
    assert r.returncode == 1, r.stderr
    assert "dist/functions.zip: bin/quote (QuoteFunction): aws-lambda-go v1.17.0" in r.stderr
    assert "build info" in r.stderr and "rebuild dist/functions.zip" in r.stderr
    assert files(work) == before
    # invoke builds first: the same refusal, not a hang until the timeout.
    r = shimimg("invoke", "QuoteFunction", "-e", "events/quote.json", "--base-image", standin, cwd=work)
    assert r.returncode == 1 and "older than v1.18.0" in r.stderr
    # plan says it too, for a pipeline to gate on.
    r = shimimg("plan", "--json", cwd=work)
    assert r.returncode == 1
    plan = json.loads(r.stdout)
    libs = {f["logical_id"]: f["library"] for f in plan["packages"][0]["functions"]}
    assert {k: (v["status"], v["version"]) for k, v in libs.items()} == {
        "QuoteFunction": ("old", "v1.17.0"), "StatusFunction": ("old", "v1.17.0")}
    assert any("older than v1.18.0" in w for w in plan["warnings"])

    # The fix, pasted as printed.
    fix = hint_command(shimimg("build", "--base-image", standin, cwd=work).stderr)
    r = subprocess.run(["sh", "-c", fix], cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    check_answers(work, expected, "--base-image", standin)
    assert subprocess.run(["sh", "build.sh"], cwd=work, capture_output=True, timeout=600).returncode == 0
    r = shimimg("build", "-t", "template-zip.yaml", "--base-image", standin, cwd=work)
    assert r.returncode == 0, r.stderr
    got = invoke(work, "QuoteFunction", "events/quote.json", "-t", "template-zip.yaml", "--base-image", standin)
    assert got == {"marker": "old-library/cmd/quote", "built": "old-library/build.sh", "cents": 500}


def test_a_go1x_zip_goes_into_the_image_whole_and_its_handlers_read_their_files(tmp_path, standin, go_toolchain):
    work, expected = prepare("zip-with-files", tmp_path)
    r = shimimg("plan", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    (pkg,) = json.loads(r.stdout)["packages"]
    assert [d["path"] for d in pkg["data"]] == ["config/rates.json", "templates/greeting.txt"]
    r = shimimg("build", "--base-image", standin, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    check_answers(work, expected, "--base-image", standin)
    for function, want in expected["functions"].items():
        got = invoke(work, function, want["event"], "--base-image", standin)
        assert {k: got[k] for k in want["answer"]} == want["answer"]
    # Each file at the path it had in the zip, with the zip's modes.
    tag = json.loads(r.stdout)["packages"][0]["image"]["tag"]
    ls = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "/bin/sh", tag, "-c",
                         "cd /var/task && ls -l config/rates.json templates/greeting.txt bin/pricer"],
                        capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
    modes = {line.split()[-1]: line.split()[0] for line in ls.stdout.splitlines()}
    assert modes == {"config/rates.json": "-rw-r--r--", "templates/greeting.txt": "-rw-r--r--",
                     "bin/pricer": "-rwxr-xr-x"}


def test_include_puts_a_source_packages_files_beside_its_binaries(tmp_path, standin, go_toolchain):
    work, expected = prepare("source-include", tmp_path)
    config = (work / "shimimg.toml").read_text()
    (work / "shimimg.toml").unlink()
    # Without include, plan names the files no include covers and prints the lines to add.
    r = shimimg("plan", cwd=work)
    assert r.returncode == 0, r.stderr
    m = re.search(r'\n    (\[packages\."\./"\])\n    (include = \[.*\])\n', r.stdout)
    assert m, r.stdout
    assert '"config/**"' in m.group(2) and '"templates/**"' in m.group(2)
    (pkg,) = json.loads(shimimg("plan", "--json", cwd=work).stdout)["packages"]
    assert {u["pattern"] for u in pkg["uncovered"]} >= {"config/**", "templates/**"} and pkg["data"] == []
    # Pasted as printed, the function answers.
    (work / "shimimg.toml").write_text(m.group(1) + "\n" + m.group(2) + "\n")
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    check_answers(work, expected, "--base-image", standin)
    # The fixture's own, narrower list: the same answer, and nothing outside the CodeUri.
    (work / "shimimg.toml").write_text(config)
    got = invoke(work, "RenderFunction", "events/render.json", "--base-image", standin)
    assert {k: got[k] for k in ("from", "body")} == expected["functions"]["RenderFunction"]["answer"]
    (work / "shimimg.toml").write_text('[packages."./"]\ninclude = ["../outside/**"]\n')
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1 and "leads outside the CodeUri folder" in r.stderr


def test_the_table_to_paste_never_names_another_handlers_main(tmp_path, standin, go_toolchain):
    work, expected = prepare("neighbour-hint", tmp_path)
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1, r.stderr
    table = r.stderr[r.stderr.index('[packages."./".handlers]'):].strip()
    assert table == ('[packages."./".handlers]\n    "bin/create_order" = "./path/to/create_order"\n'
                     '    "bin/get_order" = "./path/to/get_order"')
    # Pasted as printed: still refused, never built from the authorizer's main.
    (work / "shimimg.toml").write_text(table.replace("\n    ", "\n") + "\n")
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 1 and "./path/to/create_order is not a folder in the module" in r.stderr
    mapping = "".join(f'"{h}" = "{m}"\n' for h, m in expected["mapping"].items())
    (work / "shimimg.toml").write_text('[packages."./".handlers]\n' + mapping)
    assert shimimg("build", "--base-image", standin, cwd=work).returncode == 0
    check_answers(work, expected, "--base-image", standin)


@pytest.fixture
def token_remote(tmp_path):
    work, _ = prepare("source-include", tmp_path)
    token = "glcbt-SECRET9f3c2e1d0b8a"
    env = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.com"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"],
                ["remote", "add", "origin", f"https://gitlab-ci-token:{token}@gitlab.example.com/shop/mailer.git"
                                            "?private_token=" + token + "#" + token]):
        subprocess.run(["git", *cmd], cwd=work, check=True, env={**os.environ, **env})
    return work, token


def test_a_token_in_the_git_remote_leaves_no_trace(token_remote, standin, go_toolchain, tmp_path):
    work, token = token_remote
    # --label-revision: the source label is opt-in; with it the remote reaches the image.
    r = shimimg("build", "--base-image", standin, "--json", "-v", "--debug", "--label-revision", cwd=work)
    assert r.returncode == 0, r.stderr
    assert token not in r.stdout and token not in r.stderr
    out = json.loads(r.stdout)
    written = (work / out["output"]).read_text()
    assert token not in written
    tag = out["packages"][0]["image"]["tag"]
    labels = json.loads(subprocess.run(["docker", "image", "inspect", tag, "--format", "{{json .Config.Labels}}"],
                                       capture_output=True, text=True, check=True).stdout) or {}
    source = labels.get("org.opencontainers.image.source")
    assert source == "https://gitlab.example.com/shop/mailer.git", labels
    # Every byte of the image (config, layers) as it would be pushed.
    saved = tmp_path / "image.tar"
    subprocess.run(["docker", "image", "save", "-o", str(saved), tag], check=True, timeout=300)
    data = saved.read_bytes()
    assert token.encode() not in data and b"gitlab-ci-token" not in data


def test_build_of_some_packages_names_those_left_with_a_placeholder(tmp_path, standin, go_toolchain):
    work, _ = prepare("sam-starter", tmp_path)
    r = shimimg("build", "--package", "hello-world/", "--base-image", standin, cwd=work)
    assert r.returncode == 0, r.stderr
    assert "not built this run (--package): 2 package(s) keep a placeholder ImageUri" in r.stderr
    assert "goodbye/ (shimimg/goodbye:latest)" in r.stderr and "`shimimg build -t template.yaml`" in r.stderr


def test_plan_names_the_tag_a_main_needs_before_a_build_spends_minutes(tmp_path, go_toolchain):
    work, _ = prepare("source-include", tmp_path)
    (work / "shimimg.toml").unlink()
    main = work / "cmd" / "health"
    (main / "main.go").write_text(
        'package main\n\nimport "github.com/aws/aws-lambda-go/lambda"\n\nfunc main() { lambda.Start(handler) }\n')
    (main / "handler_prod.go").write_text(
        '//go:build prod\n\npackage main\n\nfunc handler() (string, error) { return "ok", nil }\n')
    r = shimimg("plan", cwd=work)
    assert "example.com/mailer/cmd/health leaves out handler_prod.go unless built with tags prod; if the handler " \
           "needs them, pass --go-tag prod" in r.stdout, r.stdout
    r = shimimg("plan", "--json", cwd=work)
    assert any("--go-tag prod" in n for n in json.loads(r.stdout)["packages"][0]["notes"])
    assert "leaves out" not in shimimg("plan", "--go-tag", "prod", cwd=work).stdout
