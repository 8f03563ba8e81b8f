"""Bounded resources: a zip bomb is cut off at the size cap, in bounded memory and disk, leaving
nothing behind; a CodeUri that does not exist is named, not silently built around."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import copy_example, refused, shimimg

MIB = 1024 * 1024


def make_bomb(path: Path, gib: int) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo("bin/x")
        info.create_system = 3
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(b"\x7fELF\x02\x01\x01" + b"\0" * (MIB - 7))
            zero = b"\0" * (16 * MIB)
            for _ in range(gib * 64 - 1):
                f.write(zero)


def test_a_zip_bomb_is_cut_off_in_bounded_memory_and_disk(tmp_path, standin):
    work = tmp_path / "bomb"
    work.mkdir()
    make_bomb(work / "functions.zip", 3)
    assert (work / "functions.zip").stat().st_size < 6 * MIB
    (work / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  X:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: go1.x, Handler: bin/x, CodeUri: functions.zip}\n")
    cache = tmp_path / "cache"
    cmd = ["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "shimimg", "build", "--base-image", standin,
           "--cache-dir", str(cache), "--max-binary-size", "64"]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    refused(r, "bin/x in", "larger than 64 MiB", "--max-binary-size")
    rss_kb = int(r.stderr.rsplit("maxrss_kb=", 1)[1].split()[0])
    assert rss_kb < 200_000, f"{rss_kb} kB resident"
    left = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    assert left < MIB, f"{left} bytes left in the cache"
    assert not list((cache / "projects").glob("*/tmp/*")), "scratch space left behind"


def test_the_default_cap_stops_a_3_gib_entry(tmp_path, standin):
    work = tmp_path / "bomb"
    work.mkdir()
    make_bomb(work / "functions.zip", 3)
    (work / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  X:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: go1.x, Handler: bin/x, CodeUri: functions.zip}\n")
    r = shimimg("build", "--base-image", standin, cwd=work, timeout=120)
    refused(r, "larger than 512 MiB")


def test_a_codeuri_that_does_not_exist_inside_a_module_is_named(tmp_path, standin):
    work = copy_example(tmp_path / "orders")
    t = work / "template.yaml"
    t.write_text(t.read_text().replace("CodeUri: ./ ", "CodeUri: ./servics/orders/ "))
    plan = shimimg("plan", cwd=work)
    assert "CodeUri ./servics/orders/ does not exist" in plan.stderr
    # Nothing maps its handlers to existing mains: the handlers' cmd/<name> are below the module
    # root, so they are found there, and the warning says so.
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert "warning: CodeUri ./servics/orders/ does not exist" in r.stderr
    assert r.returncode == 0, r.stderr
    # Mains named like the binaries elsewhere serve it too (the Makefile's folder need not exist),
    # and the warning still names the missing CodeUri.
    os.rename(work / "cmd", work / "commands")
    r = shimimg("build", "--base-image", standin, cwd=work)
    assert r.returncode == 0 and "warning: CodeUri ./servics/orders/ does not exist" in r.stderr, r.stderr
    os.rename(work / "commands" / "create_order", work / "commands" / "create")
    r = shimimg("build", "--base-image", standin, cwd=work)
    refused(r, "./servics/orders/: bin/create_order (CreateOrderFunction): no main package for it")
    assert '"bin/create_order" = "./path/to/create_order"' in r.stderr
