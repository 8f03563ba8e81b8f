#!/usr/bin/env python3
"""shimimg against the alternatives, side by side in one run (issue: benchmarks).

For each N (default 10 and 50) on a generated N-handler package, linux/arm64 on the local
stand-in base, it measures:
  1 floor: bare `go build` of all N handlers (norpc, arm64), module cache warm, build cache cold
  2 `shimimg build` cold (cold Go build cache, no image/BuildKit cache)
  3 per-function images: N x (own go build + own docker buildx build), cold
  4 the naive image: one go build, then all binaries in one `COPY bin/` layer, cold
  5 no-op rebuild; rebuild after one handler changed (shimimg, per-function rebuilding every
    image of the package, and compiling that one handler alone)
  6 bytes pushed to a local registry after a one-handler change: shimimg vs naive
  7 RIE Init Duration over cold starts, shim vs direct mode, linux/amd64 (native)
  8 image size against the sum of the binaries
Each figure is the median of --runs runs (min and max beside it); ratios come from the same run.
It prints a table and writes docs/benchmarks.md.

Usage: .venv/bin/python benchmarks/build_bench.py [--handlers 10,50] [--runs 3] [--cold-starts 20]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = os.environ.get("SHIMIMG_STANDIN_TAG", "shimimg-local/provided:al2")
SHIMIMG = [sys.executable, "-m", "shimimg"]
GO_ENV = {"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
GO_FLAGS = ["-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w -buildid="]


def sh(cmd, *, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if check and r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return r


def buildx(tag: str, ctx: Path) -> None:
    """The alternatives' image build: a plain single-platform buildx build into the engine."""
    sh(["docker", "buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--load", "-t", tag, ctx])


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Figure:
    name: str
    samples: list = field(default_factory=list)
    unit: str = "s"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def fmt(self) -> str:
        if self.unit == "s":
            return f"{self.median:.2f} s (min {min(self.samples):.2f}, max {max(self.samples):.2f})"
        if self.unit == "ms":
            lo, hi, n = min(self.samples), max(self.samples), len(self.samples)
            return f"{self.median:.1f} ms (min {lo:.1f}, max {hi:.1f}, n={n})"
        return f"{self.median / 1e6:.2f} MB (min {min(self.samples) / 1e6:.2f}, max {max(self.samples) / 1e6:.2f})"


