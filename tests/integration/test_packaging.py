"""The wheel and the sdist, installed outside the checkout, run the whole loop on the example:
resources (the Dockerfile template, the shim) come from the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dist_fixtures import dists, sdist_venv, wheel_venv  # noqa: F401 - fixtures

from support import EXAMPLE, ROOT


@pytest.mark.parametrize("venv_fixture", ["wheel_venv", "sdist_venv"])
def test_installed_shimimg_runs_version_plan_build_invoke(venv_fixture, request, tmp_path, standin):
    venv = request.getfixturevalue(venv_fixture)
    shimimg = str(venv / "bin" / "shimimg")
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": ""}

    def run(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([shimimg, *args], cwd=work, env=env, capture_output=True, text=True, timeout=900, **kw)

    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("shimimg 0."), version.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "from shimimg import resources as r; print(r.dockerfile_template()); print(r.shim_path())"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout.split()
    assert all(p.startswith(str(venv)) for p in where) and not any(p.startswith(str(ROOT)) for p in where), where
    assert Path(where[1]).stat().st_mode & 0o111, "the shim stays executable"
    assert json.loads(run("plan", "--json").stdout)["packages"][0]["code_uri"] == "./"
    build = run("build", "--base-image", standin, "--json")
    assert build.returncode == 0, build.stderr
    r = run("invoke", "GetOrderFunction", "--base-image", standin, "-e", str(EXAMPLE / "events" / "get_order.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads((EXAMPLE / "events" / "get_order.expected.json").read_text())
