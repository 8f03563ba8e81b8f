"""rie.py with the docker SDK faked; the emulator's HTTP side is a small local server speaking its formats.

The lines and bodies below were copied from the real emulator in the stand-in base
(tests/integration/test_invoke.py runs the real one).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker
import docker.errors
import pytest

from shimimg import rie
from shimimg.errors import ShimimgError

RAPID = "26 Nov 2026 18:35:24,122 [INFO] (rapid) "


def report_line(request_id: str, duration: float, init: float | None = None) -> str:
    init_part = f"Init Duration: {init:.2f} ms\t" if init is not None else ""
    return (f"REPORT RequestId: {request_id}\t{init_part}Duration: {duration:.2f} ms\t"
            f"Billed Duration: {int(duration) + 1} ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t")


# One scripted answer: (status, body, container stdout lines, container stderr lines).
Answer = tuple[int, bytes, list[str], list[str]]


class FakeContainer:
    def __init__(self, name: str, kwargs: dict, port: int) -> None:
        self.name = name
        self.kwargs = kwargs
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
        c = FakeContainer(kwargs["name"], {"image": image, **kwargs}, self.owner.port)
        c.start_error = self.owner.start_error
        c.exit_on_start = self.owner.exit_on_start
        c.stderr = self.owner.boot_stderr
        self.owner.created.append(c)
        return c

    def get(self, name: str) -> FakeContainer:
        for c in self.owner.created:
            if c.name == name:
                return c
        raise docker.errors.NotFound(name)


class FakeDocker:
    """Stands in for ``docker.from_env()``'s client; answers come from a local HTTP server."""

    def __init__(self) -> None:
        self.created: list[FakeContainer] = []
        self.containers = FakeContainers(self)
        self.image_missing = False
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
                assert self.path == rie.INVOKE_PATH
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


def spec(**kw) -> rie.Spec:
    base = dict(image="shimimg/orders:latest", platform="linux/arm64", function="EchoEnvFunction",
                command=("bin/echo_env",), environment={"A": "1"}, memory_mb=256)
    return rie.Spec(**{**base, **kw})


# --- parsing what the emulator prints ---------------------------------------------------------------

def test_report_lines_parse_with_and_without_init_duration():
    first = rie.parse_report(report_line("abc", 294.62, 2.58))
    assert first == rie.Report("abc", 294.62, 295.0, 2.58, 256)
    warm = rie.parse_report(report_line("def", 17.0))
    assert warm.init_ms is None and warm.duration_ms == 17.0
    assert rie.parse_report("START RequestId: abc Version: $LATEST") is None
    assert rie.parse_report("REPORT something else") is None


def _inv(body: bytes, status: int = 200, emulator: tuple[str, ...] = (), output: tuple[str, ...] = ()):
    return rie.Invocation(status, body, output, emulator, 0.1, None)


def test_an_error_document_is_a_function_error_and_a_result_with_more_keys_is_not():
    err = _inv(b'{"errorMessage":"payment declined","errorType":"PaymentDeclinedError"}')
    assert err.error == ("PaymentDeclinedError", "payment declined")
    assert _inv(b'{"errorMessage":"x","errorType":"T","stackTrace":[]}').error == ("T", "x")
    assert _inv(b'{"errorMessage":"x","statusCode":200}').error is None
    assert _inv(b'{"statusCode":200}').error is None
    assert _inv(b"not json").error is None


def test_timeouts_are_recognised_in_both_shapes_and_not_from_a_trailing_log():
    assert _inv(b"Task timed out after 3.00 seconds").timed_out
    assert _inv(b'{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after 3.00 seconds"}').timed_out
    reset = (RAPID.replace("[INFO]", "[WARNING]") + "Reset initiated: Timeout",)
    assert _inv(b"", status=502, emulator=reset).timed_out
    # A real answer is never a timeout, even when the previous one's reset shows up in its log.
    assert not _inv(b'{"ok":true}', emulator=reset).timed_out
    assert not _inv(b'{"errorMessage":"Task timed out after 3.00 seconds","errorType":"MyError"}').timed_out


def test_init_comes_from_the_emulators_init_report_else_from_report():
    inv = rie.Invocation(200, b"{}", (report_line("a", 300, 2.5),), (RAPID + "INIT REPORT(durationMs: 216.444000)",),
                         0.3, rie.parse_report(report_line("a", 300, 2.5)))
    assert inv.init_ms == pytest.approx(216.444)
    inv = rie.Invocation(200, b"{}", (), (), 0.3, rie.parse_report(report_line("a", 300, 2.5)))
    assert inv.init_ms == 2.5
    inv = rie.Invocation(200, b"{}", (), (), 0.3, rie.parse_report(report_line("a", 17)))
    assert inv.init_ms is None


def test_rapid_text_drops_timestamp_and_level():
    line = RAPID + "INIT START(type: on-demand, phase: init)"
    assert rie.rapid_text(line) == "INIT START(type: on-demand, phase: init)"
    assert rie.rapid_text("plain") == "plain"


# --- the container's life ----------------------------------------------------------------------------

