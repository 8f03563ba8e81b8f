"""The per-N figure: cold, no-op and one-change builds of shimimg against the go build floor, the
buildx floor, per-function images, the naive single layer and the remote builder, with the bytes
each one-change push uploads (rows 1-10 of each "N = ..." table in docs/benchmarks.md).
"""

from __future__ import annotations

import gzip
import statistics
import time
from pathlib import Path

from benchlib import (
    MAX_BINARY_LAYERS,
    PREFIX,
    STANDIN,
    Figure,
    Options,
    Package,
    Registry,
    image_of,
    image_size,
    note,
    ratio,
    remove_images,
    timed,
    verdict,
)

FIGURES = (
    "go_floor", "buildx_floor", "shimimg_cold", "shimimg_noop", "alone", "shimimg_change",
    "pf_cold", "pf_noop", "pf_change", "naive_cold", "naive_noop", "naive_change",
    "remote_cold", "remote_change", "engine_push_change", "remote_push_change",
)
BYTES = ("push_engine", "push_engine_reported", "push_remote", "push_naive", "binary_gz")
RATIOS = (
    "cold_vs_floor", "change_vs_alone_floor", "pf_cold_vs_shimimg", "naive_cold_vs_shimimg",
    "pf_noop_vs_shimimg", "naive_noop_vs_shimimg", "pf_change_vs_shimimg", "naive_change_vs_shimimg",
    "remote_cold_vs_engine", "remote_change_vs_engine", "push_vs_gz", "naive_push_vs_shimimg",
    "remote_push_vs_engine",
)


