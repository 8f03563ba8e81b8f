#!/usr/bin/env python3
"""Bytes pushed after one change, by the kind of layer the changed handler sits in, and layers
re-created by adding one handler: shimimg's buckets against the scheme they replace, side by side
in one run (issue 22: layers past 100 handlers).

For each N (default 50, 130, 200) and each scheme, a generated N-handler package (linux/arm64, the
local stand-in base) is pushed with `shimimg push` to a registry of its own on loopback; then, one
after another in the same work folder and shimimg cache (as a pipeline with its cache restored):

  solo     a handler alone in its layer is changed, and pushed
  shared   a handler in a layer with others (the largest such layer) is changed, and pushed
  added    a handler is added whose name sorts first (the costliest for a name-ordered scheme), and pushed

What was pushed is what the registry logged: the blobs PUT to .../blobs/uploads/...?digest= (their
sizes from the registry), i.e. new layers and the image config. Which binaries each layer holds is
read from the pushed blobs themselves. Bytes are a property of the sources, not of the machine's
load: one run.

Schemes:
  buckets  this shimimg (image/buckets.py): at most 100 binary layers of at most ceil(N/100)
  shared   the scheme before it: the first 100 binaries by name one layer each, the rest in one
           shared layer (run as this shimimg with the assignment function swapped for that rule)

"added, cold runner" is computed, not pushed: the number of layers that differ between the layout a
runner without shimimg's cache makes of the N+1 handlers and the layout of the pushed image before
the addition (buckets.assign is the exact function the build uses).

Usage: .venv/bin/python benchmarks/layer_buckets.py [--handlers 50,130,200] [--out PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "orchestrator"))
from shimimg.image import buckets  # noqa: E402

STANDIN = os.environ.get("SHIMIMG_STANDIN_TAG", "shimimg-local/provided:al2")
EPOCH = "946684800"
BIN = "var/task/bin/"
ADDED = "h0005"  # sorts before h001: every name-ordered position after it shifts
_PUT_BLOB = re.compile(r'"PUT /v2/(\S+?)/blobs/uploads/\S*?[?&]digest=([^&\s"]+)\S* HTTP/[\d.]+" 201 ')

# The scheme buckets replaced (image/context.py before issue 22), as an assignment: the first 100
# names one bucket each, every later one in bucket 100, which groups() turns into one shared layer.
SHARED_SCHEME = """
import sys
from shimimg.image import buckets
def assign(names, previous=None, *, buckets=buckets.MAX_BINARY_LAYERS):
    return {name: min(i, buckets) for i, name in enumerate(sorted(names))}
