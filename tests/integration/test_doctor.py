"""`shimimg doctor` on the real engine (issue 20): the base image's platform for the target
architecture (not the engine's own), and the SAM CLI as an optional check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import missing

SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))


def doctor(*args: str, path: str | None = None) -> dict:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    r = subprocess.run([sys.executable, "-m", "shimimg", "doctor", "--json", *args], capture_output=True, text=True,
                       timeout=300, env=env)
    return {c["name"]: c for c in json.loads(r.stdout)["checks"]}


def test_the_base_is_checked_for_the_target_platform(tmp_path, standin):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "marker").write_text(tmp_path.name)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    tag = f"shimimg-test/amd64-only:{abs(hash(tmp_path.name)) % 10**8}"
    subprocess.run(["docker", "buildx", "build", "--platform", "linux/amd64", "--provenance=false", "--load", "-t",
                    tag, str(ctx)], check=True, capture_output=True)
    try:
        amd = doctor("--base-image", tag, "--arch", "x86_64")["base"]
        assert amd["ok"] and "held locally for linux/amd64" in amd["detail"], amd
        arm = doctor("--base-image", tag, "--arch", "arm64")["base"]
        assert not arm["ok"] and f"{tag} is held locally, but not for linux/arm64" in arm["detail"], arm
        assert "--platform linux/arm64" in arm["hint"]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    both = doctor("--base-image", standin, "--arch", "arm64")["base"]
    assert both["ok"] and "for linux/arm64" in both["detail"]


def test_sam_is_an_optional_check(standin):
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    found = doctor("--base-image", standin, path=f"{SAM.parent}:{os.environ['PATH']}")["sam"]
    assert found["ok"] and "1.170.0" in found["detail"] and not found["required"]
    bare = "/usr/bin:/bin:/usr/local/bin"
    gone = doctor("--base-image", standin, path=bare)["sam"]
    assert not gone["ok"] and gone["detail"] == "not on PATH" and not gone["required"]