class Package:
    """A generated N-handler package in a scratch folder, with a private Go build cache."""

    def __init__(self, n: int, scratch: Path) -> None:
        self.n = n
        self.dir = scratch / f"pkg{n}"
        sh([sys.executable, ROOT / "examples" / "generate.py", self.dir, "--handlers", n, "--functions-only"])
        self.handlers = sorted(p.name for p in (self.dir / "cmd").iterdir())
        self.gocache = scratch / f"gocache{n}"
        self.slug = self.dir.name

    def cold(self) -> None:
        """Cold Go build cache, no images, no BuildKit cache; the module cache stays warm."""
        shutil.rmtree(self.gocache, ignore_errors=True)
        shutil.rmtree(self.dir / ".shimimg", ignore_errors=True)
        shutil.rmtree(self.dir / "out", ignore_errors=True)
        images = sh(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        doomed = [i for i in images if i.startswith(("bench-", "shimimg/pkg"))]
        if doomed:
            sh(["docker", "image", "rm", "-f", *doomed], check=False)
        sh(["docker", "builder", "prune", "-af"], check=False)

    def env(self) -> dict:
        return {**GO_ENV, "GOCACHE": str(self.gocache)}

    def touch_handler(self, i: int) -> str:
        """Change the first handler's code (new bytes, same shape); returns its name."""
        name = self.handlers[0]
        src = self.dir / "cmd" / name / "main.go"
        if not hasattr(self, "_original"):
            self._original = src.read_text()
        # The handler's own name is in every answer it gives: a real change of its bytes.
        src.write_text(self._original.replace(f'const name = "{name}"', f'const name = "{name}-edit-{i}"'))
        return name

    # --- the contenders -------------------------------------------------------------------
    def floor(self) -> None:
        sh(
            ["go", "build", "-o", f"{self.dir / 'out' / 'floor'}/", *GO_FLAGS, "./cmd/..."],
            cwd=self.dir,
            env=self.env(),
        )

    def shimimg_build(self, *extra: str) -> subprocess.CompletedProcess:
        return sh(
            [*SHIMIMG, "build", "--base-image", STANDIN, "--json", *extra],
            cwd=self.dir,
            env={"GOCACHE": str(self.gocache)},
        )

    def one_handler_alone(self, name: str) -> None:
        sh(
            ["go", "build", "-o", self.dir / "out" / "alone" / name, *GO_FLAGS, f"./cmd/{name}"],
            cwd=self.dir,
            env=self.env(),
        )

    def per_function(self) -> None:
        """One image per function: its own go build and its own buildx build, as SAM's per-function
        image workflow does."""
        for name in self.handlers:
            ctx = self.dir / "out" / "pf" / name
            ctx.mkdir(parents=True, exist_ok=True)
            sh(["go", "build", "-o", ctx / "bootstrap", *GO_FLAGS, f"./cmd/{name}"], cwd=self.dir, env=self.env())
            (ctx / "Dockerfile").write_text(f"FROM {STANDIN}\nCOPY bootstrap /var/runtime/bootstrap\n")
            buildx(f"bench-pf-{self.slug}/{name}:latest", ctx)

    def naive(self) -> None:
        """One go build, then the whole bin/ in one COPY layer with the shim."""
        ctx = self.dir / "out" / "naive"
        shutil.rmtree(ctx / "bin", ignore_errors=True)
        (ctx / "bin").mkdir(parents=True)
        sh(["go", "build", "-o", f"{ctx / 'bin'}/", *GO_FLAGS, "./cmd/..."], cwd=self.dir, env=self.env())
        shutil.copy(ROOT / "dockerfiles" / "shim" / "bootstrap", ctx / "bootstrap")
        (ctx / "Dockerfile").write_text(
            f"FROM {STANDIN}\nCOPY bootstrap /var/runtime/bootstrap\nCOPY bin/ /var/task/bin/\n"
        )
        buildx(f"bench-naive-{self.slug}:latest", ctx)


# --- a registry on loopback, for bytes pushed ---------------------------------------------------
class Registry:
    def __init__(self, scratch: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = scratch / "registry.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {scratch / 'registry-data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("docker-registry did not start (run scripts/provision.sh registry)")

    def layers(self, repo: str, tag: str) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v2/{repo}/manifests/{tag}",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json,"
                "application/vnd.docker.distribution.manifest.v2+json"
            },
        )
        m = json.load(urllib.request.urlopen(req, timeout=10))
        blobs = {layer["digest"]: layer["size"] for layer in m["layers"]}
        blobs[m["config"]["digest"]] = m["config"]["size"]
        return blobs

    def push(self, image: str, repo: str, tag: str) -> dict:
        ref = f"127.0.0.1:{self.port}/{repo}:{tag}"
        sh(["docker", "tag", image, ref])
        sh(["docker", "push", ref])
        return self.layers(repo, tag)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def pushed_bytes(before: dict, after: dict) -> int:
    """Blobs a push had to upload: those the registry did not hold yet (docker skips the rest)."""
    return sum(size for digest, size in after.items() if digest not in before)


# --- cold starts under the RIE -----------------------------------------------------------------
def init_durations(image: str, command: list, entrypoint: list | None, count: int) -> list:
    import re

    import docker

    client = docker.from_env()
    out = []
    for _ in range(count):
        c = client.containers.run(
            image,
            command=command,
            entrypoint=entrypoint,
            platform="linux/amd64",
            detach=True,
            ports={"8080/tcp": ("127.0.0.1", None)},
        )
        try:
            c.reload()
            port = c.ports["8080/tcp"][0]["HostPort"]
            url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            for _ in range(50):
                # The emulator initialises inside the first invoke; its "INIT REPORT(durationMs: X)" line
                # times the runtime's start up to its first /next call (what Lambda calls Init Duration);
                # REPORT's "Init Duration" covers only the emulator's own bookkeeping.
                m = re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", c.logs().decode())
                if m:
                    out.append(float(m.group(1)))
                    break
                time.sleep(0.1)
        finally:
            c.remove(force=True)
    client.close()
    return out


def image_size(image: str) -> int:
    return int(sh(["docker", "image", "inspect", image, "--format", "{{.Size}}"]).stdout.strip())


