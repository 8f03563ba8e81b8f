"""The cold-start figure: Init Duration under the RIE (linux/amd64, native) of one handler behind
the shim against the same binary as the entry point ("Cold start under the RIE" in
docs/benchmarks.md).
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

from benchlib import PREFIX, Figure, Package, image_of, remove_images


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



def table(init: dict) -> list:
    s, d = init["shim"], init["direct"]
    return [
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
