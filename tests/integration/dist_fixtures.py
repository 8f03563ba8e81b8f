"""shimimg as users get it: a wheel and an sdist built from the repository, installed into fresh
virtualenvs outside the checkout (dependencies from PyPI, as a pipeline installs them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT


def _venv(path: Path, target: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    r = subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", target], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Path]:
    """{"wheel": ..., "sdist": ...} built by `python -m build` from a copy of the repository."""
    src = tmp_path_factory.mktemp("src")
    for name in ("orchestrator", "dockerfiles", "pyproject.toml", "README.md"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    return {"wheel": next(out.glob("shimimg-*.whl")), "sdist": next(out.glob("shimimg-*.tar.gz"))}


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory, dists) -> Path:
    return _venv(tmp_path_factory.mktemp("wheel-venv") / "venv", f"{dists['wheel']}[aws]")


@pytest.fixture(scope="session")
def sdist_venv(tmp_path_factory, dists) -> Path:
    return _venv(tmp_path_factory.mktemp("sdist-venv") / "venv", str(dists["sdist"]))