def test_the_container_is_created_as_lambda_would_run_it_and_removed_after(fake):
    fake.answers = [ok({"TABLE_NAME": "orders-table"}, init=216.4, printed=("hello from the handler",)),
                    ok({"TABLE_NAME": "orders-table"}, duration=15.0)]
    with rie.running(spec()) as emu:
        first = emu.invoke(b'{"sleep_ms": 10}', timeout_s=5)
        second = emu.invoke(b"{}", timeout_s=5)
    kwargs = fake.container.kwargs
    assert kwargs["image"] == "shimimg/orders:latest"
    assert kwargs["platform"] == "linux/arm64"
    assert kwargs["command"] == ["bin/echo_env"]
    assert "entrypoint" not in kwargs
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None)}
    assert kwargs["labels"][rie.LABEL] == "1"
    assert kwargs["environment"] == {"A": "1"}
    assert kwargs["mem_limit"] == "256m"
    assert kwargs["name"].startswith("shimimg-invoke-echoenvfunction-")
    assert fake.events == [b'{"sleep_ms": 10}', b"{}"]
    assert json.loads(first.body) == {"TABLE_NAME": "orders-table"}
    assert first.output[0].startswith("START RequestId:") and first.output[1] == "hello from the handler"
    assert first.init_ms == pytest.approx(216.4)
    assert first.report.duration_ms == 12.5
    assert second.init_ms is None and second.report.duration_ms == 15.0
    assert second.output[0].startswith("START") and len(second.output) == 3
    assert fake.left_running() == [] and fake.closed


def test_direct_mode_overrides_the_entrypoint(fake):
    fake.answers = [ok({})]
    with rie.running(spec(command=(), entrypoint=(rie.RIE_BINARY, "/var/task/bin/echo_env"), port=18080)) as emu:
        emu.invoke(b"{}", timeout_s=5)
    assert fake.container.kwargs["entrypoint"] == ["/usr/local/bin/aws-lambda-rie", "/var/task/bin/echo_env"]
    assert "command" not in fake.container.kwargs
    assert fake.container.kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 18080)}


def test_log_lines_that_trail_the_answer_are_still_collected(fake):
    fake.answers = [ok({}, printed=("late line",))]
    fake.log_lag = 0.3
    with rie.running(spec()) as emu:
        inv = emu.invoke(b"{}", timeout_s=5)
    assert "late line" in inv.output and inv.report is not None


def test_a_partial_line_waits_for_its_end(fake):
    with rie.running(spec()) as emu:
        fake.container.stdout = b"START RequestId: a Version: $LATEST\nhalf a li"
        assert emu._new_lines("stdout") == ["START RequestId: a Version: $LATEST"]
        fake.container.stdout += b"ne\n"
        assert emu._new_lines("stdout") == ["half a line"]


def test_a_crashed_runtime_answers_502_without_report_and_returns_promptly(fake):
    fake.answers = [crashed]
    with rie.running(spec()) as emu:
        t0 = time.monotonic()
        inv = emu.invoke(b"{}", timeout_s=5)
        assert time.monotonic() - t0 < 3
    assert inv.status == 502 and inv.report is None
    assert "shimimg bootstrap: handler 'bin/nope' not found" in inv.output
    assert fake.left_running() == []


def test_docker_down_is_a_clear_error(fake, monkeypatch):
    fake.down = True
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec()):
            pass
    assert "the Docker engine at unix:///nowhere.sock does not answer" in e.value.message
    assert "start the Docker daemon" in e.value.hint
    with pytest.raises(ShimimgError):
        rie.ping()
    assert fake.created == []


def test_a_missing_image_names_image_and_platform(fake):
    fake.image_missing = True
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec()):
            pass
    assert e.value.message == "no linux/arm64 image shimimg/orders:latest in the local Docker engine"
    assert "shimimg build" in e.value.hint


@pytest.mark.parametrize("explanation", [
    "driver failed programming external connectivity on endpoint x (abc): Error starting userland proxy: "
    "listen tcp4 127.0.0.1:18080: bind: address already in use",
    "driver failed programming external connectivity on endpoint x (abc): Bind for 127.0.0.1:18080 failed: "
    "port is already allocated",
])
def test_a_port_in_use_is_a_clear_error_and_the_created_container_goes(fake, explanation):
    fake.start_error = docker.errors.APIError("500 Server Error", explanation=explanation)
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec(port=18080)):
            pass
    assert e.value.message == "port 18080 on 127.0.0.1 is already in use"
    assert "--port" in e.value.hint
    assert fake.left_running() == []


def test_other_start_failures_say_what_docker_said(fake):
    fake.start_error = docker.errors.APIError("500 Server Error", explanation="no space left on device")
    with pytest.raises(ShimimgError, match="no space left on device"):
        with rie.running(spec()):
            pass
    assert fake.left_running() == []


def test_a_container_that_exits_before_answering_shows_its_output(fake):
    fake.exit_on_start = 142
    fake.boot_stderr = b"entrypoint requires the handler name to be the first argument\n"
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec(), ready_timeout_s=10):
            pass
    assert e.value.message == "the container exited (code 142) before the emulator answered"
    assert e.value.problems == ("entrypoint requires the handler name to be the first argument",)
    assert fake.left_running() == []


def test_an_emulator_that_never_answers_times_out_with_its_output(fake):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        fake.port = s.getsockname()[1]
    fake.boot_stderr = (RAPID + "exec '/var/runtime/bootstrap' (cwd=/var/task, handler=)\n").encode()
    t0 = time.monotonic()
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec(), ready_timeout_s=0.5):
            pass
    assert time.monotonic() - t0 < 5
    assert e.value.message == f"the emulator did not answer on 127.0.0.1:{fake.port} within 0.5 s"
    assert any("exec '/var/runtime/bootstrap'" in p for p in e.value.problems)
    assert fake.left_running() == []


def test_ctrl_c_while_running_still_removes_the_container(fake):
    with pytest.raises(KeyboardInterrupt):
        with rie.running(spec()):
            raise KeyboardInterrupt
    assert fake.left_running() == []


def test_interrupted_inside_create_the_container_is_found_by_name_and_removed(fake, monkeypatch):
    real_create = fake.containers.create

    def create_then_interrupt(image, **kwargs):
        real_create(image, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(fake.containers, "create", create_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with rie.running(spec()):
            pass
    assert len(fake.created) == 1 and fake.left_running() == []