def bench_n(n: int, opts: Options, scratch: Path, registry: Registry) -> dict:
    t_n = time.perf_counter()
    pkg = Package(n, scratch)
    runs = opts.runs if n <= opts.per_function_max else opts.runs_beyond
    fig = {k: Figure(runs=opts.runs) for k in FIGURES}
    byt = {k: Figure(unit="B", runs=opts.runs) for k in BYTES}
    ratios: dict = {k: [] for k in RATIOS}
    blobs = {"engine": [], "remote": [], "naive": [], "engine_mounted": [], "remote_mounted": []}
    if n <= opts.per_function_max:
        pf_mode = "all"
    else:
        pf_mode = opts.per_function_beyond
    sizes: dict = {}

    def add(key: str, value: float) -> float:
        (byt if key in byt else fig)[key].samples.append(value)
        return value

    def pushed_after_change(path: str, push) -> tuple:
        """Time a `shimimg push` of one path ("engine" or "remote") and count, from the registry's
        log, what it uploaded: (seconds, uploads, its JSON)."""
        mark = registry.mark()
        seconds, doc = timed(push)
        add(f"{path}_push_change", seconds)
        up = registry.uploads_since(mark)
        add(f"push_{path}", up.bytes)
        blobs[path].append(len(up.blobs))
        blobs[f"{path}_mounted"].append(up.mounted)
        return seconds, up, doc

    def one_run(run: int) -> None:
        nonlocal sizes
        print(f"  N={n} run {run + 1}/{runs}", flush=True)
        label = f"r{run}"
        # --- the floor ---------------------------------------------------------------------------
        pkg.cold()
        floor = add("go_floor", timed(pkg.go_floor)[0])
        print(f"    go floor {floor:.2f}s", flush=True)

        # --- shimimg through the engine ------------------------------------------------------------
        cache = pkg.fresh_cache(f"engine-{label}")
        pkg.cold()
        cold, doc = timed(lambda: pkg.build(cache))
        add("shimimg_cold", cold)
        tag = image_of(doc)["tag"]
        if image_of(doc)["cached"]:
            note(f"N={n} run {run + 1}: a cold `shimimg build` with an empty cache dir reported its image cached")
        noop, doc = timed(lambda: pkg.build(cache))
        add("shimimg_noop", noop)
        if not image_of(doc)["cached"] or image_of(doc)["tag"] != tag:
            note(f"N={n} run {run + 1}: the no-op `shimimg build` was not a cache hit "
                 f"(cached={image_of(doc)['cached']}, tag {image_of(doc)['tag']} vs {tag})")
        bx = add("buildx_floor", timed(lambda: pkg.buildx_floor(cache, tag))[0])
        if run == runs - 1:
            sizes = {"image": image_size(tag), "base": image_size(STANDIN)}
        repo_e = f"{PREFIX}-e{n}-{label}"
        pkg.shimimg("push", cache, "--base-image", STANDIN, "--repository", f"{registry.host}/{repo_e}")
        name = pkg.edit(f"{label}-alone")
        alone, binary = timed(lambda: pkg.one_handler_alone(name))
        add("alone", alone)
        add("binary_gz", len(gzip.compress(binary.read_bytes(), 6)))
        pkg.edit(label)
        change, doc = timed(lambda: pkg.build(cache))
        add("shimimg_change", change)
        if image_of(doc)["tag"] == tag:
            note(f"N={n} run {run + 1}: after one handler changed, `shimimg build` gave the old tag {tag}")
        _, up, pdoc = pushed_after_change("engine", lambda: pkg.shimimg(
            "push", cache, "--base-image", STANDIN, "--repository", f"{registry.host}/{repo_e}"))
        reported = pdoc["packages"][0]["push"]["bytes_pushed"]
        if reported is not None:
            add("push_engine_reported", reported)
        ratios["cold_vs_floor"].append(cold / floor)
        ratios["change_vs_alone_floor"].append(change / (alone + bx))
        ratios["push_vs_gz"].append(up.bytes / byt["binary_gz"].samples[-1])
        print(f"    shimimg cold {cold:.2f}s noop {noop:.2f}s buildx floor {bx:.2f}s alone {alone:.2f}s "
              f"change {change:.2f}s; engine push after the change {up.bytes} B in {len(up.blobs)} blob(s) "
              f"(shimimg says {reported})", flush=True)
        pkg.revert()

        # --- per-function images -------------------------------------------------------------------
        if pf_mode == "all" or (pf_mode == "once" and run == 0):
            pkg.cold()
            pf = add("pf_cold", timed(pkg.per_function)[0])
            pf_noop = add("pf_noop", timed(pkg.per_function)[0])
            pkg.edit(label)
            pf_change = add("pf_change", timed(pkg.per_function)[0])
            pkg.revert()
            ratios["pf_cold_vs_shimimg"].append(pf / cold)
            ratios["pf_noop_vs_shimimg"].append(pf_noop / noop)
            ratios["pf_change_vs_shimimg"].append(pf_change / change)
            print(f"    per-function cold {pf:.2f}s noop {pf_noop:.2f}s change {pf_change:.2f}s", flush=True)
            remove_images((f"{PREFIX}-pf-",))

        # --- the naive single layer ----------------------------------------------------------------
        pkg.cold()
        naive = add("naive_cold", timed(pkg.naive)[0])
        naive_noop = add("naive_noop", timed(pkg.naive)[0])
        repo_n = f"{PREFIX}-n{n}-{label}"
        registry.docker_push(pkg.naive_tag, repo_n)
        pkg.edit(label)
        naive_change = add("naive_change", timed(pkg.naive)[0])
        mark = registry.mark()
        registry.docker_push(pkg.naive_tag, repo_n)
        up_n = registry.uploads_since(mark)
        add("push_naive", up_n.bytes)
        blobs["naive"].append(len(up_n.blobs))
        pkg.revert()
        if run == runs - 1:
            sizes["binaries"] = sum(p.stat().st_size for p in (pkg.dir / "out" / "naive" / "bin").iterdir())
        ratios["naive_cold_vs_shimimg"].append(naive / cold)
        ratios["naive_noop_vs_shimimg"].append(naive_noop / noop)
        ratios["naive_change_vs_shimimg"].append(naive_change / change)
        ratios["naive_push_vs_shimimg"].append(up_n.bytes / max(up.bytes, 1))
        print(f"    naive cold {naive:.2f}s noop {naive_noop:.2f}s change {naive_change:.2f}s; "
              f"push after the change {up_n.bytes} B", flush=True)

        # --- shimimg through the remote builder ----------------------------------------------------
        if opts.remote:
            rflags = ("--builder", opts.remote, "--base-image", opts.remote_base)
            rcache = pkg.fresh_cache(f"remote-{label}")
            pkg.cold(builder=opts.remote)
            r_cold = add("remote_cold", timed(lambda: pkg.shimimg("build", rcache, *rflags))[0])
            repo_r = f"{PREFIX}-b{n}-{label}"
            pkg.shimimg("push", rcache, *rflags, "--repository", f"{registry.host}/{repo_r}")
            pkg.edit(label)
            r_change = add("remote_change", timed(lambda: pkg.shimimg("build", rcache, *rflags))[0])
            t_rpush, up_r, rdoc = pushed_after_change("remote", lambda: pkg.shimimg(
                "push", rcache, *rflags, "--repository", f"{registry.host}/{repo_r}"))
            pkg.revert()
            ratios["remote_cold_vs_engine"].append(r_cold / cold)
            ratios["remote_change_vs_engine"].append(r_change / change)
            ratios["remote_push_vs_engine"].append(up_r.bytes / max(up.bytes, 1))
            print(f"    remote cold {r_cold:.2f}s change {r_change:.2f}s; builder push after the change "
                  f"{up_r.bytes} B in {len(up_r.blobs)} blob(s) ({t_rpush:.2f}s; shimimg says "
                  f"{rdoc['packages'][0]['push']['bytes_pushed']})", flush=True)

    for run in range(runs):
        one_run(run)

    pkg.cold()  # leave no images of this N behind
    return {
        "n": n,
        "fig": fig,
        "bytes": byt,
        "ratios": {k: statistics.median(v) for k, v in ratios.items() if v},
        "ratio_range": {k: (min(v), max(v)) for k, v in ratios.items() if v},
        "blobs": {k: statistics.median(v) for k, v in blobs.items() if v},
        "pf_mode": pf_mode,
        "sizes": sizes,
        "wall": time.perf_counter() - t_n,
    }


