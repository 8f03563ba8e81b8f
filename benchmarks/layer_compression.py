#!/usr/bin/env python3
"""The image step alone, by layer compression, side by side in one run: a `docker buildx build`
of one staged shimimg context (N binaries, one layer each, linux/arm64 on the stand-in base) into
the engine with

  load      `--load` (gzip at the builder's default level: shimimg before plain local layers)
  gzip 1    `--output type=image,compression=gzip,compression-level=1`
  plain     `--output type=image,compression=uncompressed` (shimimg's build that is not pushed)

each followed by `docker container create` for arm64 (the unpack `shimimg build` does for
`sam local`), and, after "plain", a forced gzip export of the same context (what a later push
pays). Every contender gets its own copy of the context whose binaries carry new bytes (a random
tail), so BuildKit has nothing cached for them; the order flips every run.

Usage: .venv/bin/python benchmarks/layer_compression.py CONTEXT [--runs 3]
       (CONTEXT: a context shimimg staged, e.g. <cache-dir>/projects/*/context/*)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import EPOCH, fresh_context, sh

PREFIX = "shimlayers"
OUTPUTS = {
    "load": ["--load", "--tag={tag}"],
    "gzip 1": ["--output=type=image,name={tag},compression=gzip,compression-level=1,force-compression=true"],
    "plain": ["--output=type=image,name={tag},compression=uncompressed"],
}
PUSH_GZIP = "--output=type=image,name={tag},compression=gzip,force-compression=true"




def build(ctx: Path, flags: list[str], tag: str) -> float:
    t0 = time.perf_counter()
    sh(["docker", "buildx", "build", "--platform=linux/arm64", "--provenance=false", "--sbom=false",
        *[f.format(tag=tag) for f in flags], f"--build-arg=SOURCE_DATE_EPOCH={EPOCH}", "--", ctx])
    return time.perf_counter() - t0


def unpack(tag: str) -> float:
    t0 = time.perf_counter()
    cid = sh(["docker", "container", "create", "--platform=linux/arm64", tag]).stdout.strip()
    dt = time.perf_counter() - t0
    sh(["docker", "container", "rm", cid], check=False)
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("context", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    fig: dict[str, list[float]] = {}
    tags = []
    try:
        for run in range(args.runs):
            names = list(OUTPUTS) if run % 2 == 0 else list(OUTPUTS)[::-1]
            for name in names:
                ctx = fresh_context(args.context, scratch / "ctx")
                tag = f"{PREFIX}/{name.replace(' ', '')}:r{run}"
                tags.append(tag)
                fig.setdefault(f"{name}: export", []).append(build(ctx, OUTPUTS[name], tag))
                fig.setdefault(f"{name}: unpack", []).append(unpack(tag))
                if name == "plain":
                    tags.append(f"{tag}-gz")
                    fig.setdefault("plain, then gzip for a push: export", []).append(
                        build(ctx, [PUSH_GZIP], f"{tag}-gz"))
                print(f"  run {run + 1} {name}: " + ", ".join(f"{k.split(': ')[-1]} {v[-1]:.2f} s"
                                                          for k, v in fig.items() if k.startswith(name)), flush=True)
    finally:
        sh(["docker", "image", "rm", "-f", *tags], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    size = sum(p.stat().st_size for p in args.context.rglob("*") if p.is_file())
    print(f"\n{size / 1e6:.0f} MB of context, {args.runs} run(s); median (min, max):\n")
    print("| figure | time |\n|---|---|")
    for k, v in fig.items():
        print(f"| {k} | {statistics.median(v):.2f} s ({min(v):.2f}, {max(v):.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