# --- the run ---------------------------------------------------------------------------------
def bench_n(n: int, runs: int, scratch: Path, registry: Registry) -> dict:
    pkg = Package(n, scratch)
    fig = {
        k: Figure(k)
        for k in (
            "floor",
            "shimimg_cold",
            "per_function_cold",
            "naive_cold",
            "noop",
            "one_change_shimimg",
            "one_change_per_function",
            "one_handler_alone",
        )
    }
    ratios = {
        k: []
        for k in (
            "cold_vs_floor",
            "per_function_vs_shimimg",
            "naive_vs_shimimg",
            "per_function_change_vs_shimimg_change",
            "shimimg_change_vs_alone",
        )
    }
    pushes = {
        "shimimg": Figure("push_shimimg", unit="B"),
        "naive": Figure("push_naive", unit="B"),
        "binary_gz": Figure("binary_gz", unit="B"),
    }
    for run in range(runs):
        print(f"  N={n} run {run + 1}/{runs}", flush=True)
        pkg.cold()
        floor = timed(pkg.floor)
        pkg.cold()
        cold = timed(pkg.shimimg_build)
        pkg.cold()
        pf = timed(pkg.per_function)
        pkg.cold()
        naive = timed(pkg.naive)
        # Warm state for the rest: all three built once more after the cold runs.
        pkg.shimimg_build()
        pkg.per_function()
        noop = timed(pkg.shimimg_build)
        # First pushes, so the next ones show only what a one-handler change adds.
        image = f"shimimg/{pkg.slug}:latest"
        before_s = registry.push(image, f"s{n}", f"r{run}a")
        before_n = registry.push(f"bench-naive-{pkg.slug}:latest", f"n{n}", f"r{run}a")
        name = pkg.touch_handler(run)
        change = timed(pkg.shimimg_build)
        alone = timed(lambda name=name: pkg.one_handler_alone(name))
        pf_change = timed(pkg.per_function)
        pkg.naive()
        after_s = registry.push(image, f"s{n}", f"r{run}b")
        after_n = registry.push(f"bench-naive-{pkg.slug}:latest", f"n{n}", f"r{run}b")
        binary = pkg.dir / "out" / "alone" / name
        pushes["shimimg"].samples.append(pushed_bytes(before_s, after_s))
        pushes["naive"].samples.append(pushed_bytes(before_n, after_n))
        pushes["binary_gz"].samples.append(len(gzip.compress(binary.read_bytes(), 6)))
        for k, v in (
            ("floor", floor),
            ("shimimg_cold", cold),
            ("per_function_cold", pf),
            ("naive_cold", naive),
            ("noop", noop),
            ("one_change_shimimg", change),
            ("one_change_per_function", pf_change),
            ("one_handler_alone", alone),
        ):
            fig[k].samples.append(v)
        print(
            f"    pushed shimimg {pushes['shimimg'].samples[-1]} naive {pushes['naive'].samples[-1]} B; "
            f"floor {floor:.1f}s shimimg {cold:.1f}s per-function {pf:.1f}s naive {naive:.1f}s noop {noop:.2f}s "
            f"change {change:.2f}s alone {alone:.2f}s per-function change {pf_change:.1f}s",
            flush=True,
        )
        ratios["cold_vs_floor"].append(cold / floor)
        ratios["per_function_vs_shimimg"].append(pf / cold)
        ratios["naive_vs_shimimg"].append(naive / cold)
        ratios["per_function_change_vs_shimimg_change"].append(pf_change / change)
        ratios["shimimg_change_vs_alone"].append(change / alone)
    image = f"shimimg/{pkg.slug}:latest"
    binaries_total = sum(p.stat().st_size for p in (pkg.dir / "out" / "naive" / "bin").iterdir())
    return {
        "n": n,
        "fig": fig,
        "ratios": {k: statistics.median(v) for k, v in ratios.items()},
        "ratio_range": {k: (min(v), max(v)) for k, v in ratios.items()},
        "pushes": pushes,
        "image_size": image_size(image),
        "base_size": image_size(STANDIN),
        "binaries": binaries_total,
        "pkg": pkg,
    }