def pf_label(r: dict, opts: Options) -> str:
    if r["pf_mode"] == "all":
        return ""
    if r["pf_mode"] == "once":
        return f" [N > {opts.per_function_max}: first run only]"
    return f" [skipped: N > {opts.per_function_max}]"


def table_n(r: dict, opts: Options) -> list:
    f, b, q = r["fig"], r["bytes"], r["ratios"]
    n = r["n"]
    pfl = pf_label(r, opts)
    noop_target = "<= 1 s (at N=50)"
    noop_verdict = verdict(f["shimimg_noop"].median <= 1.0) if n == 50 else "(target is for N=50)"
    rows = [
        ("1", "floor: bare `go build` of all handlers (norpc, arm64), build cache cold", f["go_floor"].fmt(),
         "1.00", "", ""),
        ("2", "buildx floor: no-change `docker buildx build --load` of shimimg's context", f["buildx_floor"].fmt(),
         "", "", ""),
        ("3", "`shimimg build` cold (empty --cache-dir, Go and BuildKit caches cold)", f["shimimg_cold"].fmt(),
         f"{ratio(r, 'cold_vs_floor')} floor", "<= 1.2x floor", verdict(q["cold_vs_floor"] <= 1.2)),
        ("4", f"per-function images (N go builds + N buildx builds), cold{pfl}", f["pf_cold"].fmt(),
         f"{ratio(r, 'pf_cold_vs_shimimg')} shimimg" if f["pf_cold"] else "", "(reference)", ""),
        ("5", "naive image (one go build, one `COPY bin/` layer), cold", f["naive_cold"].fmt(),
         f"{ratio(r, 'naive_cold_vs_shimimg')} shimimg", "(reference)", ""),
        ("6a", "no-op rebuild: shimimg", f["shimimg_noop"].fmt(), "", noop_target, noop_verdict),
        ("6b", f"no-op rebuild: per-function, rebuilding every image{pfl}", f["pf_noop"].fmt(),
         f"{ratio(r, 'pf_noop_vs_shimimg')} shimimg" if f["pf_noop"] else "", "(reference)", ""),
        ("6c", "no-op rebuild: naive image", f["naive_noop"].fmt(), f"{ratio(r, 'naive_noop_vs_shimimg')} shimimg",
         "(reference)", ""),
        ("7a", "one handler changed: `go build` of that handler alone", f["alone"].fmt(), "", "", ""),
        ("7b", "one handler changed: shimimg", f["shimimg_change"].fmt(),
         f"{ratio(r, 'change_vs_alone_floor')} (alone + buildx floor)", "<= 1.2x (alone + buildx floor)",
         verdict(q["change_vs_alone_floor"] <= 1.2)),
        ("7c", f"one handler changed: per-function, rebuilding every image{pfl}", f["pf_change"].fmt(),
         f"{ratio(r, 'pf_change_vs_shimimg')} shimimg" if f["pf_change"] else "", "(reference)", ""),
        ("7d", "one handler changed: naive image", f["naive_change"].fmt(),
         f"{ratio(r, 'naive_change_vs_shimimg')} shimimg", "(reference)", ""),
    ]
    if f["remote_cold"]:
        rows += [
            ("8a", f"remote builder `{opts.remote}`: `shimimg build --builder` cold (builder pruned, image loaded)",
             f["remote_cold"].fmt(), f"{ratio(r, 'remote_cold_vs_engine')} engine path (3)", "(reference)", ""),
            ("8b", f"remote builder `{opts.remote}`: one handler changed", f["remote_change"].fmt(),
             f"{ratio(r, 'remote_change_vs_engine')} engine path (7b)", "(reference)", ""),
        ]
    blob_e = r["blobs"].get("engine")
    per_layer = -(-r["n"] // MAX_BINARY_LAYERS)
    rows += [
        ("9a", "bytes pushed after one change: `shimimg push` through the engine (registry log)",
         b["push_engine"].fmt() + (f", {blob_e:g} blob(s), {r['blobs'].get('engine_mounted', 0):g} mounted"
                                   if blob_e is not None else ""),
         f"{ratio(r, 'push_vs_gz')} the binary gzipped ({b['binary_gz'].fmt()}); shimimg reports "
         f"{b['push_engine_reported'].fmt() if b['push_engine_reported'] else 'null'}",
         # A change re-creates the one layer that holds the handler: past 100 binaries a layer
         # holds up to ceil(N/100) of them (image/buckets.py), so that many binaries' worth.
         f"<= 1.2x{f' x {per_layer} binaries' if per_layer > 1 else ''}", verdict(q["push_vs_gz"] <= 1.2 * per_layer)),
    ]
    if b["push_remote"]:
        rows.append(("9b", f"bytes pushed after one change: `shimimg push --builder {opts.remote}`, straight from "
                     "the builder (registry log)",
                     b["push_remote"].fmt() + f", {r['blobs']['remote']:g} blob(s), "
                     f"{r['blobs'].get('remote_mounted', 0):g} mounted",
                     f"{ratio(r, 'remote_push_vs_engine')} engine path (9a)", "(reference)", ""))
    rows += [
        ("9c", "bytes pushed after one change: naive image (`docker push`, registry log)", b["push_naive"].fmt(),
         f"{ratio(r, 'naive_push_vs_shimimg', '{:.1f}x')} shimimg (9a)", "(reference)", ""),
        ("9d", "time of that push: `shimimg push` through the engine (build is a cache hit)",
         f["engine_push_change"].fmt(), "", "", ""),
    ]
    if f["remote_push_change"]:
        rows.append(("9e", f"time of that push: `shimimg push --builder {opts.remote}` (rebuilds from the "
                     "builder's cache, pushes, names)", f["remote_push_change"].fmt(), "", "", ""))
    s = r["sizes"]
    if s.get("binaries"):
        added = s["image"] - s["base"]
        rows.append(("10", "image size (shimimg, engine)",
                     f"{s['image'] / 1e6:.1f} MB = base {s['base'] / 1e6:.1f} MB + {added / 1e6:.1f} MB",
                     f"binaries sum {s['binaries'] / 1e6:.1f} MB ({added / s['binaries']:.2f}x)",
                     "", ""))
    shared = ""
    if n > MAX_BINARY_LAYERS:
        shared = (f" Above {MAX_BINARY_LAYERS} binaries they share {MAX_BINARY_LAYERS} layers, at most "
                  f"{-(-n // MAX_BINARY_LAYERS)} binaries each (image/buckets.py; Docker's layer store chains at "
                  "most 125 layers). The handler changed here is the first; what a change in a shared layer pushes "
                  "is measured by benchmarks/layer_buckets.py (docs/layer-buckets.md).")
    lines = [
        f"## N = {n} handlers",
        "",
        f"Measured in {r['wall'] / 60:.1f} min.{shared}",
        "",
        "| # | figure | result | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]

