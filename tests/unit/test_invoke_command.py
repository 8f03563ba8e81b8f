"""``shimimg invoke`` end to end on the example template, with only the docker SDK and the emulator's
HTTP side faked (rie_fakes); the image comes from the build cache as the last build recorded it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest
from rie_fakes import RAPID, answer, crashed, fake_docker, ok  # noqa: F401  (fake_docker: the `fake` fixture)

from shimimg.cache import ImageState, Store
from shimimg.cli import main
from shimimg.commands import build, invoke
from shimimg.errors import ShimimgError
from shimimg.image.build import package_slug
from shimimg.localinvoke import rie
from shimimg.plan.records import Function, Package, Plan, Skipped, Untouched
from shimimg.template import discover, load_document
from support import EXAMPLE

TEMPLATE = str(EXAMPLE / "template.yaml")
EVENTS = EXAMPLE / "events"
IMAGE_ID = "sha256:" + "5e" * 32
# Names the example declares: a developer's shell must not leak into these tests (SAM lets it override).
DECLARED = ("STAGE", "TABLE_NAME", "QUEUE_URL", "QUEUE_ARN", "API_URL", "PAYMENT_ENDPOINT")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", *DECLARED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIMIMG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(name="built")
def recorded_build(tmp_path) -> str:
    """What `shimimg build` leaves in the cache: the package's image ID."""
    pkg = discover(load_document(EXAMPLE / "template.yaml")).packages[0]
    Store(tmp_path / "cache", EXAMPLE).put_image(package_slug(pkg), ImageState("key", pkg.image, IMAGE_ID, ""))
    return IMAGE_ID


def run(capsys, *args: str, build_flag: str = "--no-build") -> tuple[int, str, str]:
    rc = main(["invoke", *args, "-t", TEMPLATE, *([build_flag] if build_flag else [])])
    out, err = capsys.readouterr()
    return rc, out, err


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
                (Untouched("ReportFunction", "Runtime python3.12 is not Go"),))


def test_an_unknown_function_lists_the_known_ones_and_suggests_the_closest():
    with pytest.raises(ShimimgError) as e:
        invoke.find_function(_plan(), "EchoEnv")
    assert e.value.message == "no function 'EchoEnv' in /src/template.yaml; the functions shimimg can run are:"
    assert e.value.problems == ("GetOrderFunction (bin/get_order)", "EchoEnvFunction (./bin/echo_env)")
    assert e.value.hint == "did you mean EchoEnvFunction?"
    with pytest.raises(ShimimgError) as e:
        invoke.find_function(_plan(), "Zzz")
    assert e.value.hint == "give one of these logical ids"


def test_a_function_shimimg_leaves_alone_or_cannot_build_says_so():
    with pytest.raises(ShimimgError, match="ReportFunction in /src/template.yaml is not a Go function shimimg moves"):
        invoke.find_function(_plan(), "ReportFunction")
    with pytest.raises(ShimimgError, match="OddFunction cannot be built: Handler is not a path"):
        invoke.find_function(_plan(), "OddFunction")


def test_container_spec_shim_direct_network_and_debugger():
    pkg = _plan().packages[0]
    fn = pkg.functions[1]
    shim = invoke.container_spec(pkg, fn, image="sha256:abc", direct=False, environment={}, port=None)
    assert shim.command == ("./bin/echo_env",) and shim.entrypoint == ()
    assert shim.platform == "linux/arm64" and shim.memory_mb == 256 and shim.image == "sha256:abc"
    assert shim.function == "EchoEnvFunction" and shim.network is None and shim.extra_ports == ()
    direct = invoke.container_spec(pkg, fn, image="sha256:abc", direct=True, environment={}, port=9000,
                                   lifetime_s=99, network="orders-net", extra_ports=(5858,))
    assert direct.entrypoint == ("/usr/local/bin/aws-lambda-rie", "/var/task/bin/echo_env")
    assert direct.command == () and direct.port == 9000
    assert (direct.lifetime_s, direct.network, direct.extra_ports) == (99, "orders-net", (5858,))
    x86 = invoke.container_spec(Package("./", Path("/src"), "dir", "i", "x86_64", ()), pkg.functions[0], image="i",
                                direct=False, environment={}, port=None)
    assert x86.platform == "linux/amd64" and x86.memory_mb == 128


# --- the command ------------------------------------------------------------------------------------

