"""A non-editable ``pip install .`` carries the dockerfiles and the shim into the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_install_finds_packaged_dockerfiles(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # A copy of the tree, so the install cannot read the checkout's dockerfiles/ by accident.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("orchestrator", "dockerfiles", "pyproject.toml", "README.md"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(src)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    version = subprocess.run([str(venv / "bin" / "shimimg"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("shimimg ")
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from shimimg import resources as r; print(r.dockerfile_template()); print(r.shim_path())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    site = str(venv / "lib")
    assert all(p.startswith(site) for p in where), where
    assert Path(where[1]).read_text().startswith("#!/bin/sh")
    assert Path(where[1]).stat().st_mode & 0o111, "the shim must stay executable in the wheel"
