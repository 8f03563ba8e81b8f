"""`shimimg invoke` on the bundled example: real images on the stand-in base, the real RIE, arm64 under qemu.

Each mode builds once per session, in its own copy of the example (so its own image tag):
``shimimg.toml`` in the copy picks the stand-in base and the mode, so the command lines below are
what a user types. Most cases run in-process (``shimimg.cli.main``); those that need a real
process (stdin, Docker down, Ctrl-C) run ``python -m shimimg``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shimimg import config
from shimimg.cli import main
from shimimg.commands.build import build_images
from shimimg.localinvoke import rie
from support import EXAMPLE

EVENTS = EXAMPLE / "events"
ENV_JSON = str(EXAMPLE / "env.json")
FUNCTIONS = {
    "create_order": "CreateOrderFunction",
    "get_order": "GetOrderFunction",
    "process_orders": "ProcessOrdersFunction",
    "fail_order": "FailOrderFunction",
    "echo_env": "EchoEnvFunction",
}


@dataclass(frozen=True)
class Example:
    template: Path
    image: str  # the tag shimimg build gave the package


def _copy(dest: Path, standin: str, direct: bool) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    (dest / "shimimg.toml").write_text(f'base_image = "{standin}"\ndirect = {"true" if direct else "false"}\n')
    return dest / "template.yaml"


def _build(tmp_path_factory, standin: str, mode: str) -> Example:
    template = _copy(tmp_path_factory.mktemp("invoke") / f"shimimg-invoke-{mode}", standin, mode == "direct")
    _, result = build_images(template, config.load(template.parent, {}))
    (image,) = result.images
    return Example(template, image.tag)


@pytest.fixture(scope="session")
def shim_example(tmp_path_factory, standin, go_toolchain, docker_client):
    example = _build(tmp_path_factory, standin, "shim")
    yield example
    docker_client.images.remove(example.image, force=True)


@pytest.fixture(scope="session")
def direct_example(tmp_path_factory, standin, go_toolchain, docker_client):
    example = _build(tmp_path_factory, standin, "direct")
    yield example
    docker_client.images.remove(example.image, force=True)


@pytest.fixture
def example(request):
    return request.getfixturevalue(f"{request.param}_example")


def _invoke_containers(client, pid: int | None = None) -> set[str]:
    """Invoke containers on the engine; with ``pid``, only those that process created (its owner
    label), so another process invoking on a shared engine (a CI runner's) is not counted."""
    found = client.containers.list(all=True, filters={"label": f"{rie.LABEL}=1"})
    if pid is None:
        return {c.id for c in found}
    return {c.id for c in found if _owner_pid(c) == pid}


def _owner_pid(container) -> int | None:
    parts = (container.labels or {}).get(rie.OWNER_LABEL, "").split(":")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


@pytest.fixture(autouse=True)
def no_container_left(docker_client):
    # In-process invokes (main()) label their containers with this process's pid.
    before = _invoke_containers(docker_client, os.getpid())
    yield
    left = _invoke_containers(docker_client, os.getpid()) - before
    assert not left, f"invoke left containers behind: {left}"


def invoke(capsys, example: Example, *args: str) -> tuple[int, str, str]:
    rc = main(["invoke", *args, "-t", str(example.template)])
    out, err = capsys.readouterr()
    return rc, out, err


def shimimg_process(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "shimimg", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# --- answers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["shim", "direct"], indirect=True)
@pytest.mark.parametrize("handler", list(FUNCTIONS))
def test_every_handler_answers_its_sample_event(capsys, example, handler):
    rc, out, err = invoke(
        capsys, example, FUNCTIONS[handler], "-e", str(EVENTS / f"{handler}.json"), "--env-vars", ENV_JSON
    )
    expected = json.loads((EVENTS / f"{handler}.expected.json").read_text())
    if handler == "echo_env" and "direct" in example.template.parent.name:
        # Direct mode has no /lambda-entrypoint.sh in the path, and nothing else sets _HANDLER.
        expected["_HANDLER"] = None
    assert json.loads(out) == expected, err
    assert "START RequestId:" in err and "REPORT RequestId:" in err
    if handler == "fail_order":
        assert rc == 1
        assert (
            "error: FailOrderFunction failed: PaymentDeclinedError: payment declined for order ord_a6a11ca35500"
        ) in err
        assert "charging 30.97 USD for order ord_a6a11ca35500 via card" in err  # the function's own log
    else:
        assert rc == 0, err
    if handler == "process_orders":
        assert "message=2e1424d4-f796-459a-8184-9c92662be6da status=rejected" in err


def test_a_handler_that_sleeps_past_its_timeout_gets_the_timeout_message(capsys, shim_example, tmp_path):
    event = tmp_path / "sleep.json"
    event.write_text('{"sleep_ms": 4500}')  # EchoEnvFunction has Timeout: 3
    rc, out, err = invoke(capsys, shim_example, "EchoEnvFunction", "-e", str(event))
    assert rc == 1
    assert out == ""
    assert (
        "error: EchoEnvFunction timed out: the emulator stopped it after its Timeout of 3 s "
        "(Task timed out after 3.00 seconds)"
    ) in err


def test_the_templates_environment_reaches_the_function(capsys, shim_example, tmp_path, monkeypatch):
    overrides = tmp_path / "env.json"
    overrides.write_text(
        json.dumps(
            {
                "Parameters": {"STAGE": "from-parameters", "NOT_DECLARED": "x"},
                "EchoEnvFunction": {"QUEUE_URL": "https://queue.example/orders"},
            }
        )
    )
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    rc, out, err = invoke(capsys, shim_example, "EchoEnvFunction", "--env-vars", str(overrides))
    assert rc == 0, err
    assert json.loads(out) == {
        "TABLE_NAME": "orders-table",  # a literal in the template
        "STAGE": "from-parameters",  # !Ref Stage, given for every function
        "QUEUE_URL": "https://queue.example/orders",  # !Ref OrdersQueue, given for this function
        "AWS_LAMBDA_FUNCTION_NAME": "EchoEnvFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",  # Globals MemorySize
        "AWS_REGION": "eu-west-1",
        "_HANDLER": "bin/echo_env",
    }
    # QUEUE_ARN (!GetAtt) and API_URL (!Sub) get sam local invoke's placeholders: nothing to warn about.
    assert "come from intrinsics" not in err


def test_repeat_runs_on_one_container_cold_then_warm(capsys, shim_example):
    rc, out, err = invoke(capsys, shim_example, "EchoEnvFunction", "--repeat", "3", "--no-build")
    assert rc == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 3
    # Without --env-vars the intrinsics resolve as sam local invoke resolves them: the parameter's
    # Default, and a resource's logical id.
    assert all(a["STAGE"] == "dev" and a["QUEUE_URL"] == "OrdersQueue" for a in answers)
    assert err.count("START RequestId:") == 3 and err.count("Init Duration:") == 1
    rows = [line.split() for line in err.splitlines() if line.startswith("#") and line.endswith("ms")]
    assert [r[:2] for r in rows] == [["#1", "cold"], ["#2", "warm"], ["#3", "warm"]]
    assert "warm median" in err


def test_stdin_event_and_no_build_through_the_real_command(shim_example):
    p = shimimg_process(
        "invoke", "GetOrderFunction", "-t", str(shim_example.template), "-e", "-", "--no-build", stdin=subprocess.PIPE
    )
    out, err = p.communicate((EVENTS / "get_order.json").read_text(), timeout=180)
    assert p.returncode == 0, err
    assert json.loads(out) == json.loads((EVENTS / "get_order.expected.json").read_text())


# --- refusals: a clear message, and no container left (the autouse fixture asserts it) -----------------


def test_an_unknown_function_lists_the_known_ones(capsys, shim_example):
    rc, out, err = invoke(capsys, shim_example, "EchoEnv")
    assert rc == 1 and out == ""
    assert "error: no function 'EchoEnv' in" in err
    for logical_id in FUNCTIONS.values():
        assert f"  - {logical_id} (bin/" in err
    assert "hint: did you mean EchoEnvFunction?" in err


def test_an_event_file_that_is_not_json(capsys, shim_example, tmp_path):
    event = tmp_path / "event.json"
    event.write_text("order_id=ord_1")
    rc, _, err = invoke(capsys, shim_example, "GetOrderFunction", "-e", str(event))
    assert rc == 1
    assert f"error: {event} is not JSON: Expecting value: line 1 column 1 (char 0)" in err


def test_docker_down(shim_example, tmp_path):
    p = shimimg_process(
        "invoke",
        "GetOrderFunction",
        "-t",
        str(shim_example.template),
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"},
    )
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert f"error: the Docker engine at unix://{tmp_path}/no-docker.sock does not answer" in err
    assert "hint: start the Docker daemon" in err


def test_an_image_missing_with_no_build(capsys, standin, docker_client, tmp_path):
    never_built = Example(
        _copy(tmp_path / "shimimg-invoke-never-built", standin, False), "shimimg/shimimg-invoke-never-built:latest"
    )
    assert not docker_client.images.list(name=never_built.image)
    rc, _, err = invoke(capsys, never_built, "GetOrderFunction", "--no-build")
    assert rc == 1
    assert "error: package ./ has not been built on this machine" in err and "drop --no-build" in err
    # Built, then the image removed behind shimimg's back: the recorded image is looked up by ID.
    # (Its own handler text gives it its own image: the others' stay.)
    src = never_built.template.parent / "cmd" / "get_order" / "main.go"
    src.write_text(src.read_text().replace('"order not found"', '"order not found (never-built copy)"'))
    rc, _, err = invoke(capsys, never_built, "GetOrderFunction", "-e", str(EVENTS / "get_order.json"))
    assert rc == 0, err
    for img in docker_client.images.list(name="shimimg/shimimg-invoke-never-built"):
        docker_client.images.remove(img.id, force=True)
    rc, _, err = invoke(capsys, never_built, "GetOrderFunction", "--no-build")
    assert rc == 1
    assert re.search(r"error: no linux/arm64 image sha256:[0-9a-f]{64} in the local Docker engine", err), err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_held_by_another_program(capsys, shim_example):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        rc, _, err = invoke(capsys, shim_example, "GetOrderFunction", "--port", str(port), "--no-build")
    assert rc == 1
    assert f"error: port {port} on 127.0.0.1 is already in use" in err


def test_a_port_held_by_another_container(capsys, shim_example, monkeypatch):
    # Ryuk, testcontainers' reaper, comes from Docker Hub: unreachable here, and not needed.
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    port = _free_port()
    holder = (
        DockerContainer(shim_example.image)
        .with_command("bin/get_order")
        .with_bind_ports(8080, port)
        .with_kwargs(platform="linux/arm64")
    )
    with holder:
        rc, _, err = invoke(capsys, shim_example, "GetOrderFunction", "--port", str(port), "--no-build")
        assert holder.get_wrapped_container().status in ("created", "running")
    assert rc == 1
    assert f"error: port {port} on 127.0.0.1 is already in use" in err


def test_a_given_free_port_is_used(capsys, shim_example):
    port = _free_port()
    rc = main(["-v", "invoke", "GetOrderFunction", "-t", str(shim_example.template), "--port", str(port), "--no-build"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"emulator answers on 127.0.0.1:{port}" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_mid_invocation_the_container_goes(shim_example, docker_client, tmp_path, sig):
    event = tmp_path / "sleep.json"
    event.write_text('{"sleep_ms": 2500}')
    p = shimimg_process("invoke", "EchoEnvFunction", "-t", str(shim_example.template), "-e", str(event), "--no-build")
    try:
        deadline = time.monotonic() + 120
        while True:  # interrupt once the function is running
            mine = _invoke_containers(docker_client, p.pid)
            if mine and b"START RequestId" in docker_client.containers.get(next(iter(mine))).logs():
                break
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.1)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    # 128 + the signal's number, with one line saying so.
    assert p.returncode == (130 if sig == signal.SIGINT else 143), err
    assert err.rstrip().splitlines()[-1].startswith("interrupted")


def test_invokes_on_an_engine_another_process_invokes_on(shim_example, docker_client, capsys, tmp_path):
    """A CI runner's engine is often shared: another process's invoke containers come and go
    while these run, and the leftover check (the autouse fixture) counts only this process's."""
    event = tmp_path / "sleep.json"
    event.write_text('{"sleep_ms": 1500}')
    script = ("import subprocess, sys\n"
              "for _ in range(8):\n"
              "    subprocess.run([sys.executable, '-m', 'shimimg', 'invoke', 'EchoEnvFunction', '-t', sys.argv[1],\n"
              "                    '-e', sys.argv[2], '--no-build'], capture_output=True, timeout=300)\n")
    other = subprocess.Popen([sys.executable, "-c", script, str(shim_example.template), str(event)])
    seen_other = False
    try:
        for _ in range(4):
            rc, out, err = invoke(capsys, shim_example, "EchoEnvFunction", "--no-build")
            assert rc == 0, err
            theirs = _invoke_containers(docker_client) - _invoke_containers(docker_client, os.getpid())
            seen_other = seen_other or bool(theirs)
            if seen_other:
                break
            time.sleep(0.5)
    finally:
        other.kill()
        other.wait()
        # Its last container goes with its owner: the next invoke (or its lifetime) removes it.
        rie.remove_stale(docker_client)
    assert seen_other, "the other process never had an invoke container up: the test proved nothing"
