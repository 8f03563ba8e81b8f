"""``shimimg invoke`` end to end on the example template, with only the docker SDK faked (see test_rie)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_rie import RAPID, crashed, fake_docker, ok  # noqa: F401  (fake_docker: the `fake` fixture)

from shimimg.cli import main
from shimimg.commands import invoke
from shimimg.errors import ShimimgError
from shimimg.plan import Function, Package, Plan, Skipped
from support import EXAMPLE

TEMPLATE = str(EXAMPLE / "template.yaml")
EVENTS = EXAMPLE / "events"


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["invoke", *args, "-t", TEMPLATE, "--no-build"])
    out, err = capsys.readouterr()
    return rc, out, err


def answer(status: int, body: bytes, printed: tuple[str, ...] = (), emulator: tuple[str, ...] = ()):
    def respond(event: bytes):
        out = ["START RequestId: r Version: $LATEST", *printed, "END RequestId: r",
               "REPORT RequestId: r\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\t"]
        return status, body, out, list(emulator)
    return respond


# --- pieces ---------------------------------------------------------------------------------------

def test_no_event_is_an_empty_object_and_dash_reads_stdin(tmp_path):
    assert invoke.read_event(None) == b"{}"
    assert invoke.read_event("-", stdin=io.BytesIO(b'{"a": 1}')) == b'{"a": 1}'
    (tmp_path / "e.json").write_bytes(b' {"id": 7}\n')
    assert invoke.read_event(str(tmp_path / "e.json")) == b' {"id": 7}\n'  # passed on as written


def test_an_event_that_is_not_json_is_refused(tmp_path):
    (tmp_path / "e.json").write_text("id=7")
    with pytest.raises(ShimimgError) as e:
        invoke.read_event(str(tmp_path / "e.json"))
    assert e.value.message.startswith(f"{tmp_path / 'e.json'} is not JSON: Expecting value")
    with pytest.raises(ShimimgError, match="the event on stdin is not JSON"):
        invoke.read_event("-", stdin=io.BytesIO(b""))
    with pytest.raises(ShimimgError, match="cannot read the event file"):
        invoke.read_event(str(tmp_path / "missing.json"))


def _plan() -> Plan:
    fns = (Function("GetOrderFunction", "AWS::Serverless::Function", "bin/get_order", "go1.x"),
           Function("EchoEnvFunction", "AWS::Serverless::Function", "./bin/echo_env", "go1.x", 256, 3))
    pkg = Package("./", Path("/src/orders"), "dir", "shimimg/orders:latest", "arm64", fns)
    return Plan(Path("/src/template.yaml"), (pkg,), (Skipped("OddFunction", "Handler is not a path"),),
                ("ReportFunction",))


def test_an_unknown_function_lists_the_known_ones_and_suggests_the_closest():
    with pytest.raises(ShimimgError) as e:
        invoke.find_function(_plan(), "EchoEnv")
    assert e.value.message == "no function 'EchoEnv' in /src/template.yaml; the functions shimimg can run are:"
    assert e.value.problems == ("GetOrderFunction (bin/get_order)", "EchoEnvFunction (./bin/echo_env)")
    assert e.value.hint == "did you mean EchoEnvFunction?"


def test_a_function_shimimg_leaves_alone_or_cannot_build_says_so():
    with pytest.raises(ShimimgError, match="ReportFunction in /src/template.yaml is not a Go function shimimg moves"):
        invoke.find_function(_plan(), "ReportFunction")
    with pytest.raises(ShimimgError, match="OddFunction cannot be built: Handler is not a path"):
        invoke.find_function(_plan(), "OddFunction")


def test_shim_runs_the_handler_as_command_and_direct_the_binary_under_the_emulator():
    pkg = _plan().packages[0]
    fn = pkg.functions[1]
    shim = invoke.container_spec(pkg, fn, image="sha256:abc", direct=False, environment={}, port=None)
    assert shim.command == ("./bin/echo_env",) and shim.entrypoint == ()
    assert shim.platform == "linux/arm64" and shim.memory_mb == 256 and shim.image == "sha256:abc"
    direct = invoke.container_spec(pkg, fn, image="sha256:abc", direct=True, environment={}, port=9000)
    assert direct.entrypoint == ("/usr/local/bin/aws-lambda-rie", "/var/task/bin/echo_env")
    assert direct.command == () and direct.port == 9000
    x86 = invoke.container_spec(
        Package("./", Path("/src"), "dir", "i", "x86_64", ()), pkg.functions[0], image="i", direct=False,
        environment={}, port=None,
    )
    assert x86.platform == "linux/amd64" and x86.memory_mb == 128


# --- the command, with the docker SDK faked -------------------------------------------------------------

def test_the_response_goes_to_stdout_and_the_log_to_stderr(fake, capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    fake.answers = [ok({"TABLE_NAME": "orders-table"}, init=200.0, printed=("handler says hi",))]
    rc, out, err = run(capsys, "EchoEnvFunction", "-e", str(EVENTS / "echo_env.json"),
                       "--env-vars", str(EXAMPLE / "env.json"))
    assert rc == 0
    assert json.loads(out) == {"TABLE_NAME": "orders-table"}
    assert "handler says hi" in err and "START RequestId:" in err and "REPORT RequestId:" in err
    assert fake.events == [(EVENTS / "echo_env.json").read_bytes()]
    kwargs = fake.container.kwargs
    assert kwargs["image"] == "shimimg/orders:latest"  # --no-build runs the tag as it is
    assert kwargs["command"] == ["bin/echo_env"] and kwargs["platform"] == "linux/arm64"
    assert kwargs["mem_limit"] == "256m"
    env = kwargs["environment"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "EchoEnvFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "3"
    assert env["AWS_REGION"] == "eu-central-1"
    assert env["TABLE_NAME"] == "orders-table" and env["STAGE"] == "dev"
    assert env["AWS_ACCESS_KEY_ID"] == "shimimg-local-dummy"
    # The two intrinsics env.json does not cover are named, with the fix.
    assert "QUEUE_ARN and API_URL come from intrinsics" in err
    assert '{"EchoEnvFunction": {"QUEUE_ARN": "...", "API_URL": "..."}}' in err
    assert fake.left_running() == []


def test_direct_mode_from_the_command_line(fake, capsys):
    fake.answers = [ok({})]
    rc, _, err = run(capsys, "GetOrderFunction", "--direct")
    assert rc == 0
    assert fake.container.kwargs["entrypoint"] == ["/usr/local/bin/aws-lambda-rie", "/var/task/bin/get_order"]
    assert "entrypoint ['/usr/local/bin/aws-lambda-rie', '/var/task/bin/get_order']" in err


def test_a_function_error_exits_1_showing_type_and_message(fake, capsys):
    body = b'{"errorMessage":"payment declined for order ord_a6a11ca35500","errorType":"PaymentDeclinedError"}'
    fake.answers = [answer(200, body, printed=("charging 30.97 USD",))]
    rc, out, err = run(capsys, "FailOrderFunction", "-e", str(EVENTS / "fail_order.json"))
    assert rc == 1
    assert json.loads(out) == json.loads(body)
    assert "charging 30.97 USD" in err
    assert ("error: FailOrderFunction failed: PaymentDeclinedError: payment declined for order ord_a6a11ca35500"
            in err)
    assert fake.left_running() == []


def test_a_timeout_exits_1_with_a_timeout_message(fake, capsys):
    fake.answers = [answer(200, b"Task timed out after 3.00 seconds")]
    rc, out, err = run(capsys, "EchoEnvFunction", "--repeat", "3")
    assert rc == 1
    assert out == ""
    assert ("error: EchoEnvFunction timed out: the emulator stopped it after its Timeout of 3 s "
            "(Task timed out after 3.00 seconds)") in err
    assert "raise Timeout in the template" in err
    assert len(fake.events) == 1  # no point waiting out the timeout twice more
    assert fake.left_running() == []


def test_a_runtime_that_crashes_exits_1_with_the_emulators_errors(fake, capsys):
    fake.answers = [crashed]
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "the runtime failed before answering (HTTP 502 from the emulator)" in err
    assert "Init failed error=Runtime exited with error: exit status 1" in err
    assert "shimimg bootstrap: handler 'bin/nope' not found" in err


def test_repeat_reports_cold_and_warm_durations(fake, capsys):
    fake.answers = [ok({"n": 1}, init=216.4, duration=294.6), ok({"n": 2}, duration=17.0), ok({"n": 3}, duration=15.0)]
    rc, out, err = run(capsys, "GetOrderFunction", "--repeat", "3")
    assert rc == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len(fake.created) == 1  # one container for all three
    rows = [line.split() for line in err.splitlines() if line.startswith("#") and "ms" in line]
    assert rows[0][:4] == ["#1", "cold", "216.4", "ms"] and rows[0][4:6] == ["294.6", "ms"]
    assert rows[1][:4] == ["#2", "warm", "17.0", "ms"] and rows[2][:2] == ["#3", "warm"]
    assert "cold 294.6 ms (init 216.4 ms), warm median 16.0 ms over 2" in err


@pytest.mark.parametrize("args,message", [
    (["NoSuchFunction"], "no function 'NoSuchFunction'"),
    (["GetOrderFunction", "-e", str(Path(__file__))], "is not JSON"),
    (["GetOrderFunction", "--env-vars", str(Path(__file__))], "not JSON"),
    (["ReportFunction"], "is not a Go function shimimg moves"),
])
def test_refusals_happen_before_any_container(fake, capsys, args, message):
    rc, out, err = run(capsys, *args)
    assert rc == 1 and out == ""
    assert message in err
    assert fake.created == []


def test_docker_down(fake, capsys, monkeypatch):
    fake.down = True
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "error: the Docker engine at unix:///nowhere.sock does not answer" in err
    # Nothing about the function's environment before the engine is known to be there.
    assert "intrinsic" not in err


def test_an_image_missing_with_no_build(fake, capsys):
    fake.image_missing = True
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "error: no linux/arm64 image shimimg/orders:latest in the local Docker engine" in err


def test_a_port_in_use(fake, capsys):
    import docker.errors

    fake.start_error = docker.errors.APIError(
        "500", explanation="Bind for 127.0.0.1:18080 failed: port is already allocated"
    )
    rc, _, err = run(capsys, "GetOrderFunction", "--port", "18080")
    assert rc == 1
    assert "error: port 18080 on 127.0.0.1 is already in use" in err
    assert fake.left_running() == []


def test_repeat_must_be_positive(capsys):
    rc, _, err = run(capsys, "GetOrderFunction", "--repeat", "0")
    assert rc == 2 and "--repeat" in err


def test_the_emulators_own_lines_show_with_verbose(fake, capsys):
    fake.answers = [ok({}, init=100.0)]
    rc = main(["-v", "invoke", "GetOrderFunction", "-t", TEMPLATE, "--no-build"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "shimimg: emulator: INIT REPORT(durationMs: 100.000000)" in err
    assert RAPID not in err  # timestamps and levels are dropped
