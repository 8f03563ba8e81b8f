"""Issue 19, Low: values that crashed shimimg (exit 3) are exit 1 naming the value: an environment
value nested ~1000 deep, Timeout: 999999999999, a 300-character handler, `tool = "x"` in
pyproject.toml; handlers with '.' path components are refused before an image lacks the binary."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import copy_example, refused, shimimg

ANCHOR = "      Environment:\n        Variables:\n"


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "orders")


def _in_echo_env(work, line: str) -> None:
    text = (work / "template.yaml").read_text()
    at = text.index(ANCHOR, text.index("Handler: bin/echo_env")) + len(ANCHOR)
    (work / "template.yaml").write_text(text[:at] + line + text[at:])


def _replace(work, old: str, new: str) -> None:
    text = (work / "template.yaml").read_text()
    assert old in text
    (work / "template.yaml").write_text(text.replace(old, new, 1))


def test_an_environment_value_nested_990_deep_is_refused_naming_the_function(work):
    _in_echo_env(work, "          DEEP: " + "[" * 990 + "1" + "]" * 990 + "\n")
    refused(shimimg("invoke", "EchoEnvFunction", "--no-build", cwd=work),
            "EchoEnvFunction: an Environment value is nested too deeply")


def test_an_env_vars_file_nested_100000_deep_is_refused(work, tmp_path):
    (tmp_path / "env.json").write_text('{"EchoEnvFunction": {"X": ' + "[" * 100000 + "1" + "]" * 100000 + "}}")
    refused(shimimg("invoke", "EchoEnvFunction", "--no-build", "--env-vars", str(tmp_path / "env.json"), cwd=work),
            "env.json: values are nested too deeply")


def test_a_timeout_beyond_lambdas_is_refused_naming_it(work):
    _replace(work, "Timeout: 3 ", "Timeout: 999999999999 ")
    refused(shimimg("invoke", "EchoEnvFunction", "--no-build", cwd=work),
            "EchoEnvFunction: Timeout 999999999999 is outside Lambda's 1 to 900 seconds")


@pytest.mark.parametrize("handler,why", [
    ("bin/" + "x" * 300, "is longer than Lambda's 128 characters"),
    ("bin/./echo_env", "has '.' or empty path components"),
    ("bin//echo_env", "has '.' or empty path components"),
])
def test_a_handler_no_image_can_hold_is_refused(work, standin, handler, why):
    _replace(work, "Handler: bin/echo_env", f"Handler: {handler}")
    for command in (["migrate"], ["build", "--base-image", standin]):
        refused(shimimg(*command, cwd=work), "EchoEnvFunction", why)
    plan = json.loads(shimimg("plan", "--json", cwd=work).stdout)
    assert any(why in s["reason"] for s in plan["skipped"]), plan["skipped"]


def test_a_tool_key_that_is_not_a_table_is_refused_naming_it(work):
    (work / "pyproject.toml").write_text('tool = "x"\n')
    refused(shimimg("plan", cwd=work), "pyproject.toml: tool = 'x': [tool] must be a table")


def test_a_multi_megabyte_parameter_override_in_samconfig_is_refused_quickly(work):
    import time

    (work / "samconfig.toml").write_text('version = 0.1\n[default.local_invoke.parameters]\n'
                                         f'parameter_overrides = "Stage={"a" * 900_000}"\n')
    t0 = time.monotonic()
    r = shimimg("invoke", "EchoEnvFunction", "--no-build", cwd=work, timeout=60)
    refused(r, "samconfig.toml: a parameter override string of 900006 characters is longer than 64 KiB")
    assert time.monotonic() - t0 < 10  # shlex alone took ~12 s on such a string


def test_a_zip_member_with_a_leading_dot_slash_is_seen_by_discovery_as_by_the_build(tmp_path, standin):
    import subprocess
    import zipfile

    work = tmp_path / "zipped"
    work.mkdir()
    with zipfile.ZipFile(work / "functions.zip", "w") as zf:
        info = zipfile.ZipInfo("./bin/x")
        info.create_system = 3
        info.external_attr = 0o100755 << 16
        zf.writestr(info, b"\x7fELF" + b"\0" * 60)
    (work / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  X:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: provided.al2, Handler: bin/x, CodeUri: functions.zip}\n")
    r = subprocess.run([sys.executable, "-m", "shimimg", "plan", "--json"], cwd=work, capture_output=True, text=True,
                       timeout=120)
    plan = json.loads(r.stdout)
    assert [f["logical_id"] for p in plan["packages"] for f in p["functions"]] == ["X"], plan


FORGED = "\\nerror: forged line\\n"  # YAML escapes: a real newline in the value


@pytest.mark.parametrize("where", ["codeuri", "handler", "logical-id"])
def test_control_characters_never_forge_a_line_of_output(work, standin, where):
    text = (work / "template.yaml").read_text()
    if where == "codeuri":
        at = text.index("Handler: bin/echo_env")
        text = text[:at] + f'CodeUri: "./{FORGED}"\n      ' + text[at:]
    elif where == "handler":
        text = text.replace("Handler: bin/echo_env", f'Handler: "bin/echo_env{FORGED}"', 1)
    else:
        text = text.replace("  EchoEnvFunction:\n", f'  "EchoEnv{FORGED}":\n', 1)
    (work / "template.yaml").write_text(text)
    for command in (["plan"], ["migrate"], ["build", "--base-image", standin]):
        r = shimimg(*command, cwd=work)
        out = r.stdout + r.stderr
        if command == ["plan"]:
            assert "forged line" in out, out  # named, escaped
        assert not [line for line in out.splitlines() if line.startswith("error: forged")], out
