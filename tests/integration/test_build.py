"""`shimimg build` on the bundled example: real Go, real buildx, the stand-in base, linux/arm64."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_api import RuntimeAPI

from support import EXAMPLE

HANDLERS = ("create_order", "get_order", "process_orders", "fail_order", "echo_env")
SHIM = Path(__file__).resolve().parents[2] / "dockerfiles" / "shim" / "bootstrap"


def shimimg(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "shimimg", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    return dest


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory, standin, go_toolchain):
    work = copy_example(tmp_path_factory.mktemp("build") / "orders")
    r = shimimg("-v", "build", "--base-image", standin, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    return work, json.loads(r.stdout), r


def image_files(image: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)  # docker cp copies *as* dest when it does not exist
    cid = subprocess.run(
        ["docker", "create", "--platform", "linux/arm64", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        for src in ("/var/task/bin", "/var/runtime/bootstrap"):
            subprocess.run(["docker", "cp", f"{cid}:{src}", str(dest)], check=True, capture_output=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    return dest


def layers(image: str) -> list[str]:
    out = subprocess.run(
        ["docker", "image", "inspect", image, "--format", "{{json .RootFS.Layers}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_one_arm64_image_with_shim_and_norpc_static_binaries(built, tmp_path, go_toolchain):
    work, out, _ = built
    assert out["schema_version"] == 1 and out["command"] == "build"
    assert len(out["packages"]) == 1
    pkg = out["packages"][0]
    image = {"image": pkg["image"]["tag"], "functions": pkg["functions"], "arch": pkg["arch"]}
    assert image["arch"] == "arm64"
    assert sorted(f["handler"] for f in image["functions"]) == sorted(f"bin/{h}" for h in HANDLERS)
    inspect = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", image["image"]], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert inspect["Architecture"] == "arm64"
    assert inspect["Config"]["Labels"]["io.shimimg.handlers"] == ",".join(sorted(f"bin/{h}" for h in HANDLERS))
    files = image_files(image["image"], tmp_path)
    assert (files / "bootstrap").read_bytes() == SHIM.read_bytes()
    assert sorted(p.name for p in (files / "bin").iterdir()) == sorted(HANDLERS)
    for binary in (files / "bin").iterdir():
        head = binary.read_bytes()[:64]
        assert head[:4] == b"\x7fELF" and head[18] == 0xB7, f"{binary.name} is not aarch64"
        assert os.access(binary, os.X_OK)
        desc = subprocess.run(["file", str(binary)], capture_output=True, text=True).stdout
        assert "statically linked" in desc, desc
        info = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True).stdout
        assert "-tags=lambda.norpc" in info and "GOARCH=arm64" in info, info


def run_function(image: str, command: list[str], event, direct_entrypoint: str | None = None):
    api = RuntimeAPI()
    args = [
        "docker",
        "run",
        "-d",
        "--rm",
        "--platform",
        "linux/arm64",
        "--network",
        "host",
        "-e",
        f"AWS_LAMBDA_RUNTIME_API={api.address}",
    ]
    if direct_entrypoint:
        args += ["--entrypoint", direct_entrypoint]
    cid = subprocess.run([*args, image, *command], capture_output=True, text=True, check=True).stdout.strip()
    try:
        return api.invoke(event)
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        api.close()


def test_each_function_command_starts_its_own_binary(built):
    work, out, _ = built
    template = (work / out["output"]).read_text()
    events = work / "events"
    image = out["packages"][0]["image"]["tag"]
    for f in out["packages"][0]["functions"]:
        name = f["handler"].split("/")[-1]
        assert f"Command: [{f['handler']}]" in template or f"- {f['handler']}" in template
        kind, body = run_function(image, [f["handler"]], json.loads((events / f"{name}.json").read_text()))
        if name == "echo_env":
            assert kind == "response" and body["_HANDLER"] == "bin/echo_env"
            continue
        expected = json.loads((events / f"{name}.expected.json").read_text())
        if name == "fail_order":
            assert kind == "error"
            assert {k: body[k] for k in ("errorType", "errorMessage")} == expected
        else:
            assert (kind, body) == ("response", expected), name


def test_written_template_passes_cfn_lint(built):
    work, out, _ = built
    r = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "parseable", "--", str(work / out["output"])],
        capture_output=True,
        text=True,
    )
    errors = [line for line in r.stdout.splitlines() if ":E" in line]
    assert not errors, r.stdout


def test_rebuild_without_change_is_cached_and_runs_neither_go_nor_buildx(built, standin):
    work, first, _ = built
    r = shimimg("-v", "build", "--base-image", standin, "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["packages"][0]["image"]["cached"] is True
    assert again["packages"][0]["image"]["id"] == first["packages"][0]["image"]["id"]
    assert not re.search(r"^shimimg: \$ .*\bgo build\b", r.stderr, re.M), r.stderr
    assert "$ docker buildx build" not in r.stderr, r.stderr
    assert "cached, nothing changed" in r.stderr


def test_one_handler_change_changes_exactly_one_layer_even_at_the_same_size(built, standin, tmp_path):
    work, first, _ = built
    image = first["packages"][0]["image"]["tag"]
    before_layers = layers(image)
    before = image_files(image, tmp_path / "before")
    src = work / "cmd" / "get_order" / "main.go"
    text = src.read_text()
    assert '"order not found"' in text
    src.write_text(text.replace('"order not found"', '"order NOT FOUND"'))
    try:
        r = shimimg("-v", "build", "--base-image", standin, "--json", cwd=work)
        assert r.returncode == 0, r.stderr
        assert "compile (1 of 5 handler(s))" in r.stderr
        new_image = json.loads(r.stdout)["packages"][0]["image"]["tag"]
        # Local tags name the content: the old image keeps its tag, the new one has its own.
        assert new_image != image and layers(image) == before_layers
        image = new_image
        after_layers = layers(image)
        after = image_files(image, tmp_path / "after")
        assert (after / "bin" / "get_order").stat().st_size == (before / "bin" / "get_order").stat().st_size
        assert digest(after / "bin" / "get_order") != digest(before / "bin" / "get_order")
        changed = [i for i, (a, b) in enumerate(zip(before_layers, after_layers)) if a != b]
        assert len(before_layers) == len(after_layers) and len(changed) == 1, (before_layers, after_layers)
        kind, body = run_function(image, ["bin/get_order"], {"pathParameters": {"id": "missing"}})
        assert kind == "response" and "order NOT FOUND" in body["body"]
    finally:
        src.write_text(text)
