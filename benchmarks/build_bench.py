#!/usr/bin/env python3
"""shimimg against the alternatives, side by side in one run (issue: benchmarks).

For each N (default 10, 50 and 200) on a generated N-handler package, linux/arm64 on the local
stand-in base, each run measures, contender after contender, each from its own cold state:

  go floor       bare `go build` of all N handlers (norpc, arm64), build cache cold
  shimimg        `shimimg build` cold (fresh empty --cache-dir, cold Go build cache, no images, the
                 engine's BuildKit cache pruned); no-op rebuild; the buildx floor (a no-change
                 `docker buildx build --load` of the very context and Dockerfile shimimg used);
                 one handler changed, against `go build` of that handler alone
  per-function   one image per function (its own go build and its own buildx build), cold; no-op
                 and one-change rebuild every image (there is no change detection)
  naive          one go build, every binary in one `COPY bin/` layer, cold; no-op; one change
  remote         `shimimg build --builder shimimg-remote` cold (builder state pruned) and after
                 one handler changed
  bytes pushed   after a one-handler change, counted from the loopback registry's access log
                 (sizes of the blobs PUT to .../blobs/uploads/...?digest=): shimimg through the
                 engine, shimimg pushed straight from the remote builder, the naive image
and, once, cold starts under the RIE (linux/amd64, native): shim vs direct.
Each figure is the median of --runs runs (min and max beside it); ratios are taken within each
run, then the median. A scaling table puts cold / no-op / one-change side by side over N with
the cost per added handler. Per-function images above --per-function-max handlers are measured
in the first run only (or skipped: --per-function-beyond skip); the output says which.

Usage: .venv/bin/python benchmarks/build_bench.py [--handlers 10,50,200] [--runs 3] [--out PATH]
       .venv/bin/python benchmarks/build_bench.py --quick     (N=3,5, 1 run; a few minutes)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import builds_table
import cold_starts
import scaling_table
from benchlib import (
    DOC,
    NOTES,
    PREFIX,
    ROOT,
    STANDIN,
    Options,
    Registry,
    machine,
    note,
    remote_usable,
    remove_images,
    save_raw,
    versions,
    write_report,
)


def report(results: list, init: dict, opts: Options, wall: float, command: str, env_line: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `benchmarks/build_bench.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command:",
        "",
        f"    {command}",
        "",
        f"Machine: {machine()}.",
        f"Versions: {env_line}.",
        f"Base `{STANDIN}` (the local stand-in) for the engine path, `{opts.remote_base}` for the remote builder; "
        "handlers cross-compiled natively for linux/arm64, images for linux/arm64.",
        f"Each figure: median of {opts.runs} run(s) (min, max); {opts.runs_beyond} run(s) for N > "
        f"{opts.per_function_max}, marked \"(1 run)\" where one. Ratios are taken within each run, then the median "
        f"(min-max of the per-run ratios in brackets). Whole run: {wall / 60:.1f} min.",
        "",
        "How: every contender starts from its own cold state within each run: Go build cache empty (the module "
        "cache stays warm), none of the benchmark's images, the engine's BuildKit cache pruned "
        "(`docker builder prune -af`); a cold shimimg run gets a fresh, empty `--cache-dir`. No-op and one-change "
        "figures follow that contender's cold build. One change = one handler's source edited (a string constant: "
        "new bytes, same shape); the same edit for every contender in a run. The buildx floor is a no-change "
        "`docker buildx build --load` of the context and Dockerfile shimimg staged (under its cache dir, "
        "`projects/*/context/*`) with shimimg's flags: the fixed cost of any buildx run. Bytes pushed are the "
        "sizes of the blobs the loopback registry (Debian's docker-registry) logged as uploaded "
        "(`PUT .../blobs/uploads/...?digest=`) after the change, into a repository that held the image from "
        "before it.",
        "",
        "Targets: `shimimg build` cold <= 1.2x the `go build` floor; no-op <= 1 s at N=50; one handler changed "
        "<= 1.2x (that handler compiled alone + the buildx floor); bytes pushed after one change <= 1.2x that "
        "binary gzipped, times the binaries its layer holds past 100 handlers (ceil(N/100)).",
        "",
    ]
    for r in results:
        lines += builds_table.table_n(r, opts)
    lines += scaling_table.scaling(results, opts)
    if init:
        lines += cold_starts.table(init)
    lines += ["No-op and one-handler rebuilds against an earlier shimimg, side by side in one run: "
              "`benchmarks/against_ref.py --ref REF` ([benchmarks-against-ref.md](benchmarks-against-ref.md)).", ""]
    if NOTES:
        lines += ["## Notes from this run", ""] + [f"- {t}" for t in NOTES] + [""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--handlers", default=None, help="N values, comma-separated [10,50,200; --quick: 3,5]")
    ap.add_argument("--runs", type=int, default=None, help="runs per N [3; --quick: 1]")
    ap.add_argument("--runs-beyond", type=int, default=None,
                    help="runs per N above --per-function-max [1; figures from one run say so]")
    ap.add_argument("--cold-starts", type=int, default=None, help="cold starts per mode, 0 to skip [20; --quick: 3]")
    ap.add_argument("--per-function-max", type=int, default=None,
                    help="above this N, per-function images are measured in the first run only, or skipped "
                         "(--per-function-beyond) [50; --quick: 3]")
    ap.add_argument("--per-function-beyond", choices=("once", "skip"), default=None,
                    help="per-function images above --per-function-max [once; --quick: skip]")
    ap.add_argument("--remote-builder", default="shimimg-remote",
                    help="buildx builder of the remote row (scripts/buildkit.sh) [shimimg-remote]")
    ap.add_argument("--remote-base", default=f"127.0.0.1:5055/{STANDIN}",
                    help="base image the remote builder pulls [127.0.0.1:5055/<stand-in>]")
    ap.add_argument("--no-remote", action="store_true", help="leave out the remote builder's rows")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny run to check the script (N=3,5, 1 run, no per-function above N=3); "
                         "writes to a temporary file unless --out")
    ap.add_argument("--out", type=Path, default=None, help=f"report path [{DOC.relative_to(ROOT)}]")
    args = ap.parse_args()
    q = args.quick
    handlers = [int(x) for x in (args.handlers or ("3,5" if q else "10,50,200")).split(",")]
    opts = Options(
        runs=args.runs or (1 if q else 3),
        per_function_max=args.per_function_max if args.per_function_max is not None else (3 if q else 50),
        per_function_beyond=args.per_function_beyond or ("skip" if q else "once"),
        runs_beyond=args.runs_beyond or 1,
        remote=None if args.no_remote else args.remote_builder,
        remote_base=args.remote_base,
    )
    starts = args.cold_starts if args.cold_starts is not None else (3 if q else 20)
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "shimimg-bench-quick.md" if q else DOC
    if q and args.out.resolve() == DOC.resolve():
        raise SystemExit(f"a --quick run does not overwrite {DOC.relative_to(ROOT)}: pass another --out")
    command = shlex.join([".venv/bin/python", "benchmarks/build_bench.py", *sys.argv[1:]])

    if opts.remote:
        why = remote_usable(opts.remote, opts.remote_base)
        if why:
            note(f"remote builder rows left out: {why}")
            opts.remote = None
    env_line = versions(opts.remote)
    print(f"build_bench: N={handlers}, {opts.runs} run(s), per-function up to N={opts.per_function_max} "
          f"(beyond: {opts.per_function_beyond}), remote builder: {opts.remote or 'no'}, report: {args.out}",
          flush=True)
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    registry = Registry(scratch)
    raw = Path(tempfile.gettempdir()) / f"{PREFIX}-raw-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results: list = []
    try:
        for n in handlers:
            results.append(builds_table.bench_n(n, opts, scratch, registry))
            save_raw(raw, results)
        if starts:
            print("  cold starts", flush=True)
        init = cold_starts.bench_init(scratch, starts) if starts else {}
    finally:
        registry.close()
        remove_images((f"shimimg/{PREFIX}-", f"{PREFIX}-"))
    for r in results:
        if r["pf_mode"] == "once":
            note(f"N={r['n']}: per-function images measured in the first run only (N > --per-function-max "
                 f"{opts.per_function_max})")
        elif r["pf_mode"] == "skip":
            note(f"N={r['n']}: per-function images not measured (N > --per-function-max {opts.per_function_max})")
    text = report(results, init, opts, time.perf_counter() - t0, command, env_line)
    write_report(args.out, text, "build_bench", raw, scratch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
