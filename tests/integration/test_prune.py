"""`shimimg prune` on the real engine (issue 20): old builds of a package go (images and cached
binaries nothing else uses), the last N stay and a no-op build after it is still a no-op, a dry
run removes nothing, and an image shimimg did not build is never removed, even when named in its
history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import EXAMPLE


def shimimg(work: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=work, capture_output=True, text=True,
                       timeout=900, env={**os.environ, "SHIMIMG_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.stderr
    return r


def exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def test_prune_keeps_the_last_builds_and_only_touches_its_own(tmp_path, standin, go_toolchain):
    work, cache = tmp_path / "orders", tmp_path / "cache"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    main = work / "cmd" / "get_order" / "main.go"
    original = main.read_text()
    builds = []
    for i in range(3):
        main.write_text(original.replace('"order not found"', f'"order not found ({tmp_path.name} {i})"'))
        out = json.loads(shimimg(work, cache, "build", "--base-image", standin, "--json").stdout)
        builds.append(out["packages"][0]["image"]["tag"])
    assert len(set(builds)) == 3 and all(map(exists, builds))
    bins = sorted((cache / "bin").glob("*/*/*/binary"))
    assert len(bins) == 5 + 2  # get_order three times, the other four once

    # A history entry naming an image another tool made (no shimimg label): never removed.
    foreign = f"shimimg/orders:foreign-{tmp_path.name[-8:].lower()}"
    ctx = tmp_path / "foreign"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {standin}\nLABEL made.by=someone-else\n")
    subprocess.run(["docker", "buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--load", "-t",
                    foreign, str(ctx)], check=True, capture_output=True)
    [history] = (cache / "projects").glob("*/images/*.history.json")
    entries = json.loads(history.read_text())
    history.write_text(json.dumps([{"tag": foreign, "image_id": "", "binaries": [], "at": 0}, *entries]))
    try:
        dry = shimimg(work, cache, "prune", "--keep", "1", "--dry-run").stdout
        assert "would remove 2 image(s) and 2 cached binaries" in dry, dry
        assert all(map(exists, builds)) and len(list((cache / "bin").glob("*/*/*/binary"))) == 7

        done = shimimg(work, cache, "prune", "--keep", "1").stdout
        assert "removed 2 image(s) and 2 cached binaries" in done, done
        assert f"{foreign}" in done and "kept: not an image shimimg built" in done
        assert not exists(builds[0]) and not exists(builds[1]) and exists(builds[2]) and exists(foreign)
        assert len(list((cache / "bin").glob("*/*/*/binary"))) == 5
        # The kept build is untouched: the next build is a no-op on it.
        again = json.loads(shimimg(work, cache, "build", "--base-image", standin, "--json").stdout)
        assert again["packages"][0]["image"]["cached"]
        assert again["packages"][0]["image"]["tag"] == builds[2]
        assert "removed 0 image(s)" in shimimg(work, cache, "prune", "--keep", "1").stdout
    finally:
        for tag in (*builds, foreign):
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
