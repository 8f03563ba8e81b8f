"""The hostile suite: the repository (template, config, files, .shimimg/) as an attacker writes it,
and the network as a flaky one behaves, against the real CLI, engine, Go and registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from support import EXAMPLE  # noqa: E402


def pytest_collection_modifyitems(items):
    for item in items:
        if "/hostile/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def shimimg(*args: str, cwd: Path, env: dict | None = None, timeout: float = 900,
            input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, input=input)


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def refused(r: subprocess.CompletedProcess, *fragments: str) -> None:
    """One clear message, exit 1, never "shimimg hit a bug"."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("error: ") == 1, r.stderr
    assert "hit a bug" not in r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr
