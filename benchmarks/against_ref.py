#!/usr/bin/env python3
"""This shimimg against an earlier commit of itself, side by side in one run: no-op and one-handler
rebuilds of a generated N-handler package (linux/arm64, the local stand-in base).

Both contenders run from source with this interpreter (the earlier one from `git archive REF`),
each on its own copy of the same generated package, with its own Go build cache and cache dir.
After one untimed warm-up build each, every run times, contender after contender (the order
flips each run so drift on a noisy machine falls on both): one handler changed and a no-op with
``--json`` (a pipeline's form, and build_bench's), then a no-op printing the default table.
Figures are medians over the runs; the ratio (this / REF) is taken within each run, then the
median.

Usage: .venv/bin/python benchmarks/against_ref.py --ref 297e154 [--handlers 50] [--runs 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import EPOCH, ROOT, STANDIN, Package, remove_images, sh  # noqa: E402

PREFIX = "shimref"  # its own names: build_bench may be cleaning up its "shimbench" ones


class Contender:
    def __init__(self, label: str, source: Path, pkg: Package, cache: Path) -> None:
        self.label, self.source, self.pkg, self.cache = label, source, pkg, cache
        self.change: list[float] = []
        self.noop: list[float] = []
        self.noop_table: list[float] = []

    def build(self, *extra: str) -> float:
        cmd = [sys.executable, "-m", "shimimg", "build", "--base-image", STANDIN, "--cache-dir", self.cache, *extra]
        env = {"PYTHONPATH": str(self.source), "GOCACHE": str(self.pkg.gocache), "SOURCE_DATE_EPOCH": EPOCH}
        t0 = time.perf_counter()
        sh(cmd, cwd=self.pkg.dir, env=env)
        return time.perf_counter() - t0


def earlier_source(ref: str, scratch: Path) -> tuple[Path, str]:
    """The orchestrator of REF (and the dockerfiles/ it reads beside it), unpacked into scratch."""
    commit = sh(["git", "-C", ROOT, "rev-parse", "--verify", f"{ref}^{{commit}}"]).stdout.strip()
    tree = scratch / f"ref-{commit[:12]}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "orchestrator", "dockerfiles"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree / "orchestrator", commit


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="the earlier commit to compare with (e.g. 297e154)")
    ap.add_argument("--handlers", type=int, default=50, help="handlers in the generated package [50]")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per contender [5]")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-against-ref.md",
                    help="where to write the report (markdown) [docs/benchmarks-against-ref.md]")
    args = ap.parse_args()
    if shutil.which("docker") is None or shutil.which("go") is None:
        raise SystemExit("needs docker and go on PATH: run ./dev setup first")
    sh(["docker", "image", "inspect", STANDIN])
    head = sh(["git", "-C", ROOT, "rev-parse", "HEAD"]).stdout.strip()
    dirty = bool(sh(["git", "-C", ROOT, "status", "--porcelain", "--", "orchestrator", "dockerfiles"]).stdout.strip())

    with tempfile.TemporaryDirectory(prefix="shimbench-ref-") as tmp:
        scratch = Path(tmp)
        ref_src, ref_commit = earlier_source(args.ref, scratch)
        n = args.handlers
        contenders = [
            Contender(f"{ref_commit[:7]} (REF)", ref_src, Package(n, scratch, f"{PREFIX}-ref-n{n}"), scratch / "c-ref"),
            Contender(f"{head[:7]}{' + changes' if dirty else ''} (this)", ROOT / "orchestrator",
                      Package(n, scratch, f"{PREFIX}-this-n{n}"), scratch / "c-this"),
        ]
        remove_images((f"shimimg/{PREFIX}-",))
        for c in contenders:
            print(f"warm-up: {c.label}", flush=True)
            c.build()
            c.build()  # the second writes any bytecode the first left out, and settles the stamps
        for run in range(args.runs):
            order = contenders if run % 2 == 0 else contenders[::-1]
            for c in order:
                c.pkg.edit(f"r{run}")
                change = c.build("--json")
                noop = c.build("--json")
                noop_table = c.build()
                c.change.append(change)
                c.noop.append(noop)
                c.noop_table.append(noop_table)
                print(f"  run {run + 1}/{args.runs} {c.label}: one handler changed {change:.2f} s, "
                      f"no-op {noop:.2f} s, no-op with the table {noop_table:.2f} s", flush=True)
        remove_images((f"shimimg/{PREFIX}-",))

    ref, this = contenders
    ratio_change = statistics.median(t / r for t, r in zip(this.change, ref.change))
    ratio_noop = statistics.median(t / r for t, r in zip(this.noop, ref.noop))
    ratio_table = statistics.median(t / r for t, r in zip(this.noop_table, ref.noop_table))
    lines = [
        f"### This shimimg vs {ref_commit[:7]}: N={n} handlers, {args.runs} runs",
        "",
        f"`{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}` on {os.cpu_count()} CPUs, linux/arm64, base {STANDIN}",
        "",
        f"| figure | {ref.label} | {this.label} | this / REF (median of per-run ratios) |",
        "|---|---|---|---|",
        f"| one handler changed (`--json`) | {med(ref.change)} | {med(this.change)} | {ratio_change:.2f}x |",
        f"| no-op rebuild (`--json`) | {med(ref.noop)} | {med(this.noop)} | {ratio_noop:.2f}x |",
        f"| no-op rebuild, table printed | {med(ref.noop_table)} | {med(this.noop_table)} | {ratio_table:.2f}x |",
        "",
    ]
    report = "\n".join(lines)
    print("\n" + report)
    args.out.write_text("# Benchmarks: shimimg against an earlier commit\n\n" + __doc__.split("\n\n")[1].strip()
                        + "\n\n" + report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
