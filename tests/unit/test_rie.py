"""rie.py, rie_client.py and rie_output.py with the docker SDK faked and the emulator's HTTP side a
small local server (rie_fakes); /proc and /bin/sh are this machine's own."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time

import docker.errors
import pytest
from rie_fakes import RAPID, FakeContainer, crashed, fake_docker, ok, report_line  # noqa: F401 (the `fake` fixture)

from shimimg.errors import ShimimgError
from shimimg.localinvoke import rie
from shimimg.localinvoke.output import Invocation, Report, parse_report, rapid_text

LIFETIME_ENTRYPOINT = ["/bin/sh", "-c", rie._LIFETIME, "shimimg-lifetime"]


def spec(**kw) -> rie.Spec:
    base = dict(image="sha256:0a1b2c3d4e5f", platform="linux/arm64", function="EchoEnvFunction",
                command=("bin/echo_env",), environment={"A": "1"}, memory_mb=256, lifetime_s=300)
    return rie.Spec(**{**base, **kw})


# --- parsing what the emulator prints ---------------------------------------------------------------

def test_report_lines_parse_with_and_without_init_duration():
    assert parse_report(report_line("abc", 294.62, 2.58)) == Report("abc", 294.62, 295.0, 2.58, 256)
    warm = parse_report(report_line("def", 17.0))
    assert warm.init_ms is None and warm.duration_ms == 17.0
    assert parse_report("START RequestId: abc Version: $LATEST") is None
    assert parse_report("REPORT something else") is None


def _inv(body: bytes, status: int = 200, emulator: tuple[str, ...] = ()) -> Invocation:
    return Invocation(status, body, (), emulator, 0.1, None)


def test_an_error_document_is_a_function_error_and_a_result_with_more_keys_is_not():
    assert _inv(b'{"errorMessage":"payment declined","errorType":"PaymentDeclinedError"}').error == (
        "PaymentDeclinedError", "payment declined")
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
    report = parse_report(report_line("a", 300, 2.5))
    assert Invocation(200, b"{}", (), (RAPID + "INIT REPORT(durationMs: 216.444000)",), 0.3, report).init_ms == \
        pytest.approx(216.444)
    assert Invocation(200, b"{}", (), (), 0.3, report).init_ms == 2.5
    assert Invocation(200, b"{}", (), (), 0.3, parse_report(report_line("a", 17))).init_ms is None


def test_rapid_text_drops_timestamp_and_level():
    assert rapid_text(RAPID + "INIT START(type: on-demand, phase: init)") == "INIT START(type: on-demand, phase: init)"
    assert rapid_text("plain") == "plain"


# --- the container: as Lambda would run it, bounded in time, labelled ------------------------------------

def test_the_container_is_created_as_lambda_would_run_it_and_removed_after(fake):
    fake.answers = [ok({"TABLE_NAME": "orders-table"}, init=216.4, printed=("hello from the handler",)),
                    ok({"TABLE_NAME": "orders-table"}, duration=15.0)]
    before = time.time()
    with rie.running(spec()) as emu:
        first = emu.invoke(b'{"sleep_ms": 10}', timeout_s=5)
        second = emu.invoke(b"{}", timeout_s=5)
    kwargs = fake.container.kwargs
    assert kwargs["image"] == "sha256:0a1b2c3d4e5f" and kwargs["platform"] == "linux/arm64"
    # The base's entrypoint runs the handler, under the lifetime guard and docker's init.
    assert kwargs["init"] is True
    assert kwargs["entrypoint"] == LIFETIME_ENTRYPOINT
    assert kwargs["command"] == ["300", "/lambda-entrypoint.sh", "bin/echo_env"]
    assert fake.inspected == ["sha256:0a1b2c3d4e5f"]
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None)}
    assert kwargs["environment"] == {"A": "1"} and kwargs["mem_limit"] == "256m"
    assert "network" not in kwargs
    assert kwargs["name"].startswith("shimimg-invoke-echoenvfunction-")
    labels = kwargs["labels"]
    assert labels[rie.LABEL] == "1" and labels[f"{rie.LABEL}.function"] == "EchoEnvFunction"
    assert labels[rie.OWNER_LABEL] == rie.owner() != ""
    assert before + 300 - 1 <= float(labels[rie.EXPIRES_LABEL]) <= time.time() + 300 + 1
    assert fake.events == [b'{"sleep_ms": 10}', b"{}"]
    assert json.loads(first.body) == {"TABLE_NAME": "orders-table"}
    assert first.output[0].startswith("START RequestId:") and first.output[1] == "hello from the handler"
    assert first.init_ms == pytest.approx(216.4) and first.report.duration_ms == 12.5
    assert second.init_ms is None and second.report.duration_ms == 15.0
    assert second.output[0].startswith("START") and len(second.output) == 3
    assert fake.left_running() == [] and fake.closed


def test_direct_mode_runs_the_emulator_on_the_binary_under_the_guard(fake):
    fake.answers = [ok({})]
    direct = spec(command=(), entrypoint=(rie.RIE_BINARY, "/var/task/bin/echo_env"), port=18080)
    with rie.running(direct) as emu:
        emu.invoke(b"{}", timeout_s=5)
    kwargs = fake.container.kwargs
    assert kwargs["entrypoint"] == LIFETIME_ENTRYPOINT
    assert kwargs["command"] == ["300", "/usr/local/bin/aws-lambda-rie", "/var/task/bin/echo_env"]
    assert fake.inspected == []  # the image's own entrypoint does not matter then
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 18080)}


def test_a_network_and_a_debugger_port_reach_the_container(fake):
    fake.answers = [ok({})]
    with rie.running(spec(network="orders-net", extra_ports=(5858,))) as emu:
        emu.invoke(b"{}", timeout_s=5)
    kwargs = fake.container.kwargs
    assert kwargs["network"] == "orders-net"
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None), "5858/tcp": ("127.0.0.1", 5858)}


def test_a_missing_network_is_named(fake):
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec(network="nope-net")):
            pass
    assert e.value.message == "docker network 'nope-net' does not exist"
    assert "docker network create" in e.value.hint


def test_the_lifetime_guard_ends_the_main_process_in_place():
    # The guard as the container runs it (here under this machine's /bin/sh): the command keeps its
    # arguments and its pid (exec), and gets SIGTERM once the lifetime is over.
    inner = ["sh", "-c", 'echo "$$" "$@"; exec sleep 30', "inner", "a b", "c"]
    t0 = time.monotonic()
    proc = subprocess.Popen([*LIFETIME_ENTRYPOINT, "1", *inner], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=20)
    assert 0.9 <= time.monotonic() - t0 < 10
    assert proc.returncode == -15
    assert out == f"{proc.pid} a b c\n"


# --- stale containers ----------------------------------------------------------------------------------

def test_remove_stale_removes_containers_of_gone_owners_and_expired_ones_only(fake, caplog):
    boot, pidns, pid, start = rie.owner().split(":")
    gone = subprocess.Popen(["true"])
    gone.wait()
    later, past = str(int(time.time()) + 600), str(int(time.time()) - 5)
    fake.left_behind("owner-exited", {rie.OWNER_LABEL: f"{boot}:{pidns}:{gone.pid}:{start}", rie.EXPIRES_LABEL: later})
    fake.left_behind("pid-reused", {rie.OWNER_LABEL: f"{boot}:{pidns}:{pid}:{int(start) + 1}"})
    fake.left_behind("expired", {rie.OWNER_LABEL: rie.owner(), rie.EXPIRES_LABEL: past})
    fake.left_behind("live", {rie.OWNER_LABEL: rie.owner(), rie.EXPIRES_LABEL: later})
    # Whose process this /proc cannot see: only the expiry tells.
    fake.left_behind("other-machine", {rie.OWNER_LABEL: f"another-boot:{pidns}:{gone.pid}:1"})
    fake.left_behind("other-pid-namespace", {rie.OWNER_LABEL: f"{boot}:1:{gone.pid}:1", rie.EXPIRES_LABEL: later})
    fake.left_behind("no-owner", {rie.OWNER_LABEL: ""})
    fake.left_behind("odd-expiry", {rie.EXPIRES_LABEL: "soon"})
    fake.earlier.append(FakeContainer("not-ours", {}, 0, labels={rie.OWNER_LABEL: f"{boot}:{pidns}:{gone.pid}:1"}))
    with caplog.at_level(logging.INFO, logger="shimimg.localinvoke.rie"):
        removed = rie.remove_stale(fake)
    assert sorted(removed) == ["expired", "owner-exited", "pid-reused"]
    assert sorted(c.name for c in fake.earlier if not c.removed) == [
        "live", "no-owner", "not-ours", "odd-expiry", "other-machine", "other-pid-namespace"]
    assert "removed 3 invoke container(s) left by an earlier run" in caplog.text


def test_a_run_removes_stale_containers_first_and_survives_an_engine_that_cannot_list(fake):
    fake.left_behind("expired", {rie.EXPIRES_LABEL: str(int(time.time()) - 1)})
    fake.answers = [ok({})]
    with rie.running(spec()) as emu:
        assert [c.name for c in fake.earlier if not c.removed] == []
        emu.invoke(b"{}", timeout_s=5)
    fake.list_error = docker.errors.APIError("500 Server Error", explanation="listing failed")
    assert rie.remove_stale(fake) == []


# --- talking to the emulator ---------------------------------------------------------------------------

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


# --- failures: each one clear, none leaving a container ----------------------------------------------------

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
    assert e.value.message == "no linux/arm64 image sha256:0a1b2c3d4e5f in the local Docker engine"
    assert "shimimg build" in e.value.hint


def test_an_image_the_engine_cannot_inspect_is_a_clear_error(fake):
    fake.inspect_error = docker.errors.APIError("500 Server Error", explanation="context deadline exceeded")
    with pytest.raises(ShimimgError, match="docker could not inspect the image sha256:0a1b2c3d4e5f: context deadline"):
        with rie.running(spec()):
            pass
    assert fake.created == []


@pytest.mark.parametrize("explanation", [
    "driver failed programming external connectivity on endpoint x (abc): Error starting userland proxy: "
    "listen tcp4 127.0.0.1:{port}: bind: address already in use",
    "driver failed programming external connectivity on endpoint x (abc): Bind for 127.0.0.1:{port} failed: "
    "port is already allocated",
])
@pytest.mark.parametrize("port,flag", [(18080, "--port"), (5858, "--debug-port")])
def test_a_port_in_use_is_named_and_the_created_container_goes(fake, explanation, port, flag):
    fake.start_error = docker.errors.APIError("500 Server Error", explanation=explanation.format(port=port))
    with pytest.raises(ShimimgError) as e:
        with rie.running(spec(port=18080, extra_ports=(5858,))):
            pass
    assert e.value.message == f"port {port} on 127.0.0.1 is already in use"
    assert e.value.hint.startswith(f"pick another with {flag}")
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
    assert len(fake.created) == 1 and fake.left_running() == []


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
