"""Issue 19, item 7 (and the Low reads): an alias bomb is bounded by what it expands to, and every
file read from the repository or the command line is a regular file under a size cap: a link to
/dev/zero or a FIFO is refused, never read without end or waited on, in bounded memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from conftest import copy_example, refused

LIMIT = 1536 * 1024 * 1024  # address space: the CLI needs a few hundred MB; an expansion far more


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run(*args: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limited)


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "orders")


def _bomb(levels: int = 9) -> str:
    lines = ['        A0: &a0 ["lolololololololololololololololol"]']
    lines += [f"        A{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_one_function_is_refused_in_bounded_memory(work):
    text = (work / "template.yaml").read_text()
    anchor = "      Environment:\n        Variables:\n"
    at = text.index("Handler: bin/echo_env")
    assert anchor in text[at:]
    at = text.index(anchor, at) + len(anchor)
    (work / "template.yaml").write_text(text[:at] + _bomb().replace("        A", "          A") + text[at:])
    for args in (["invoke", "CreateOrderFunction", "--no-build"], ["plan"], ["migrate"]):
        r = run(*args, cwd=work)
        refused(r, "template.yaml:", "YAML aliases here expand to more than 64 MiB")
    assert not (work / ".shimimg").exists()


@pytest.mark.parametrize("command", [["plan"], ["migrate"], ["build"], ["invoke", "CreateOrderFunction"]])
def test_a_template_linked_to_dev_zero_is_refused(work, command):
    os.unlink(work / "template.yaml")
    (work / "template.yaml").symlink_to("/dev/zero")
    refused(run(*command, cwd=work), "template.yaml is a device, not a template")


def test_a_fifo_template_is_refused_not_waited_on(work):
    os.unlink(work / "template.yaml")
    os.mkfifo(work / "template.yaml")
    refused(run("plan", cwd=work, timeout=30), "template.yaml is a FIFO, not a template")


def test_a_huge_template_is_refused_at_the_cap(work):
    with open(work / "template.yaml", "a") as f:
        f.write("#" + "x" * (17 * 1024 * 1024) + "\n")
    refused(run("plan", cwd=work), "template.yaml is larger than 16 MiB")


@pytest.mark.parametrize("name,what", [("pyproject.toml", "config file"), ("shimimg.toml", "config file"),
                                       ("samconfig.toml", "samconfig.toml")])
def test_config_files_linked_to_dev_zero_or_fifos_are_refused(work, name, what):
    command = ["invoke", "CreateOrderFunction", "--no-build"] if name == "samconfig.toml" else ["plan"]
    (work / name).symlink_to("/dev/zero")
    refused(run(*command, cwd=work), f"{name} is a device, not a {what}")
    os.unlink(work / name)
    os.mkfifo(work / name)
    refused(run(*command, cwd=work, timeout=30), f"{name} is a FIFO, not a {what}")


@pytest.mark.parametrize("flag,what", [("-e", "event file"), ("--env-vars", "--env-vars file")])
def test_invoke_event_and_env_vars_from_dev_zero_are_refused(work, tmp_path, flag, what):
    refused(run("invoke", "CreateOrderFunction", flag, "/dev/zero", cwd=work), f"/dev/zero is a device, not a {what}")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(run("invoke", "CreateOrderFunction", flag, str(fifo), cwd=work, timeout=30), "is a FIFO")


@pytest.mark.parametrize("content", ["AKIASECRETVALUE1234\n", "- AKIASECRETVALUE1234\n", "a: [AKIASECRETVALUE1234\n",
                                     '{"AKIASECRETVALUE1234": 1,}'])
def test_an_error_about_a_template_linked_outside_names_the_path_not_the_content(work, tmp_path, content):
    secret = tmp_path / "credentials"
    secret.write_text(content)
    os.unlink(work / "template.yaml")
    (work / "template.yaml").symlink_to(secret)
    r = run("plan", cwd=work)
    refused(r, "template.yaml")
    assert "AKIASECRET" not in r.stderr + r.stdout


def test_a_go_file_linked_to_dev_zero_is_not_read_without_bound(work, tmp_path, standin):
    """Build tags are read from the head of each .go file: a link to /dev/zero is one endless line."""
    main = work / "cmd" / "echo_env" / "main.go"
    main.write_text("//go:build special\n\n" + main.read_text())
    (work / "cmd" / "echo_env" / "zero.go").symlink_to("/dev/zero")
    r = run("build", "--base-image", standin, "--cache-dir", str(tmp_path / "cache"), cwd=work)
    refused(r, "bin/echo_env", "--go-tag special")
