#!/usr/bin/env python3
"""The two paths for the bundled example, side by side in one run, on one machine:

  shimimg build     `shimimg build` (its own go build, one buildx build per package)
  sam build         `sam build --use-buildkit` of the template `shimimg migrate --sam-build` wrote
                    (the Dockerfile's Go stage compiles, BuildKit builds the image)

each in two states: a fresh copy of the example (no .aws-sam, no shimimg cache: a new
--cache-dir), and after one handler changed (cmd/get_order). Go's caches are warm in both paths
(shimimg's go uses the machine's GOCACHE; the Dockerfile's go a BuildKit cache mount): this
machine's builder is shared, and emptying its cache mounts would take others' too. linux/arm64
on the offline stand-ins (base and Go image). Each figure is the median of --runs runs (min and
max beside it); the ratio is taken within each run, then the median.

Usage: .venv/bin/python benchmarks/sam_build_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "orders"
SAM = "/opt/shimimg/sam-venv/bin/sam"
BASE = "shimimg-local/provided:al2"
GO_IMAGE = "shimimg-local/golang:" + subprocess.run(["go", "env", "GOVERSION"], capture_output=True,
                                                    text=True).stdout.strip().removeprefix("go")


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.monotonic() - start
    if r.returncode != 0:
        sys.exit(f"$ {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return took


def change(work: Path, n: int) -> None:
    main = work / "cmd" / "get_order" / "main.go"
    main.write_text(main.read_text() + f'\nvar benchChange{n} = "{n}"\n\nfunc init() {{ println(benchChange{n}) }}\n')


def one_run(tmp: Path, i: int) -> dict[str, float]:
    import os

    out: dict[str, float] = {}
    for path in ("shimimg build", "sam build"):
        work = tmp / f"{path.split()[0]}-{i}" / "orders"
        shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
        env = {**os.environ, "SHIMIMG_CACHE_DIR": str(work.parent / "cache"), "SAM_CLI_TELEMETRY": "0"}
        if path == "shimimg build":
            cmd = [sys.executable, "-m", "shimimg", "build", "--base-image", BASE]
        else:
            subprocess.run([sys.executable, "-m", "shimimg", "migrate", "--sam-build", "--base-image", BASE,
                            "--go-image", GO_IMAGE, "-o", "template.sam.yaml"], cwd=work, env=env, check=True,
                           capture_output=True)
            cmd = [SAM, "build", "--use-buildkit", "-t", "template.sam.yaml"]
        out[f"{path}, fresh copy"] = timed(cmd, work, env)
        change(work, i)
        out[f"{path}, one handler changed"] = timed(cmd, work, env)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="sam-build-bench-") as d:
        for i in range(args.runs):
            runs.append(one_run(Path(d), i))
    print(f"examples/orders (5 Go handlers, one package), linux/arm64, {args.runs} run(s), median [min-max] s")
    for state in ("fresh copy", "one handler changed"):
        ours = [r[f"shimimg build, {state}"] for r in runs]
        sams = [r[f"sam build, {state}"] for r in runs]
        ratio = statistics.median(s / o for s, o in zip(sams, ours))
        print(f"  {state:<20} shimimg build {statistics.median(ours):6.1f} [{min(ours):.1f}-{max(ours):.1f}]"
              f"   sam build {statistics.median(sams):6.1f} [{min(sams):.1f}-{max(sams):.1f}]"
              f"   sam/shimimg {ratio:.1f}x")


if __name__ == "__main__":
    main()
