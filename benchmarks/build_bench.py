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
import gzip
import json
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
STANDIN = os.environ.get("SHIMIMG_STANDIN_TAG", "shimimg-local/provided:al2")
SHIMIMG = [sys.executable, "-m", "shimimg", "--progress", "plain"]
GO_ENV = {"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}
# shimimg's own flags (gobuild/gocmd.py), so the floor and "compiled alone" compile what it does.
GO_FLAGS = ["-tags", "lambda.norpc", "-buildvcs=false", "-trimpath", "-ldflags", "-s -w -buildid="]
# Fixed, so the buildx floor can pass shimimg's exact build argument (shimimg reads the variable).
EPOCH = "946684800"
PREFIX = "shimbench"  # every package, image and tag this script makes starts with it
try:  # binaries beyond this many share one last layer
    from shimimg.image.context import MAX_BINARY_LAYERS
except ImportError:
    MAX_BINARY_LAYERS = 100
NOTES: list[str] = []  # anything odd seen during the run; printed and written to the report


def note(text: str) -> None:
    NOTES.append(text)
    print(f"    NOTE: {text}", flush=True)


def base_env() -> dict:
    # The caller's SHIMIMG_* settings (a builder, a cache dir, a base) must not leak into a contender.
    # PYTHONDONTWRITEBYTECODE (set on some machines) would make every shimimg run compile its own
    # modules again; an installed shimimg has its bytecode from pip.
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SHIMIMG_") and k != "PYTHONDONTWRITEBYTECODE"}


def sh(cmd, *, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env={**base_env(), **(env or {})},
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"failed: {shlex.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return r


def buildx(tag: str, ctx: Path) -> None:
    """The alternatives' image build: a plain single-platform buildx build into the engine."""
    sh(["docker", "buildx", "build", "--platform", "linux/arm64", "--provenance=false", "--load", "-t", tag, ctx])


def timed(fn):
    """(seconds, fn's result)."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


@dataclass
class Figure:
    samples: list = field(default_factory=list)
    unit: str = "s"
    runs: int = 1  # samples expected; fewer are marked "(1 run)"

    def __bool__(self) -> bool:
        return bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def fmt(self) -> str:
        if not self.samples:
            return "not measured"
        lo, hi, n = min(self.samples), max(self.samples), len(self.samples)
        once = " (1 run)" if n == 1 and self.runs > 1 else ""
        if self.unit == "s":
            if n == 1:
                return f"{self.median:.2f} s{once}"
            return f"{self.median:.2f} s (min {lo:.2f}, max {hi:.2f})"
        if self.unit == "ms":
            return f"{self.median:.1f} ms (min {lo:.1f}, max {hi:.1f}, n={n})"
        if n == 1 or lo == hi:
            return f"{self.median / 1e6:.2f} MB{once}"
        return f"{self.median / 1e6:.2f} MB (min {lo / 1e6:.2f}, max {hi / 1e6:.2f})"


def remove_images(prefixes: tuple[str, ...]) -> None:
    images = sh(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    doomed = [i for i in images if i.startswith(prefixes)]
    if doomed:
        sh(["docker", "image", "rm", "-f", *doomed], check=False)


class Package:
    """A generated N-handler package in a scratch folder, with a private Go build cache."""

    def __init__(self, n: int, scratch: Path, name: str | None = None) -> None:
        self.n = n
        self.scratch = scratch
        self.slug = name or f"{PREFIX}-n{n}"
        self.dir = scratch / self.slug
        sh([sys.executable, ROOT / "examples" / "generate.py", self.dir, "--handlers", n, "--functions-only"])
        self.handlers = sorted(p.name for p in (self.dir / "cmd").iterdir())
        self.gocache = scratch / f"gocache-{self.slug}"
        self.first = self.handlers[0]
        self.src = self.dir / "cmd" / self.first / "main.go"
        self.original = self.src.read_text()

    # --- state -------------------------------------------------------------------------------
    def cold(self, builder: str | None = None) -> None:
        """Cold Go build cache, none of this script's images, the builder's cache pruned (the
        engine's own BuildKit, or ``builder``); the module cache stays warm."""
        shutil.rmtree(self.gocache, ignore_errors=True)
        shutil.rmtree(self.dir / ".shimimg", ignore_errors=True)
        shutil.rmtree(self.dir / ".aws-sam", ignore_errors=True)  # build's output (issue 20)
        shutil.rmtree(self.dir / "out", ignore_errors=True)
        remove_images((f"shimimg/{PREFIX}-", f"{PREFIX}-"))
        # A prune that failed would make "cold" a lie: stop instead.
        if builder:
            sh(["docker", "buildx", "prune", "-af", "--builder", builder])
        else:
            sh(["docker", "builder", "prune", "-af"])

    def fresh_cache(self, label: str) -> Path:
        """A new, empty shimimg cache dir (a cold shimimg run must not find anything)."""
        path = self.scratch / "caches" / f"{self.slug}-{label}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def edit(self, label: str) -> str:
        """Change the first handler's code (new bytes, same shape); returns its name."""
        # The handler's own name is in every answer it gives: a real change of its bytes.
        self.src.write_text(self.original.replace(f'const name = "{self.first}"',
                                                  f'const name = "{self.first}-edit-{label}"'))
        return self.first

    def revert(self) -> None:
        self.src.write_text(self.original)

    def env(self) -> dict:
        return {**GO_ENV, "GOCACHE": str(self.gocache)}

    # --- the contenders ------------------------------------------------------------------------
    def go_floor(self) -> None:
        sh(["go", "build", "-o", f"{self.dir / 'out' / 'floor'}/", *GO_FLAGS, "./cmd/..."], cwd=self.dir,
           env=self.env())

    def shimimg(self, command: str, cache: Path, *extra: str) -> dict:
        """``shimimg build|push --json`` with its own cache dir; returns the JSON document."""
        r = sh([*SHIMIMG, command, "--json", "--cache-dir", cache, *extra], cwd=self.dir,
               env={"GOCACHE": str(self.gocache), "SOURCE_DATE_EPOCH": EPOCH})
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError:
            raise SystemExit(
                f"shimimg {command} --json printed no JSON:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}") from None

    def build(self, cache: Path, *extra: str) -> dict:
        return self.shimimg("build", cache, "--base-image", STANDIN, *extra)

    def buildx_floor(self, cache: Path, tag: str) -> None:
        """A no-change `docker buildx build --load` of the context shimimg used, with its flags."""
        contexts = sorted((cache / "projects").glob("*/context/*"))
        if len(contexts) != 1 or not (contexts[0] / "Dockerfile").is_file():
            raise SystemExit(f"expected one build context with a Dockerfile under {cache}/projects/*/context/, "
                             f"found {contexts}")
        sh(["docker", "buildx", "build", "--platform=linux/arm64", "--provenance=false", "--sbom=false", "--load",
            f"--tag={tag}", "--progress=plain", f"--build-arg=SOURCE_DATE_EPOCH={EPOCH}", "--", contexts[0]])

    def one_handler_alone(self, name: str) -> Path:
        out = self.dir / "out" / "alone" / name
        sh(["go", "build", "-o", out, *GO_FLAGS, f"./cmd/{name}"], cwd=self.dir, env=self.env())
        return out

    def per_function(self) -> None:
        """One image per function: its own go build and its own buildx build, as SAM's per-function
        image workflow does."""
        for name in self.handlers:
            ctx = self.dir / "out" / "pf" / name
            ctx.mkdir(parents=True, exist_ok=True)
            sh(["go", "build", "-o", ctx / "bootstrap", *GO_FLAGS, f"./cmd/{name}"], cwd=self.dir, env=self.env())
            (ctx / "Dockerfile").write_text(f"FROM {STANDIN}\nCOPY bootstrap /var/runtime/bootstrap\n")
            buildx(f"{PREFIX}-pf-n{self.n}/{name}:latest", ctx)

    @property
    def naive_tag(self) -> str:
        return f"{PREFIX}-naive-n{self.n}:latest"

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
        buildx(self.naive_tag, ctx)


def image_of(doc: dict) -> dict:
    """``.packages[0].image`` of `shimimg build --json` (one package per generated project)."""
    pkgs = doc.get("packages") or []
    if len(pkgs) != 1 or "image" not in pkgs[0]:
        raise SystemExit(f"shimimg build --json: expected one package with an image, got {json.dumps(doc)[:600]}")
    return pkgs[0]["image"]


# --- a registry on loopback, with its access log, for bytes pushed --------------------------------
_PUT_BLOB = re.compile(r'"PUT (/v2/(\S+?)/blobs/uploads/\S*) HTTP/[\d.]+" (\d{3}) ')
_MOUNT = re.compile(r'"POST (/v2/\S+?/blobs/uploads/\?\S*mount=\S*) HTTP/[\d.]+" 201 ')


@dataclass(frozen=True)
class Uploads:
    blobs: dict  # digest -> size, blobs PUT (uploaded) since the mark
    mounted: int  # blobs the registry mounted from another of its repositories instead

    @property
    def bytes(self) -> int:
        return sum(self.blobs.values())


class Registry:
    """Debian's docker-registry on a free loopback port, access log (combined format, at log level
    info) into a file: which blobs a push uploaded is what the registry saw, not what a client says."""

    def __init__(self, scratch: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        cfg = scratch / "registry.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {scratch / 'registry-data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
        )
        self.log = scratch / "registry.log"
        self._logf = self.log.open("ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=self._logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise SystemExit(f"docker-registry did not start (run scripts/provision.sh registry); log: {self.log}")

    def version(self) -> str:
        r = sh(["docker-registry", "--version"], check=False)
        return (r.stdout or r.stderr).strip().split()[-1] if r.returncode == 0 else "?"

    def _settle(self) -> None:
        """The access log line is written as the response completes: wait until the log stops growing."""
        last = -1
        for _ in range(50):
            size = self.log.stat().st_size
            if size == last:
                return
            last = size
            time.sleep(0.2)

    def mark(self) -> int:
        self._settle()
        return self.log.stat().st_size

    def uploads_since(self, mark: int) -> Uploads:
        self._settle()
        with self.log.open("rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        blobs: dict = {}
        for m in _PUT_BLOB.finditer(text):
            path, repo, status = m.group(1), m.group(2), m.group(3)
            digest = (urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("digest") or [""])[0]
            if status != "201" or not digest:
                continue
            blobs[digest] = self.blob_size(repo, digest)
        return Uploads(blobs, len(_MOUNT.findall(text)))

    def blob_size(self, repo: str, digest: str) -> int:
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/blobs/{digest}", method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.headers["Content-Length"])

    def docker_push(self, image: str, repo: str) -> None:
        ref = f"{self.host}/{repo}:latest"
        sh(["docker", "tag", image, ref])
        try:
            sh(["docker", "push", ref])
        finally:
            sh(["docker", "image", "rm", ref], check=False)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._logf.close()


# --- cold starts under the RIE -------------------------------------------------------------------
def init_durations(image: str, command: list, entrypoint: list | None, count: int) -> list:
    import docker

    client = docker.from_env()
    out = []
    for _ in range(count):
        c = client.containers.run(image, command=command, entrypoint=entrypoint, platform="linux/amd64",
                                  detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
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


# --- the run ---------------------------------------------------------------------------------------
@dataclass
class Options:
    runs: int
    per_function_max: int
    per_function_beyond: str  # "once" | "skip"
    runs_beyond: int  # runs per N above per_function_max (a big N's run takes half an hour on 2 cores)
    remote: str | None  # builder name, None: not measured
    remote_base: str


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


def bench_init(scratch: Path, count: int) -> dict:
    """Cold starts of one handler on linux/amd64 (native): shim vs direct."""
    pkg = Package(10, scratch, name=f"{PREFIX}-init")
    name = pkg.first
    cache = pkg.fresh_cache("init")
    shim_tag = image_of(pkg.build(cache, "--arch", "x86_64", "-o", pkg.dir / "shim.yaml"))["tag"]
    shim = init_durations(shim_tag, [f"bin/{name}"], None, count)
    direct_tag = image_of(pkg.build(cache, "--arch", "x86_64", "--direct", "-o", pkg.dir / "direct.yaml"))["tag"]
    direct = init_durations(direct_tag, [], ["/usr/local/bin/aws-lambda-rie", f"/var/task/bin/{name}"], count)
    remove_images((f"shimimg/{PREFIX}-",))
    return {"shim": Figure(shim, "ms"), "direct": Figure(direct, "ms")}


# --- preflight and versions ------------------------------------------------------------------------
def remote_usable(builder: str, base: str) -> str | None:
    """None when the builder runs and its base is in the registry; else why not."""
    r = sh(["docker", "buildx", "inspect", builder], check=False)
    if r.returncode != 0 or not re.search(r"^Status:\s*running", r.stdout, re.M):
        return f"buildx builder {builder} is not running ({(r.stderr or r.stdout).strip()[:200]}); scripts/buildkit.sh"
    r = sh(["docker", "buildx", "imagetools", "inspect", base], check=False)
    if r.returncode != 0:
        return f"the remote builder's base {base} is not in its registry; scripts/buildkit.sh base"
    return None


def builder_version(builder: str) -> str:
    r = sh(["docker", "buildx", "inspect", builder], check=False)
    m = re.search(r"^BuildKit version:\s*(\S+)", r.stdout, re.M)
    return m.group(1) if m else "?"


def machine() -> str:
    cpu = "?"
    mem = "?"
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
        kb = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.machine()}, {platform.platform()}"


def versions(remote: str | None) -> str:
    def out(cmd):
        r = sh(cmd, check=False)
        return r.stdout.strip() or "?"

    bx = out(["docker", "buildx", "version"]).split()
    reg = sh(["docker-registry", "--version"], check=False)
    parts = [
        f"Docker {out(['docker', 'version', '--format', '{{.Server.Version}}'])}",
        f"buildx {bx[1] if len(bx) > 1 else '?'}",
        f"engine BuildKit {builder_version('default')}",
    ]
    if remote:
        parts.append(f"`{remote}` BuildKit {builder_version(remote)}")
    parts += [
        out(["go", "env", "GOVERSION"]),
        f"shimimg {out([*SHIMIMG, '--version']).split()[-1]}",
        f"docker-registry {(reg.stdout or reg.stderr).split()[-1] if reg.returncode == 0 else '?'}",
        f"Python {platform.python_version()}",
    ]
    return "; ".join(parts)


def save_raw(path: Path, results: list) -> None:
    """Every sample so far, so a long run that dies later still leaves its numbers behind."""
    def plain(r: dict) -> dict:
        out = {k: v for k, v in r.items() if k not in ("fig", "bytes")}
        out["fig"] = {k: f.samples for k, f in r["fig"].items()}
        out["bytes"] = {k: f.samples for k, f in r["bytes"].items()}
        return out

    path.write_text(json.dumps({"results": [plain(r) for r in results], "notes": NOTES}, indent=1) + "\n")
    print(f"    raw samples so far: {path}", flush=True)


# --- the report ------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ratio(r: dict, key: str, fmt: str = "{:.2f}x") -> str:
    if key not in r["ratios"]:
        return ""
    lo, hi = r["ratio_range"][key]
    s = fmt.format(r["ratios"][key])
    return s if lo == hi else f"{s} ({fmt.format(lo)}-{fmt.format(hi)})".replace("x-", "-")


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
    rows += [
        ("9a", "bytes pushed after one change: `shimimg push` through the engine (registry log)",
         b["push_engine"].fmt() + (f", {blob_e:g} blob(s), {r['blobs'].get('engine_mounted', 0):g} mounted"
                                   if blob_e is not None else ""),
         f"{ratio(r, 'push_vs_gz')} the binary gzipped ({b['binary_gz'].fmt()}); shimimg reports "
         f"{b['push_engine_reported'].fmt() if b['push_engine_reported'] else 'null'}",
         "<= 1.2x", verdict(q["push_vs_gz"] <= 1.2)),
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
        shared = (f" Above {MAX_BINARY_LAYERS} binaries shimimg stops giving each its own layer (Lambda caps an image "
                  f"at 127 layers): binaries {MAX_BINARY_LAYERS + 1}..{n} share one last layer. The handler changed "
                  "here is the first, in a layer of its own; a change to one in the shared layer rebuilds and pushes "
                  "that whole layer.")
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


def scaling(results: list, opts: Options) -> list:
    if len(results) < 2:
        return []
    lines = [
        "## Scaling with N",
        "",
        "Medians from the tables above; \"s/handler\" is the cost of each handler added since the row "
        "before: (t(N) - t(N before)) / (N - N before).",
        "",
    ]
    for title, keys in (
        ("Cold build", ("shimimg_cold", "pf_cold", "naive_cold")),
        ("No-op rebuild", ("shimimg_noop", "pf_noop", "naive_noop")),
        ("One handler changed", ("shimimg_change", "pf_change", "naive_change")),
    ):
        lines += [
            f"### {title}",
            "",
            "| N | shimimg | s/handler | per-function images | s/handler | naive single layer | s/handler |",
            "|---|---|---|---|---|---|---|",
        ]
        prev = None
        for r in results:
            cells = [str(r["n"])]
            for k in keys:
                fig = r["fig"][k]
                if not fig:
                    cells += [f"skipped (N > {opts.per_function_max})", ""]
                    continue
                val = f"{fig.median:.2f} s" + (" (1 run)" if len(fig.samples) == 1 and opts.runs > 1 else "")
                per = ""
                if prev is not None and prev["fig"][k]:
                    per = f"{(fig.median - prev['fig'][k].median) / (r['n'] - prev['n']):+.3f}"
                cells += [val, per]
            lines.append("| " + " | ".join(cells) + " |")
            prev = r
        lines.append("")
    return lines


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
        "binary gzipped.",
        "",
    ]
    for r in results:
        lines += table_n(r, opts)
    lines += scaling(results, opts)
    if init:
        s, d = init["shim"], init["direct"]
        lines += [
            "## Cold start under the RIE (linux/amd64, native)",
            "",
            "| # | mode | Init Duration |",
            "|---|---|---|",
            f"| 11a | shim (`/var/runtime/bootstrap` execs `bin/<name>`) | {s.fmt()} |",
            f"| 11b | direct (`ImageConfig.EntryPoint` is the binary) | {d.fmt()} |",
            "",
            f"The shim adds {s.median - d.median:.1f} ms at the median (the emulator's `INIT REPORT(durationMs)`: "
            "the runtime's start up to its first `/next` request).",
            "",
        ]
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
    cold_starts = args.cold_starts if args.cold_starts is not None else (3 if q else 20)
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
            results.append(bench_n(n, opts, scratch, registry))
            save_raw(raw, results)
        if cold_starts:
            print("  cold starts", flush=True)
        init = bench_init(scratch, cold_starts) if cold_starts else {}
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"build_bench: wrote {args.out} (raw samples: {raw})", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
