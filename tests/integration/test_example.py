"""The bundled example: its Go code vets and tests clean, and its old build chain makes the legacy zip."""

from __future__ import annotations

import shutil
import subprocess
import zipfile

from support import EXAMPLE


def test_go_vet_and_go_test(go_toolchain):
    subprocess.run(["go", "vet", "./..."], cwd=EXAMPLE, check=True)
    subprocess.run(["go", "test", "./..."], cwd=EXAMPLE, check=True, capture_output=True)


def test_old_build_chain_makes_legacy_amd64_zip(go_toolchain, tmp_path):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    subprocess.run(["make"], cwd=work, check=True, capture_output=True)
    with zipfile.ZipFile(work / "dist" / "orders.zip") as zf:
        names = sorted(zf.namelist())
        assert names == [f"bin/{n}" for n in ("create_order", "echo_env", "fail_order", "get_order", "process_orders")]
        for info in zf.infolist():
            assert (info.external_attr >> 16) & 0o111, f"{info.filename} lost its exec bit"
            head = zf.read(info)[:20]
            assert head[:4] == b"\x7fELF" and head[18] == 0x3E, f"{info.filename} is not x86-64"
    # go1.x binaries keep the RPC server: built without lambda.norpc.
    info = subprocess.run(["go", "version", "-m", str(work / "bin" / "get_order")], capture_output=True, text=True)
    assert "lambda.norpc" not in info.stdout