buckets.assign = assign
sys.argv[0] = "shimimg"
from shimimg.cli import main
raise SystemExit(main())
"""
SCHEMES = {"buckets": ["-m", "shimimg"], "shared": ["-c", SHARED_SCHEME]}


def sh(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r


class Registry:
    """Debian's docker-registry on a free loopback port, its access log in a file."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.host = f"127.0.0.1:{s.getsockname()[1]}"
        root.mkdir(parents=True)
        cfg = root / "registry.yml"
        cfg.write_text("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
                       f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\nhttp:\n  addr: {self.host}\n")
        self.log = root / "registry.log"
        with self.log.open("ab") as f:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"docker-registry did not start (run scripts/provision.sh registry); log: {self.log}")

    def offset(self) -> int:
        last = -1
        while (size := self.log.stat().st_size) != last:  # the log line lands as the response completes
            last = size
            time.sleep(0.3)
        return size

    def uploads(self, since: int) -> dict[str, int]:
        self.offset()
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return {urllib.parse.unquote(d): self.size(repo, urllib.parse.unquote(d))
                for repo, d in _PUT_BLOB.findall(text)}

    def get(self, path: str, accept: str = "*/*", method: str = "GET") -> urllib.request.addinfourl:
        return urllib.request.urlopen(urllib.request.Request(f"http://{self.host}{path}", method=method,
                                                             headers={"Accept": accept}), timeout=60)

    def size(self, repo: str, digest: str) -> int:
        with self.get(f"/v2/{repo}/blobs/{digest}", method="HEAD") as r:
            return int(r.headers["Content-Length"])

    def manifest(self, repo: str, digest: str) -> dict:
        with self.get(f"/v2/{repo}/manifests/{digest}", "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json") as r:
            return json.loads(r.read())

    def binaries(self, repo: str, digest: str) -> list[str]:
        with self.get(f"/v2/{repo}/blobs/{digest}") as r:
            data = r.read()
        # "r:*": gzip or a plain tar, whichever the layer's media type is (the manifest says).
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return sorted(m.name.removeprefix(BIN) for m in tar.getmembers()
                          if m.isfile() and m.name.startswith(BIN))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Run:
    """One scheme at one N: a package, a cache, a repository; push() returns what landed."""

    def __init__(self, scheme: str, n: int, scratch: Path, registry: Registry) -> None:
        self.scheme, self.n, self.registry = scheme, n, registry
        # The folder names the image (shimimg/<folder>): its own per scheme and N.
        self.work = scratch / f"{scheme}-n{n}" / f"layers-{scheme}-n{n}"
        sh([sys.executable, ROOT / "examples" / "generate.py", self.work, "--handlers", n, "--functions-only"])
        self.cache = scratch / f"{scheme}-n{n}" / "cache"  # its own: the layout record is per package
        self.tags: list[str] = []  # local images the pushes left in the engine, removed afterwards
        self.repo = f"bench/{scheme}-n{n}"
        self.layers: list[str] = []
        self.contents: dict[str, list[str]] = {}

    def push(self) -> tuple[dict[str, int], list[str]]:
        """(blobs uploaded: digest → size, layers new in the manifest)."""
        mark = self.registry.offset()
        cmd = [sys.executable, *SCHEMES[self.scheme], "push", "--json", "--base-image", STANDIN,
               "--cache-dir", self.cache, "--repository", f"{self.registry.host}/{self.repo}"]
        env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT / "orchestrator")}
        r = subprocess.run(cmd, cwd=self.work, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            # On a shared engine another process may prune BuildKit's cache mid-build ("failed to
            # solve: not found"); a second attempt is the same build. Bytes count from the mark
            # above either way: what a failed attempt uploaded counts too.
            print(f"    NOTE: push failed once ({r.stderr.strip().splitlines()[-1:]}); trying again", flush=True)
            r = sh(cmd, cwd=self.work, env=env)
        [pkg] = json.loads(r.stdout)["packages"]
        digest = pkg["push"]["digest"]
        if pkg.get("image", {}).get("tag"):
            self.tags.append(pkg["image"]["tag"])
        manifest_layers = self.registry.manifest(self.repo, digest)["layers"]
        layers = [x["digest"] for x in manifest_layers]
        plain = sorted({x["mediaType"] for x in manifest_layers if not x["mediaType"].endswith("gzip")})
        if plain:
            print(f"    NOTE: layers of media type {plain} in {self.repo}", flush=True)
        fresh = [d for d in layers if d not in self.layers]
        for d in fresh:
            self.contents[d] = self.registry.binaries(self.repo, d)
        self.layers = layers
        return self.registry.uploads(mark), fresh

    def handler_in(self, size: str) -> str | None:
        """A handler alone in its layer ("solo"), or one in the largest shared layer ("shared")."""
        groups = [self.contents[d] for d in self.layers if self.contents.get(d)]
        if size == "solo":
            return next((g[0] for g in groups if len(g) == 1), None)
        shared = max(groups, key=len)
        return shared[0] if len(shared) > 1 else None

    def edit(self, handler: str) -> None:
        main = self.work / "cmd" / handler / "main.go"
        main.write_text(main.read_text().replace(f'const name = "{handler}"', f'const name = "{handler}-edit"'))

    def add(self, name: str) -> None:
        src = self.work / "cmd" / "h001" / "main.go"
        (self.work / "cmd" / name).mkdir()
        (self.work / "cmd" / name / "main.go").write_text(
            src.read_text().replace('const name = "h001"', f'const name = "{name}"'))
        with (self.work / "template.yaml").open("a") as f:
            f.write(f"  {name.upper()}Function:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                    f"      Handler: bin/{name}\n")

    def names(self) -> list[str]:
        return [f"bin/{f}" for d in self.layers for f in self.contents.get(d, [])]


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def bench(n: int, scratch: Path) -> dict:
    out: dict = {"n": n}
    for scheme in SCHEMES:
        registry = Registry(scratch / f"registry-{scheme}-{n}")
        run = None
        try:
            run = Run(scheme, n, scratch, registry)
            up, _ = run.push()
            binary_layers = [g for g in (run.contents.get(d) for d in run.layers) if g]
            row = {"first_push": sum(up.values()), "binary_layers": len(binary_layers),
                   "largest_layer": max(len(g) for g in binary_layers)}
            # One binary's worth: the median of each binary layer's size per binary it holds (at
            # N=200 every bucket holds two: there is no layer of one).
            per_binary = sorted(registry.size(run.repo, d) / len(run.contents[d]) for d in run.layers
                                if run.contents.get(d))
            row["one_binary_gz"] = round(per_binary[len(per_binary) // 2])
            for kind in ("solo", "shared"):
                handler = run.handler_in(kind)
                if handler is None:
                    row[kind] = None
                    continue
                holding = next(len(run.contents[d]) for d in run.layers if handler in run.contents.get(d, []))
                run.edit(handler)
                up, fresh = run.push()
                row[kind] = {"handler": handler, "layer_holds": holding, "bytes": sum(up.values()),
                             "layers_pushed": len(fresh)}
            before = run.names()
            prev_layers = {frozenset(f"bin/{f}" for f in run.contents[d]) for d in run.layers if run.contents.get(d)}
            run.add(ADDED)
            up, fresh = run.push()
            row["added"] = {"layers_recreated": len(fresh), "bytes": sum(up.values())}
            if scheme == "buckets":
                # A runner without the cache lays out N+1 names from nothing; against the image
                # before the addition (itself laid out cold here, by the first push):
                cold = {frozenset(g) for g in buckets.groups(buckets.assign([*before, f"bin/{ADDED}"]))}
                row["added_cold_runner_layers"] = len(cold - prev_layers)
            out[scheme] = row
            print(f"  N={n} {scheme}: {json.dumps(row)}", flush=True)
        finally:
            registry.close()
            if run is not None and run.tags:
                subprocess.run(["docker", "image", "rm", *sorted(set(run.tags))], capture_output=True)
    return out


def table(results: list[dict]) -> str:
    lines = [
        "| N | binary layers (largest) | one change, handler alone in its layer | one change, handler in a shared "
        "layer | one handler added: layers re-created (bytes) |",
        "|---|---|---|---|---|",
    ]

    def change(row: dict, kind: str) -> str:
        c = row[kind]
        if c is None:
            return "(no such layer)"
        ratio = c["bytes"] / row["one_binary_gz"]
        return f"{mb(c['bytes'])} ({ratio:.1f}x one binary; layer of {c['layer_holds']})"

    for r in results:
        b, s = r["buckets"], r["shared"]
        cells = [
            f"{b['binary_layers']} ({b['largest_layer']}) / {s['binary_layers']} ({s['largest_layer']})",
            f"{change(b, 'solo')} / {change(s, 'solo')}",
            f"{change(b, 'shared')} / {change(s, 'shared')}",
            f"{b['added']['layers_recreated']} ({mb(b['added']['bytes'])}); cold runner "
            f"{b['added_cold_runner_layers']} / {s['added']['layers_recreated']} ({mb(s['added']['bytes'])})",
        ]
        lines.append(f"| {r['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--handlers", default="50,130,200")
    ap.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = ap.parse_args()
    if not shutil.which("docker-registry"):
        raise SystemExit("docker-registry is missing: run scripts/provision.sh registry")
    ns = [int(x) for x in args.handlers.split(",")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="layer-buckets-") as tmp:
        results = [bench(n, Path(tmp)) for n in ns]
    text = ("# Layers past 100 handlers: bytes pushed after one change, buckets against the scheme before\n\n"
            "Written by `.venv/bin/python benchmarks/layer_buckets.py --out docs/layer-buckets.md` (see its "
            "docstring for what each column measures).\n\n"
            f"Each cell: buckets / shared (the scheme before). One run, {time.strftime('%Y-%m-%d')}, "
            f"{(time.perf_counter() - t0) / 60:.1f} min; bytes pushed are the blobs the registry logged as "
            f"uploaded (new layers + the image config); \"one binary\" is the median binary layer's size per "
            "binary.\n\n"
            + table(results) + "\n")
    print("\n" + text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
