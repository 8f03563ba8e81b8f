"""The SAM loop on shimimg's output (issue 20), with the real SAM CLI: a fresh default `shimimg build`
of the example (linux/arm64, emulated on this x86_64 machine), then a push, and then — with no
`shimimg invoke` before — `sam local invoke` of every Go function, `sam local start-api` (each
route by HTTP) and `sam local start-lambda` (boto3), all run from the example's folder without
`-t`: SAM finds `.aws-sam/build/template.yaml` itself, and the push did not overwrite it.

SAM's own race under emulation: `sam local` declares the container ready once docker's port proxy
accepts a TCP connection, then posts the event with three quick retries (~0.7 s in all); an
emulated emulator can start later than that, and SAM then logs "No response from invoke
container" and still exits 0 (aws-sam-cli issues #1404 and #632; measured here: 11 of 17 emulated
invokes answered, 6 of 6 native). SAM offers no setting for that wait
(SAM_CLI_CONTAINER_CONNECTION_TIMEOUT only bounds the TCP connect, which the proxy accepts at
once), so these tests run the request again when, and only when, SAM itself reported exactly that,
up to RETRIES times, and print how often it happened. Any other failure fails at once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

import pytest
from registry_fixtures import Registry, docker_config, free_port, registry_tools  # noqa: F401

from support import EXAMPLE, missing

SAM = Path(os.environ.get("SHIMIMG_SAM", "/opt/shimimg/sam-venv/bin/sam"))
RACE = "No response from invoke container"
RETRIES = 6
FUNCTIONS = {"create_order": "CreateOrderFunction", "get_order": "GetOrderFunction",
             "process_orders": "ProcessOrdersFunction", "fail_order": "FailOrderFunction",
             "echo_env": "EchoEnvFunction"}
EVENTS = EXAMPLE / "events"
races: list[str] = []


def sam_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIMIMG_"))}
    return {**env, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def loop(tmp_path_factory, standin, go_toolchain, registry_tools):  # noqa: F811
    if not SAM.is_file():
        missing("the SAM CLI", "scripts/provision.sh samcli")
    root = tmp_path_factory.mktemp("sam-loop")
    work = root / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bin", "dist", ".shimimg", ".aws-sam"))
    # Room for an emulated cold start beyond EchoEnvFunction's 3 s.
    t = work / "template.yaml"
    t.write_text(t.read_text().replace("Timeout: 3  ", "Timeout: 60 "))
    # A binary no earlier run built, in the first layer after the shim: every later layer's chain
    # is new to the engine too, as after a user's first build.
    main = work / "cmd" / "create_order" / "main.go"
    main.write_text(main.read_text().replace('"created order %s', f'"created order (build {uuid.uuid4().hex}) %s'))
    env = {**os.environ, "SHIMIMG_CACHE_DIR": str(root / "cache")}
    r = subprocess.run([sys.executable, "-m", "shimimg", "build", "--base-image", standin, "--json"], cwd=work,
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    built = work / ".aws-sam" / "build" / "template.yaml"
    assert (work / out["output"]).resolve() == built.resolve() and not out["packages"][0]["image"]["cached"]
    assert out["packages"][0]["functions"][0]["logical_id"] in FUNCTIONS.values()
    runnable = built.read_text()

    # A push in between: its pinned template goes elsewhere; the runnable one stays as it was.
    reg = Registry(root / "registry", {"ci": "loop-s3cret"}).start()
    try:
        config = docker_config(root / "docker", {reg.address: ("ci", "loop-s3cret")})
        r = subprocess.run([sys.executable, "-m", "shimimg", "push", "--base-image", standin, "--repository",
                            f"{reg.address}/team/orders", "--json"], cwd=work,
                           env={**env, "DOCKER_CONFIG": str(config)}, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
    finally:
        reg.stop()
    pinned = work / json.loads(r.stdout)["output"]
    assert pinned.resolve() == (work / ".shimimg" / "pinned" / "template.yaml").resolve()
    assert pinned.read_text().count(f"{reg.address}/team/orders@sha256:") == 5
    assert built.read_text() == runnable
    yield work
    if races:
        # In pytest's warnings summary: how often SAM's own race needed another try, never hidden.
        warnings.warn(f"SAM's race under emulation (aws-sam-cli #1404, #632) was retried {len(races)} time(s): "
                      f"{races}", stacklevel=1)


def sam_invoke(work: Path, function: str, event: Path) -> dict:
    for attempt in range(1, RETRIES + 1):
        r = subprocess.run([str(SAM), "local", "invoke", function, "-e", str(event), "-n", "env.json"], cwd=work,
                           env=sam_env(), capture_output=True, text=True, timeout=600)
        if RACE in r.stderr and not r.stdout.strip():
            races.append(f"invoke {function} #{attempt}")
            continue
        assert r.returncode == 0 and r.stdout.strip(), r.stderr[-3000:]
        return json.loads(r.stdout.strip().splitlines()[-1])
    pytest.fail(f"sam local invoke {function}: {RETRIES} times in a row SAM said {RACE!r}")


@pytest.mark.parametrize("handler", list(FUNCTIONS))
def test_sam_local_invoke_runs_every_function_of_a_fresh_build_without_t(loop, handler):
    answer = sam_invoke(loop, FUNCTIONS[handler], EVENTS / f"{handler}.json")
    assert answer == json.loads((EVENTS / f"{handler}.expected.json").read_text())


class Server:
    """A `sam local start-*` process on a free port, its log in a file (to see SAM's own reports)."""

    def __init__(self, work: Path, command: str, *extra: str) -> None:
        self.port = free_port()
        self.log = work.parent / f"{command}-{self.port}.log"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen([str(SAM), "local", command, "--port", str(self.port), "-n", "env.json", *extra],
                                     cwd=work, env=sam_env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.3)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self._log.close()

    def call(self, what: str, request) -> tuple[int, bytes]:
        """``request()`` → (status, body); again only when SAM logged its race for this call."""
        for attempt in range(1, RETRIES + 1):
            seen = self.text().count(RACE)
            status, body = request()
            if status < 500 or self.text().count(RACE) == seen:
                return status, body
            races.append(f"{what} #{attempt}")
        pytest.fail(f"{what}: {RETRIES} times in a row SAM said {RACE!r}:\n{self.text()[-3000:]}")


def http(method: str, url: str, body: bytes | None = None):
    def send() -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    return send


def test_sam_local_start_api_serves_each_route(loop):
    server = Server(loop, "start-api")
    try:
        order = json.loads((EVENTS / "create_order.json").read_text())["body"]
        status, body = server.call("POST /orders", http("POST", f"http://127.0.0.1:{server.port}/orders",
                                                         order.encode()))
        assert status == 201, (body, server.text()[-3000:])
        created = json.loads(body)
        assert created["id"].startswith("ord_") and created["customer_id"] == "cust-42"
        status, body = server.call("GET /orders/{id}",
                                   http("GET", f"http://127.0.0.1:{server.port}/orders/ord_3f9a1c7e2b64"))
        expected = json.loads((EVENTS / "get_order.expected.json").read_text())
        assert (status, json.loads(body)) == (200, json.loads(expected["body"])), server.text()[-3000:]
    finally:
        server.stop()


def test_sam_local_start_lambda_answers_boto3(loop):
    import boto3
    from botocore.config import Config

    server = Server(loop, "start-lambda")
    try:
        client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{server.port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(read_timeout=300, retries={"max_attempts": 0}))
        for handler in ("echo_env", "fail_order"):
            event = (EVENTS / f"{handler}.json").read_bytes()

            def invoke(handler=handler, event=event) -> tuple[int, bytes]:
                resp = client.invoke(FunctionName=FUNCTIONS[handler], Payload=event)
                payload = resp["Payload"].read()
                # SAM answers its race with 200 and an empty payload: treat that as its 5xx.
                return (resp["StatusCode"] if payload.strip() else 502), payload

            status, payload = server.call(f"start-lambda {FUNCTIONS[handler]}", invoke)
            assert status == 200, server.text()[-3000:]
            assert json.loads(payload) == json.loads((EVENTS / f"{handler}.expected.json").read_text())
    finally:
        server.stop()


def test_a_migrated_template_fails_in_sam_local_naming_shimimg_build_not_a_pull(loop):
    r = subprocess.run([sys.executable, "-m", "shimimg", "migrate"], cwd=loop, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    migrated = loop / ".shimimg" / "migrated" / "template.yaml"
    r = subprocess.run([str(SAM), "local", "invoke", "EchoEnvFunction", "-t", str(migrated), "-e",
                        str(EVENTS / "echo_env.json")], cwd=loop, env=sam_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode != 0 and not r.stdout.strip()
    assert 'failed to resolve reference "shimimg.invalid/run-shimimg-build-first/' in r.stderr, r.stderr
    assert "docker.io" not in r.stderr and "registry-1.docker.io" not in r.stderr
