"""What a person sees: `shimimg build` on a cold cache in a real pseudo-terminal (pexpect), its
screen rendered by a terminal emulator (pyte) while it runs — live stage lines with elapsed
times, log lines above them and never inside, a table at the end — and the same build piped:
plain lines only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pyte

from support import EXAMPLE

LIVE = re.compile(r"\[1/1\] \./ +(resolve|compile|image)\S*.* +\d+\.\ds / \d+\.\ds")
COLS, ROWS = 160, 40


def env(tmp_path: Path) -> dict:
    out = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    out.update({"TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
                "SHIMIMG_CACHE_DIR": str(tmp_path / "cold-cache")})
    return out


def test_a_cold_build_on_a_terminal_shows_live_stages_then_a_table(tmp_path, standin, go_toolchain):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    # A change nobody built yet: the build compiles and builds an image, with time to watch it.
    src = work / "cmd" / "echo_env" / "main.go"
    src.write_text(src.read_text() + f"\n// {tmp_path.name}\n")
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    child = pexpect.spawn(sys.executable, ["-m", "shimimg", "build", "--base-image", standin], cwd=str(work),
                          env=env(tmp_path), dimensions=(ROWS, COLS), timeout=600)
    frames: list[list[str]] = []
    while True:
        try:
            data = child.read_nonblocking(65536, timeout=0.2)
        except pexpect.TIMEOUT:
            data = b""
        except pexpect.EOF:
            break
        stream.feed(data)
        frames.append([line.rstrip() for line in screen.display])
    child.close()
    assert child.exitstatus == 0, "\n".join(frames[-1])

    live = [line for frame in frames for line in frame if LIVE.search(line)]
    assert live, "a live line per package with its stage and elapsed times"
    assert {m.group(1) for m in map(LIVE.search, live)} >= {"compile", "image"}
    # Log lines sit above the live display, whole: none shares a line with a stage line.
    assert not [line for line in live if "shimimg:" in line or "warning:" in line]
    final = frames[-1]
    text = "\n".join(final)
    assert "warning: x86_64 → arm64" in text
    assert re.search(r"shimimg: \[1/1\] \./: shimimg/orders:\S+ built \(5 handler\(s\)", text)
    assert re.search(r"FUNCTION +HANDLER +IMAGE +BINARIES", text) and "template: .aws-sam/build/template.yaml" in text
    assert not [line for line in final if LIVE.search(line)], "the live display is gone at the end"


def test_the_same_build_piped_prints_plain_lines_only(tmp_path, standin, go_toolchain):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    src = work / "cmd" / "echo_env" / "main.go"
    src.write_text(src.read_text() + f"\n// {tmp_path.name} piped\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "shimimg", "build", "--base-image", standin], cwd=work,
                       env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 600
    assert "\x1b" not in r.stderr and "\r" not in r.stderr and "\x1b" not in r.stdout
    lines = r.stderr.splitlines()
    assert all(line.startswith(("shimimg: ", "warning: ")) for line in lines), lines
    for stage in ("resolve", "compile", "image"):
        assert any(re.fullmatch(rf"shimimg: \[1/1\] \./: {stage} done in \d+\.\ds", line) for line in lines), stage
    assert r.stdout.splitlines()[0].split() == ["FUNCTION", "HANDLER", "IMAGE", "BINARIES"]
