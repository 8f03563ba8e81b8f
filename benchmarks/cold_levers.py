#!/usr/bin/env python3
"""The levers on a cold and a one-change build, side by side in one run: this shimimg (plain tar
layers for an image that only runs here) against an earlier commit (REF: every layer gzip), a gzip
level, compression at push time, and how much overlapping the image step with `go build` could
save on this machine.

For each N, each run measures, contender after contender (the order flips every run, so drift on
a shared machine falls on all of them), each from its own cold state (Go build cache empty, the
engine's BuildKit cache pruned, a fresh --cache-dir):

  go floor        bare `go build` of all N handlers (shimimg's flags)
  REF             `shimimg build` of the earlier commit, cold; then one handler changed
  this            `shimimg build`, cold (plain layers); then one handler changed
  this, gzip 1    `shimimg build --compression-level 1`, cold (gzip level 1 in the engine)
  push after      `shimimg push` right after this's cold build: the gzip image made at push time
  REF push after  the same after REF's build (its image was gzip already: upload only)
  overlap bound   `go build` and the image step of a finished build (a buildx export of the same
                  context, new bytes, plain layers, unpacked) at the same time, against the two one
                  after the other: no overlap of linking and the image step can save more
and, for the one-change target, that handler compiled alone and buildx's no-change floor.

Every shimimg run gets `-v`, and the stage times it prints go into the raw samples.

Usage: .venv/bin/python benchmarks/cold_levers.py --ref 26e90d1 [--handlers 10,50,200] [--runs 3]
       [--runs-beyond 1] [--out docs/benchmarks-levers.md]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from against_ref import earlier_source
from benchlib import (
    EPOCH,
    NOTES,
    ROOT,
    SHIMIMG,
    STANDIN,
    Package,
    Registry,
    base_env,
    fresh_context,
    machine,
    remove_images,
    sh,
    timed,
    versions,
    write_report,
)

PREFIX = "shimlever"  # its own names: build_bench may be cleaning up its "shimbench" ones
DOC = ROOT / "docs" / "benchmarks-levers.md"
KEYS = ("floor", "ref_cold", "this_cold", "gz1_cold", "alone", "bx_floor", "ref_change", "this_change",
        "push_after", "ref_push_after", "overlap_seq_image", "overlap_par")


def shimimg(source: Path, pkg: Package, cache: Path, command: str, *extra: str) -> tuple[float, str]:
    """One shimimg run of ``source`` (an orchestrator folder); (seconds, its -v output)."""
    cmd = [*SHIMIMG, "-v", command, "--base-image", STANDIN, "--cache-dir", str(cache), *extra]
    env = {**base_env(), "PYTHONPATH": str(source), "GOCACHE": str(pkg.gocache), "SOURCE_DATE_EPOCH": EPOCH}
    for attempt in (1, 2):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=pkg.dir, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode == 0:
            return dt, r.stderr
        # On a shared engine another party's `docker builder prune` can fail a build after its
        # export ("failed to solve: not found", "DeadlineExceeded"): once, the run says so.
        if attempt == 1 and "failed to solve" in r.stderr:
            NOTES.append(f"{command} failed once and was run again (timed: the second run): "
                         f"{r.stderr.strip().splitlines()[-2][:200]}")
            print(f"    NOTE: {NOTES[-1]}", flush=True)
            continue
        raise SystemExit(f"failed: {shlex.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    raise AssertionError("unreachable")


def context_of(cache: Path) -> Path:
    [ctx] = sorted((cache / "projects").glob("*/context/*"))
    return ctx


def image_step(ctx: Path, scratch: Path, label: str) -> float:
    """The image step of a finished build on new bytes: a copy of the context whose binaries each
    carry a different tail (so BuildKit has nothing cached for them), exported with plain layers
    and unpacked for arm64, as `shimimg build` does. The copy is untimed."""
    copy = fresh_context(ctx, scratch / f"overlap-{label}")
    tag = f"{PREFIX}-overlap:{label}"
    t0 = time.perf_counter()
    sh(["docker", "buildx", "build", "--platform=linux/arm64", "--provenance=false", "--sbom=false",
        f"--output=type=image,name={tag},compression=uncompressed", f"--build-arg=SOURCE_DATE_EPOCH={EPOCH}",
        "--", copy])
    cid = sh(["docker", "container", "create", "--platform=linux/arm64", tag]).stdout.strip()
    dt = time.perf_counter() - t0
    sh(["docker", "container", "rm", cid], check=False)
    shutil.rmtree(copy, ignore_errors=True)
    return dt


STAGE = re.compile(r"^shimimg: \[\d+/\d+\] .*( done in |\) in )[\d.]+s$")


def bench_n(n: int, runs: int, ref_src: Path, this_src: Path, scratch: Path, registry: Registry,
            gzip1: bool = True, overlap: bool = True) -> dict:
    pkg = Package(n, scratch, name=f"{PREFIX}-n{n}")
    fig: dict[str, list[float]] = {k: [] for k in KEYS}
    logs: dict[str, list[str]] = {}

    shared = pkg.dir / "internal" / "shared" / "shared.go"
    shared_text = shared.read_text()

    def cold(label: str) -> Path:
        """Each contender's own cold state, and its own bytes: the shared package every handler
        imports says the label, so no layer of an earlier contender (or of anyone else's build of
        the same generated package on this engine) can be found in any cache."""
        remove_images((f"shimimg/{PREFIX}-", f"{PREFIX}-"))  # before the prune: an image keeps its layers
        pkg.cold()
        shared.write_text(shared_text.replace('"hello %s from %s"', f'"hello %s from %s ({label})"'))
        return pkg.fresh_cache(label)

    for run in range(runs):
        print(f"  N={n} run {run + 1}/{runs}", flush=True)
        label = f"r{run}"

        def floor(label: str) -> None:
            cold(f"floor-{label}")
            fig["floor"].append(timed(pkg.go_floor)[0])

        def ref(label: str) -> None:
            cache = cold(f"ref-{label}")
            dt, log = shimimg(ref_src, pkg, cache, "build")
            fig["ref_cold"].append(dt)
            logs.setdefault("ref_cold", []).append(log)
            pkg.edit(f"{label}-ref")
            dt, log = shimimg(ref_src, pkg, cache, "build")
            fig["ref_change"].append(dt)
            logs.setdefault("ref_change", []).append(log)
            repo = f"{registry.host}/{PREFIX}-ref-{n}-{label}"
            dt, _ = shimimg(ref_src, pkg, cache, "push", "--repository", repo)
            fig["ref_push_after"].append(dt)
            pkg.revert()

        def this(label: str) -> None:
            cache = cold(f"this-{label}")
            dt, log = shimimg(this_src, pkg, cache, "build")
            fig["this_cold"].append(dt)
            logs.setdefault("this_cold", []).append(log)
            repo = f"{registry.host}/{PREFIX}-this-{n}-{label}"
            dt, _ = shimimg(this_src, pkg, cache, "push", "--repository", repo)
            fig["push_after"].append(dt)
            # The one-change target's floor: that handler alone, and buildx with nothing to do.
            name = pkg.edit(f"{label}-alone")
            fig["alone"].append(timed(lambda: pkg.one_handler_alone(name))[0])
            pkg.edit(f"{label}-this")
            dt, log = shimimg(this_src, pkg, cache, "build")
            fig["this_change"].append(dt)
            logs.setdefault("this_change", []).append(log)
            floor_tag = f"{PREFIX}-floor:{label}"
            fig["bx_floor"].append(timed(lambda: pkg.buildx_floor(cache, floor_tag))[0])
            pkg.revert()
            if not overlap:
                return
            # Overlap: the go build and an image step of the same size at once, against each alone.
            ctx = context_of(cache)
            fig["overlap_seq_image"].append(image_step(ctx, scratch, f"{label}-seq"))
            cold(f"overlap-{label}")
            box: dict[str, float] = {}
            t0 = time.perf_counter()
            par = f"{label}-par"
            worker = threading.Thread(target=lambda: box.setdefault("image", image_step(ctx, scratch, par)))
            worker.start()
            pkg.go_floor()
            worker.join()
            fig["overlap_par"].append(time.perf_counter() - t0)

        def gz1(label: str) -> None:
            cache = cold(f"gz1-{label}")
            dt, _ = shimimg(this_src, pkg, cache, "build", "--compression-level", "1")
            fig["gz1_cold"].append(dt)

        steps = [floor, ref, this, *([gz1] if gzip1 else [])]
        for step in (steps if run % 2 == 0 else steps[::-1]):
            step(label)
        last = {k: f"{v[-1]:.2f}" for k, v in fig.items() if len(v) > run}
        print(f"    {last}", flush=True)
    cold("end")
    return {"n": n, "fig": fig, "logs": logs}


def med(xs: list[float]) -> str:
    if not xs:
        return "not measured"
    if len(xs) == 1:
        return f"{xs[0]:.2f} s (1 run)"
    return f"{statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


def ratio(num: list[float], den: list[float]) -> str:
    rs = [a / b for a, b in zip(num, den)]
    if not rs:
        return ""
    m = statistics.median(rs)
    return f"{m:.2f}x" if len(rs) == 1 else f"{m:.2f}x ({min(rs):.2f}-{max(rs):.2f})"


def table(r: dict, ref_label: str) -> list[str]:
    f, n = r["fig"], r["n"]
    alone_bx = [a + b for a, b in zip(f["alone"], f["bx_floor"])]
    seq = [a + b for a, b in zip(f["floor"], f["overlap_seq_image"])]
    cold_target = 1.2 if n <= 50 else 1.3
    rows = [
        ("bare `go build` of all handlers (floor)", med(f["floor"]), "1.00", ""),
        (f"`shimimg build` cold, {ref_label} (gzip layers)", med(f["ref_cold"]), ratio(f["ref_cold"], f["floor"]),
         f"<= {cold_target}x floor"),
        ("`shimimg build` cold, this (plain layers)", med(f["this_cold"]), ratio(f["this_cold"], f["floor"]),
         f"<= {cold_target}x floor"),
        ("`shimimg build --compression-level 1` cold, this (gzip 1)", med(f["gz1_cold"]),
         ratio(f["gz1_cold"], f["floor"]), "(reference)"),
        ("this / REF, cold", "", ratio(f["this_cold"], f["ref_cold"]), ""),
        ("one handler changed: that handler alone + buildx's no-change floor", med(alone_bx), "1.00", ""),
        (f"one handler changed: {ref_label}", med(f["ref_change"]), ratio(f["ref_change"], alone_bx), "<= 1.2x"),
        ("one handler changed: this", med(f["this_change"]), ratio(f["this_change"], alone_bx), "<= 1.2x"),
        ("`shimimg push` right after the cold build: this (gzip made at push time)", med(f["push_after"]), "", ""),
        (f"`shimimg push` right after the cold build: {ref_label} (upload only)", med(f["ref_push_after"]), "", ""),
        ("cold build + push: this / REF", "",
         ratio([a + b for a, b in zip(f["this_cold"], f["push_after"])],
               [a + b for a, b in zip(f["ref_cold"], f["ref_push_after"])]), ""),
        ("overlap bound: `go build`, then an image step of this size (plain, unpacked)", med(seq), "1.00", ""),
        ("overlap bound: the two at the same time", med(f["overlap_par"]), ratio(f["overlap_par"], seq), ""),
    ]
    out = [f"## N = {n} handlers", "", "| figure | result | ratio | target |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out + [""]


def stage_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if STAGE.match(line)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="the earlier commit (REF) to compare with")
    ap.add_argument("--handlers", default="10,50,200", help="N values, comma-separated [10,50,200]")
    ap.add_argument("--runs", type=int, default=3, help="runs per N up to 50 [3]")
    ap.add_argument("--runs-beyond", type=int, default=1, help="runs per N above 50 [1]")
    ap.add_argument("--no-overlap", action="store_true", help="leave out the overlap bound (a shorter run)")
    ap.add_argument("--no-gzip1", action="store_true", help="leave out the gzip level 1 contender (a shorter run)")
    ap.add_argument("--out", type=Path, default=DOC, help=f"report path [{DOC.relative_to(ROOT)}]")
    args = ap.parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/cold_levers.py", *sys.argv[1:]])
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    ref_src, ref_commit = earlier_source(args.ref, scratch)
    # This commit, unpacked too: a checkout that moves during the run (a rebase) changes nothing.
    this_src, head = earlier_source("HEAD", scratch)
    head = head[:7]
    ref_label = f"REF {ref_commit[:7]}"
    env_line = versions(None)
    registry = Registry(scratch)
    raw = Path(tempfile.gettempdir()) / f"{PREFIX}-raw-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results = []
    try:
        for n in (int(x) for x in args.handlers.split(",")):
            results.append(bench_n(n, args.runs if n <= 50 else args.runs_beyond, ref_src, this_src, scratch,
                                   registry, gzip1=not args.no_gzip1, overlap=not args.no_overlap))
            raw.write_text(json.dumps(results, indent=1) + "\n")
            print(f"    raw samples so far: {raw}", flush=True)
    finally:
        registry.close()
        remove_images((f"shimimg/{PREFIX}-", f"{PREFIX}-"))
    lines = [
        "# Benchmarks: the levers on cold and one-change builds",
        "",
        f"Written by `benchmarks/cold_levers.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"this = {head}. Command:",
        "",
        f"    {command}",
        "",
        f"Machine: {machine()}. Versions: {env_line}. Whole run: {(time.perf_counter() - t0) / 60:.1f} min.",
        "",
        __doc__.split("\n\n")[1].strip().replace("\n", " "),
        "",
        "Figures are medians (min, max) over the runs; ratios are taken within each run, then the median "
        "(min-max in brackets). Targets: cold <= 1.2x the floor at N <= 50, <= 1.3x at N=200; one handler "
        "changed <= 1.2x (alone + buildx floor).",
        "",
    ]
    for r in results:
        lines += table(r, ref_label)
    last = results[-1]["logs"].get("this_change", [])
    if last:
        lines += [f"### `shimimg build -v` after one handler changed (this, N = {results[-1]['n']}, last run)",
                  "", "```", *stage_lines(last[-1]), "```", ""]
    if NOTES:
        lines += ["## Notes from this run", "", *[f"- {t}" for t in NOTES], ""]
    text = "\n".join(lines)
    write_report(args.out, text, "cold_levers", raw, scratch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
