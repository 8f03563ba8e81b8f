"""The outside world of ``shimimg.localinvoke.rie``, faked at its edges: the docker SDK client (containers,
images) and the emulator's HTTP side, a small local server speaking its formats.

The lines and bodies below were copied from the real emulator in the stand-in base
(tests/integration/test_invoke.py runs the real one).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import docker
import docker.errors
import pytest

from shimimg.localinvoke import rie
from shimimg.localinvoke.client import INVOKE_PATH

RAPID = "26 Nov 2026 18:35:24,122 [INFO] (rapid) "
IMAGE_ENTRYPOINT = ["/lambda-entrypoint.sh"]  # the base image's ENTRYPOINT

# One scripted answer: (status, body, container stdout lines, container stderr lines).
Answer = tuple[int, bytes, list[str], list[str]]


def report_line(request_id: str, duration: float, init: float | None = None) -> str:
    init_part = f"Init Duration: {init:.2f} ms\t" if init is not None else ""
    return (f"REPORT RequestId: {request_id}\t{init_part}Duration: {duration:.2f} ms\t"
            f"Billed Duration: {int(duration) + 1} ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t")


class FakeContainer:
    def __init__(self, name: str, kwargs: dict, port: int, labels: dict | None = None) -> None:
        self.name = name
        self.kwargs = kwargs
        self.labels = dict(labels if labels is not None else kwargs.get("labels") or {})
        self.port = port
        self.status = "created"
        self.attrs: dict = {"State": {"ExitCode": 0}}
        self.ports: dict = {}
        self.stdout = b""
        self.stderr = b""
        self.removed = False
        self.start_error: Exception | None = None
        self.exit_on_start: int | None = None

    def start(self) -> None:
        if self.start_error:
            raise self.start_error
        if self.exit_on_start is not None:
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = self.exit_on_start
            return
        self.status = "running"

    def reload(self) -> None:
        if self.status == "running":
            self.ports = {rie.RIE_PORT: [{"HostIp": "127.0.0.1", "HostPort": str(self.port)}]}

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        return (self.stdout if stdout else b"") + (self.stderr if stderr else b"")

    def remove(self, force: bool = False) -> None:
        assert force, "a running emulator must be removed with force"
        self.removed = True
        self.status = "removed"


class FakeContainers:
    def __init__(self, owner: FakeDocker) -> None:
        self.owner = owner

    def create(self, image: str, **kwargs) -> FakeContainer:
        if self.owner.image_missing:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        if kwargs.get("network") and kwargs["network"] not in self.owner.networks:
            raise docker.errors.NotFound(f"404 Client Error: network {kwargs['network']} not found")
        c = FakeContainer(kwargs["name"], {"image": image, **kwargs}, self.owner.port)
        c.start_error = self.owner.start_error
        c.exit_on_start = self.owner.exit_on_start
        c.stderr = self.owner.boot_stderr
        self.owner.created.append(c)
        return c

    def get(self, name: str) -> FakeContainer:
        for c in self.owner.created + self.owner.earlier:
            if c.name == name and not c.removed:
                return c
        raise docker.errors.NotFound(name)

    def list(self, all: bool = False, filters: dict | None = None) -> list[FakeContainer]:  # noqa: A002 - the SDK's name
        if self.owner.list_error:
            raise self.owner.list_error
        assert all, "stopped containers count too"
        label = (filters or {}).get("label")
        return [c for c in self.owner.earlier + self.owner.created
                if not c.removed and (label is None or label in c.labels)]


class FakeImages:
    def __init__(self, owner: FakeDocker) -> None:
        self.owner = owner

    def get(self, image: str) -> SimpleNamespace:
        self.owner.inspected.append(image)
        if self.owner.inspect_error:
            raise self.owner.inspect_error
        if self.owner.image_missing:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return SimpleNamespace(attrs={"Config": {"Entrypoint": IMAGE_ENTRYPOINT, "Cmd": None}})


class FakeDocker:
    """Stands in for ``docker.from_env()``'s client; answers come from a local HTTP server."""

    def __init__(self) -> None:
        self.created: list[FakeContainer] = []
        self.earlier: list[FakeContainer] = []  # containers an earlier run left behind
        self.containers = FakeContainers(self)
        self.images = FakeImages(self)
        self.inspected: list[str] = []
        self.networks = {"orders-net"}
        self.image_missing = False
        self.inspect_error: Exception | None = None
        self.list_error: Exception | None = None
        self.start_error: Exception | None = None
        self.exit_on_start: int | None = None
        self.boot_stderr = b""
        self.down = False
        self.closed = False
        self.answers: list[Callable[[bytes], Answer]] = []
        self.events: list[bytes] = []
        self.log_lag = 0.0  # seconds before an answer's log lines appear
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def ping(self) -> bool:
        if self.down:
            raise docker.errors.DockerException("Error while fetching server API version: connection refused")
        return True

    def close(self) -> None:
        self.closed = True

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def left_behind(self, name: str, labels: dict) -> FakeContainer:
        c = FakeContainer(name, {}, 0, labels={rie.LABEL: "1", **labels})
        c.status = "exited"
        self.earlier.append(c)
        return c

    @property
    def container(self) -> FakeContainer:
        assert len(self.created) == 1
        return self.created[0]

    def left_running(self) -> list[str]:
        return [c.name for c in self.created if not c.removed]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                assert self.path == INVOKE_PATH
                event = self.rfile.read(int(self.headers["Content-Length"]))
                fake.events.append(event)
                status, body, out, err = fake.answers.pop(0)(event)

                def write_logs():
                    c = fake.created[-1]
                    c.stdout += "".join(line + "\n" for line in out).encode()
                    c.stderr += "".join(line + "\n" for line in err).encode()

                if fake.log_lag:
                    threading.Timer(fake.log_lag, write_logs).start()
                else:
                    write_logs()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def ok(body: dict, *, init: float | None = None, printed: tuple[str, ...] = (), duration: float = 12.5):
    def answer(event: bytes) -> Answer:
        rid = f"req-{time.monotonic_ns()}"
        err = [RAPID + "INIT START(type: on-demand, phase: init)", RAPID + f"INIT REPORT(durationMs: {init:.6f})"] \
            if init is not None else []
        err.append(RAPID + f"INVOKE START(requestId: {rid})")
        out = [f"START RequestId: {rid} Version: $LATEST", *printed, f"END RequestId: {rid}",
               report_line(rid, duration, 3.1 if init is not None else None)]
        return 200, json.dumps(body).encode(), out, err
    return answer


def answer(status: int, body: bytes, printed: tuple[str, ...] = (), emulator: tuple[str, ...] = ()):
    def respond(event: bytes) -> Answer:
        out = ["START RequestId: r Version: $LATEST", *printed, "END RequestId: r",
               "REPORT RequestId: r\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\t"]
        return status, body, out, list(emulator)
    return respond


def crashed(event: bytes) -> Answer:
    return 502, b"", ["START RequestId: r1 Version: $LATEST", "shimimg bootstrap: handler 'bin/nope' not found"], [
        RAPID.replace("[INFO]", "[ERROR]") + "Init failed error=Runtime exited with error: exit status 1 InvokeID="
    ]


@pytest.fixture(name="fake")
def fake_docker(monkeypatch):
    client = FakeDocker()

    def from_env(*args, **kwargs):
        if client.down:
            raise docker.errors.DockerException(
                "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file'))"
            )
        return client

    monkeypatch.setattr(docker, "from_env", from_env)
    yield client
    client.shutdown()
