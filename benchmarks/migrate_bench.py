#!/usr/bin/env python3
"""Time the template engine on a large template: load + discover + render, in process and via the CLI.

    .venv/bin/python benchmarks/migrate_bench.py [--functions 1000] [--runs 7] [--template PATH]

The template comes from examples/generate.py (--template-only), or from a generator here when that
script is missing. Target: at most 1 s for 1000 functions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "examples" / "generate.py"


def generate(out_dir: Path, functions: int) -> Path:
    if GENERATOR.is_file():
        subprocess.run([sys.executable, str(GENERATOR), str(out_dir), "--template-only", "--functions", str(functions)],
                       check=True, stdout=subprocess.DEVNULL)
        return out_dir / "template.yaml"
    path = out_dir / "template.yaml"
    path.write_text(_fallback_template(functions))
    return path


def _fallback_template(functions: int) -> str:
    lines = ["AWSTemplateFormatVersion: '2010-09-09'", "Transform: AWS::Serverless-2016-10-31",
             "Globals:", "  Function:", "    Runtime: go1.x   # every Go function", "    CodeUri: ./",
             "    Timeout: 10", "Resources:"]
    for i in range(functions):
        lines += [f"  Fn{i:04d}Function:", "    Type: AWS::Serverless::Function", "    Properties:",
                  f"      Handler: bin/fn{i:04d}", "      Environment:", "        Variables:",
                  "          STAGE: !Ref AWS::StackName", f"          NAME: !Sub 'fn-{i}-${{AWS::Region}}'"]
    return "\n".join(lines) + "\n"


def in_process(template: Path, runs: int) -> dict[str, list[float]]:
    from shimimg.commands.migrate import default_output
    from shimimg.template import discover, load_document, render_migrated

    times: dict[str, list[float]] = {"load": [], "discover": [], "render": [], "total": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        doc = load_document(template)
        t1 = time.perf_counter()
        plan = discover(doc)
        t2 = time.perf_counter()
        render_migrated(doc, plan, output_path=default_output(template))
        t3 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            times[key].append(value)
    return times


def via_cli(template: Path, runs: int) -> list[float]:
    cmd = [sys.executable, "-m", "shimimg", "migrate", "-t", str(template), "--check"]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - t0)
        if rc not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} failed with exit {rc}")
    return times


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s  min {min(values):.3f} s  max {max(values):.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7, help="at least 5")
    parser.add_argument("--template", type=Path, help="time this template instead of a generated one")
    args = parser.parse_args(argv)
    runs = max(args.runs, 5)
    with tempfile.TemporaryDirectory(prefix="shimimg-bench-") as tmp:
        template = args.template or generate(Path(tmp), args.functions)
        text = template.read_text()
        print(f"template: {template} ({text.count('Type: AWS::Serverless::Function')} SAM functions, "
              f"{text.count(chr(10))} lines, {len(text.encode()) // 1024} KiB)")
        times = in_process(template, runs)
        print(f"in process, load+discover+render ({runs} runs): {summary(times['total'])}")
        print("  medians: " + ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in times.items() if k != "total"))
        print(f"CLI `shimimg migrate --check` wall time ({runs} runs): {summary(via_cli(template, runs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