def bench_init(scratch: Path, count: int) -> dict:
    """Cold starts of one handler on linux/amd64 (native): shim vs direct."""
    pkg = Package(10, scratch / "init")
    name = pkg.handlers[0]
    sh([*SHIMIMG, "build", "--base-image", STANDIN, "--arch", "x86_64", "-o", pkg.dir / "shim.yaml"], cwd=pkg.dir)
    shim = init_durations(f"shimimg/{pkg.slug}:latest", [f"bin/{name}"], None, count)
    sh(
        [*SHIMIMG, "build", "--base-image", STANDIN, "--arch", "x86_64", "--direct", "-o", pkg.dir / "direct.yaml"],
        cwd=pkg.dir,
    )
    direct = init_durations(
        f"shimimg/{pkg.slug}:latest", [], ["/usr/local/bin/aws-lambda-rie", f"/var/task/bin/{name}"], count
    )
    return {"shim": Figure("init_shim", shim, "ms"), "direct": Figure("init_direct", direct, "ms")}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: list, init: dict, runs: int, wall: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `benchmarks/build_bench.py` (`./dev bench`) on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.platform()}; "
        f"Docker {sh(['docker', 'version', '--format', '{{.Server.Version}}']).stdout.strip()}; "
        f"{sh(['go', 'env', 'GOVERSION']).stdout.strip()}; base `{STANDIN}` (local stand-in); linux/arm64 "
        "builds cross-compiled natively; images for linux/arm64.",
        f"Each figure: median of {runs} runs (min, max). Ratios are taken within each run, then the median. "
        f"Whole run: {wall / 60:.1f} min.",
        "",
    ]
    for r in results:
        f, q, p = r["fig"], r["ratios"], r["pushes"]
        rr = r["ratio_range"]
        lines += [
            f"## N = {r['n']} handlers",
            "",
            "| # | figure | result | ratio | target | verdict |",
            "|---|---|---|---|---|---|",
            "| 1 | floor: bare `go build` of all handlers (norpc, arm64), build cache cold | "
            f"{f['floor'].fmt()} | 1.00 | | |",
            f"| 2 | `shimimg build` cold | {f['shimimg_cold'].fmt()} | {q['cold_vs_floor']:.2f}x floor "
            f"({rr['cold_vs_floor'][0]:.2f}-{rr['cold_vs_floor'][1]:.2f}) | <= 1.2x floor | "
            f"{verdict(q['cold_vs_floor'] <= 1.2)} |",
            f"| 3 | per-function images (N go builds + N buildx builds), cold | {f['per_function_cold'].fmt()} | "
            f"{q['per_function_vs_shimimg']:.2f}x shimimg | shimimg >= 1.8x faster | "
            f"{verdict(q['per_function_vs_shimimg'] >= 1.8)} |",
            f"| 4 | naive image (one `COPY bin/` layer), cold | {f['naive_cold'].fmt()} | "
            f"{q['naive_vs_shimimg']:.2f}x shimimg | (reference) | |",
            f"| 5a | no-op rebuild (shimimg) | {f['noop'].fmt()} | | <= 1 s | {verdict(f['noop'].median <= 1.0)} |",
            f"| 5b | one handler changed: shimimg | {f['one_change_shimimg'].fmt()} | "
            f"{q['shimimg_change_vs_alone']:.2f}x compiling it alone | <= 1.5x | "
            f"{verdict(q['shimimg_change_vs_alone'] <= 1.5)} |",
            f"| 5c | one handler changed: per-function, rebuilding every image of the package | "
            f"{f['one_change_per_function'].fmt()} | {q['per_function_change_vs_shimimg_change']:.1f}x shimimg | "
            f"shimimg >= 10x faster | {verdict(q['per_function_change_vs_shimimg_change'] >= 10)} |",
            "| 5d | one handler changed: `go build` of that handler alone | "
            f"{f['one_handler_alone'].fmt()} | 1.00 | | |",
            f"| 6a | bytes pushed after one change: shimimg | {p['shimimg'].fmt()} | "
            f"{p['shimimg'].median / p['binary_gz'].median:.2f}x the binary gzipped ({p['binary_gz'].fmt()}) | "
            f"<= 1.2x | {verdict(p['shimimg'].median <= 1.2 * p['binary_gz'].median)} |",
            f"| 6b | bytes pushed after one change: naive image | {p['naive'].fmt()} | "
            f"{p['naive'].median / max(p['shimimg'].median, 1):.1f}x shimimg | (reference) | |",
            f"| 8 | image size | {r['image_size'] / 1e6:.1f} MB = base {r['base_size'] / 1e6:.1f} MB + "
            f"{(r['image_size'] - r['base_size']) / 1e6:.1f} MB | binaries sum {r['binaries'] / 1e6:.1f} MB "
            f"({(r['image_size'] - r['base_size']) / r['binaries']:.2f}x) | | |",
            "",
        ]
    if init:
        s, d = init["shim"], init["direct"]
        lines += [
            "## Cold start under the RIE (linux/amd64, native)",
            "",
            "| # | mode | Init Duration |",
            "|---|---|---|",
            f"| 7a | shim (`/var/runtime/bootstrap` execs `bin/<name>`) | {s.fmt()} |",
            f"| 7b | direct (`ImageConfig.EntryPoint` is the binary) | {d.fmt()} |",
            "",
            f"The shim adds {s.median - d.median:.1f} ms at the median (the emulator's `INIT REPORT(durationMs)`: "
            "the runtime's start up to its first `/next` request).",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--handlers", default="10,50")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-starts", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="shimimg-bench-"))
    registry = Registry(scratch)
    try:
        results = [bench_n(int(n), args.runs, scratch, registry) for n in args.handlers.split(",")]
        print("  cold starts", flush=True)
        init = bench_init(scratch, args.cold_starts) if args.cold_starts else {}
    finally:
        registry.close()
    text = report(results, init, args.runs, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