def test_the_response_goes_to_stdout_and_the_log_to_stderr(fake, built, capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    fake.answers = [ok({"TABLE_NAME": "orders-table"}, init=200.0, printed=("handler says hi",))]
    rc, out, err = run(capsys, "EchoEnvFunction", "-e", str(EVENTS / "echo_env.json"),
                       "--env-vars", str(EXAMPLE / "env.json"))
    assert rc == 0
    assert json.loads(out) == {"TABLE_NAME": "orders-table"}
    assert "handler says hi" in err and "START RequestId:" in err and "REPORT RequestId:" in err
    assert fake.events == [(EVENTS / "echo_env.json").read_bytes()]
    kwargs = fake.container.kwargs
    assert kwargs["image"] == built  # the image ID the build recorded, not a tag that may have moved
    assert kwargs["entrypoint"][:2] == ["/bin/sh", "-c"]
    # Lifetime: ready timeout + one invocation (Timeout 3 s + the client's grace) + a margin.
    assert kwargs["command"] == [str(120 + 3 + 60 + 60), "/lambda-entrypoint.sh", "bin/echo_env"]
    assert kwargs["platform"] == "linux/arm64" and kwargs["mem_limit"] == "256m"
    assert kwargs["labels"][f"{rie.LABEL}.function"] == "EchoEnvFunction"
    assert "network" not in kwargs and list(kwargs["ports"]) == ["8080/tcp"]
    env = kwargs["environment"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "EchoEnvFunction" and env["AWS_LAMBDA_FUNCTION_HANDLER"] == "bin/echo_env"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "3"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert env["AWS_SAM_LOCAL"] == "true" and env["AWS_ACCOUNT_ID"] == "123456789012"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("defaultkey", "defaultsecret")
    # The template's literal, env.json's overrides, and the intrinsics as sam local invoke resolves them.
    assert env["TABLE_NAME"] == "orders-table" and env["STAGE"] == "dev"
    assert env["QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/orders-queue"
    assert env["QUEUE_ARN"] == "arn:aws:lambda:eu-central-1:123456789012:function:OrdersQueue"
    assert env["API_URL"] == "https://ServerlessRestApi.execute-api.eu-central-1.amazonaws.com/Prod"
    assert "intrinsic" not in err
    assert fake.left_running() == []


def test_parameter_overrides_and_region_reach_the_function(fake, built, capsys):
    fake.answers = [ok({})]
    rc, _, _ = run(capsys, "FailOrderFunction", "--parameter-overrides", "Stage=prod", "--region", "eu-west-1")
    assert rc == 0
    env = fake.container.kwargs["environment"]
    assert env["PAYMENT_ENDPOINT"] == "https://payments.prod.example.com/v1/charges"
    assert env["AWS_REGION"] == "eu-west-1"


def test_direct_mode_from_the_command_line(fake, built, capsys):
    fake.answers = [ok({})]
    rc, _, err = run(capsys, "GetOrderFunction", "--direct")
    assert rc == 0
    kwargs = fake.container.kwargs
    assert kwargs["command"][1:] == ["/usr/local/bin/aws-lambda-rie", "/var/task/bin/get_order"]
    assert "AWS_LAMBDA_FUNCTION_HANDLER" not in kwargs["environment"]  # nothing reads _HANDLER in direct mode
    assert "entrypoint ['/usr/local/bin/aws-lambda-rie', '/var/task/bin/get_order']" in err


def test_docker_network_and_debug_port_reach_the_container(fake, built, capsys):
    fake.answers = [ok({})]
    rc, _, _ = run(capsys, "GetOrderFunction", "--docker-network", "orders-net", "--debug-port", "5858")
    assert rc == 0
    kwargs = fake.container.kwargs
    assert kwargs["network"] == "orders-net"
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None), "5858/tcp": ("127.0.0.1", 5858)}
    # As sam local invoke with --debug-port: the function may take as long as the debugger holds it.
    assert kwargs["environment"]["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "36000"
    assert kwargs["command"][0] == str(120 + 36000 + 60 + 60)


def test_a_missing_docker_network(fake, built, capsys):
    rc, _, err = run(capsys, "GetOrderFunction", "--docker-network", "nope-net")
    assert rc == 1 and "error: docker network 'nope-net' does not exist" in err


def test_a_function_error_exits_1_showing_type_and_message(fake, built, capsys):
    body = b'{"errorMessage":"payment declined for order ord_a6a11ca35500","errorType":"PaymentDeclinedError"}'
    fake.answers = [answer(200, body, printed=("charging 30.97 USD",))]
    rc, out, err = run(capsys, "FailOrderFunction", "-e", str(EVENTS / "fail_order.json"))
    assert rc == 1
    assert json.loads(out) == json.loads(body)
    assert "charging 30.97 USD" in err
    assert ("error: FailOrderFunction failed: PaymentDeclinedError: payment declined for order ord_a6a11ca35500"
            in err)
    assert fake.left_running() == []


def test_a_timeout_exits_1_with_a_timeout_message(fake, built, capsys):
    fake.answers = [answer(200, b"Task timed out after 3.00 seconds")]
    rc, out, err = run(capsys, "EchoEnvFunction", "--repeat", "3")
    assert rc == 1
    assert out == ""
    assert ("error: EchoEnvFunction timed out: the emulator stopped it after its Timeout of 3 s "
            "(Task timed out after 3.00 seconds)") in err
    assert "raise Timeout in the template" in err
    assert len(fake.events) == 1  # no point waiting out the timeout twice more
    assert fake.left_running() == []


def test_a_runtime_that_crashes_exits_1_with_the_emulators_errors(fake, built, capsys):
    fake.answers = [crashed]
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "the runtime failed before answering (HTTP 502 from the emulator)" in err
    assert "Init failed error=Runtime exited with error: exit status 1" in err
    assert "shimimg bootstrap: handler 'bin/nope' not found" in err
    assert fake.left_running() == []


def test_repeat_reports_cold_and_warm_durations(fake, built, capsys):
    fake.answers = [ok({"n": 1}, init=216.4, duration=294.6), ok({"n": 2}, duration=17.0), ok({"n": 3}, duration=15.0)]
    rc, out, err = run(capsys, "GetOrderFunction", "--repeat", "3")
    assert rc == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len(fake.created) == 1  # one container for all three
    assert fake.container.kwargs["command"][0] == str(120 + 3 * (10 + 60) + 60)
    rows = [line.split() for line in err.splitlines() if line.startswith("#") and "ms" in line]
    assert rows[0][:4] == ["#1", "cold", "216.4", "ms"] and rows[0][4:6] == ["294.6", "ms"]
    assert rows[1][:4] == ["#2", "warm", "17.0", "ms"] and rows[2][:2] == ["#3", "warm"]
    assert "cold 294.6 ms (init 216.4 ms), warm median 16.0 ms over 2" in err


@pytest.mark.parametrize("args,message", [
    (["NoSuchFunction"], "no function 'NoSuchFunction'"),
    (["GetOrderFunction", "-e", str(Path(__file__))], "is not JSON"),
    (["GetOrderFunction", "--env-vars", str(Path(__file__))], "not JSON"),
    (["GetOrderFunction", "--parameter-overrides", "Stage"], "'Stage' is not Key=Value"),
    (["ReportFunction"], "is not a Go function shimimg moves"),
])
def test_refusals_happen_before_any_container(fake, built, capsys, args, message):
    rc, out, err = run(capsys, *args)
    assert rc == 1 and out == ""
    assert message in err
    assert fake.created == []


def test_no_build_without_a_recorded_build_is_refused(fake, capsys):
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "error: package ./ has not been built on this machine" in err and "drop --no-build" in err
    assert fake.created == []


def test_without_no_build_only_the_functions_package_is_built(fake, capsys, monkeypatch):
    calls = []

    def build_images(template, settings, *, only=(), loaded=None, **kw):
        calls.append(only)
        pkg = loaded[1].packages[0]
        return loaded[0], SimpleNamespace(images=(SimpleNamespace(package=pkg, image_id="sha256:fresh", tag="t"),))

    monkeypatch.setattr(build, "build_images", build_images)
    fake.answers = [ok({})]
    rc, _, _ = run(capsys, "GetOrderFunction", build_flag="")
    assert rc == 0 and calls == [["./"]]
    assert fake.container.kwargs["image"] == "sha256:fresh"


def test_docker_down(fake, capsys, monkeypatch):
    fake.down = True
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert "error: the Docker engine at unix:///nowhere.sock does not answer" in err


def test_an_image_missing_with_no_build(fake, built, capsys):
    fake.image_missing = True
    rc, _, err = run(capsys, "GetOrderFunction")
    assert rc == 1
    assert f"error: no linux/arm64 image {built} in the local Docker engine" in err


def test_a_port_in_use(fake, built, capsys):
    fake.start_error = docker.errors.APIError(
        "500", explanation="Bind for 127.0.0.1:18080 failed: port is already allocated"
    )
    rc, _, err = run(capsys, "GetOrderFunction", "--port", "18080")
    assert rc == 1
    assert "error: port 18080 on 127.0.0.1 is already in use" in err
    assert fake.left_running() == []


def test_repeat_must_be_positive(tmp_path):
    with pytest.raises(ShimimgError, match="--repeat must be 1 or more, not 0"):
        invoke.run(function="GetOrderFunction", template=Path(TEMPLATE), settings=None, event=None,  # type: ignore[arg-type]
                   env_vars=None, no_build=True, repeat=0, port=None)


def test_repeat_zero_is_a_usage_error(capsys):
    rc, _, err = run(capsys, "GetOrderFunction", "--repeat", "0")
    assert rc == 2 and "--repeat" in err


def test_the_emulators_own_lines_show_with_verbose(fake, built, capsys):
    fake.answers = [ok({}, init=100.0)]
    rc = main(["-v", "invoke", "GetOrderFunction", "-t", TEMPLATE, "--no-build"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "shimimg: emulator: INIT REPORT(durationMs: 100.000000)" in err
    assert RAPID not in err  # timestamps and levels are dropped
