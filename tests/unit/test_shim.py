"""The shim, run by real POSIX shells (dash as /bin/sh here, and busybox ash where installed)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shimimg.resources import shim_path

SHELLS = [s for s in ("/bin/sh", shutil.which("busybox") and "busybox sh") if s]


def run_shim(shell: str, task_root: Path, handler: str | None):
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(task_root)}
    if handler is not None:
        env["_HANDLER"] = handler
    return subprocess.run([*shell.split(), str(shim_path())], env=env, capture_output=True, text=True)


@pytest.fixture
def task_root(tmp_path):
    (tmp_path / "bin").mkdir()
    h = tmp_path / "bin" / "hello"
    h.write_text('#!/bin/sh\necho "hello from $0 args=$# pid=$$"\n')
    h.chmod(0o755)
    (tmp_path / "bin" / "noexec").write_text("#!/bin/sh\n")
    return tmp_path


@pytest.mark.parametrize("shell", SHELLS)
def test_execs_the_handler(shell, task_root):
    r = run_shim(shell, task_root, "bin/hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"hello from {task_root}/bin/hello args=0")


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "handler,fragment",
    [
        (None, "_HANDLER is empty"),
        ("", "_HANDLER is empty"),
        ("../etc/passwd", "escapes the task root"),
        ("bin/../../x", "escapes the task root"),
        ("/bin/sh", "escapes the task root"),
        ("bin/missing", "handler 'bin/missing' not found"),
        ("bin/noexec", "handler 'bin/noexec' is not executable"),
    ],
)
def test_refuses_in_one_line(shell, task_root, handler, fragment):
    r = run_shim(shell, task_root, handler)
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimimg bootstrap: ") and fragment in lines[0]
