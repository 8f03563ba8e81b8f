"""How a command ends → exit code and one message (shimimg.error_handler), and global flags
accepted before or after the command (cli._hoist)."""

import os
import signal

import pytest

from shimimg import cli, error_handler
from shimimg.errors import Interrupted, ShimimgError, Terminated


def test_an_expected_failure_exits_1_with_its_message(capsys):
    def fail() -> int:
        raise ShimimgError("it broke", hint="mend it", problems=["one", "two"])

    assert error_handler.run(fail, argv=["shimimg"]) == 1
    assert capsys.readouterr().err == "error: it broke\n  - one\n  - two\n  hint: mend it\n"


def test_a_bug_exits_3_with_a_log_holding_the_traceback_and_versions(capsys):
    def bug() -> int:
        raise KeyError("oops")

    assert error_handler.run(bug, argv=["shimimg", "build"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: shimimg hit a bug: KeyError: 'oops'")
    path = err.split("the traceback is in ")[1].split(";")[0]
    log = open(path).read()
    os.unlink(path)
    for key in ("shimimg:", "python:", "docker:", "buildx:", "go:", "argv: ['shimimg', 'build']", "KeyError"):
        assert key in log


@pytest.mark.parametrize("exc,code,line", [
    (KeyboardInterrupt(), 130, "interrupted: stopped and cleaned up"),
    (Terminated(), 143, "interrupted (SIGTERM): stopped and cleaned up"),
    (Interrupted(Terminated()), 143, "interrupted (SIGTERM): stopped and cleaned up"),
    (Interrupted(KeyboardInterrupt()), 130, "interrupted: stopped and cleaned up"),
])
def test_interrupts_exit_128_plus_the_signal_with_one_line(capsys, exc, code, line):
    def stop() -> int:
        raise exc

    assert error_handler.run(stop, argv=[]) == code
    assert capsys.readouterr().err == line + "\n"


def test_sigterm_unwinds_like_ctrl_c_inside_the_handler(capsys):
    cleaned = []

    def work() -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("the signal did not arrive")
        finally:
            cleaned.append(True)

    assert error_handler.run(work, argv=[]) == 143
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler) or callable(
        signal.getsignal(signal.SIGTERM))


@pytest.mark.parametrize("argv,expected", [
    (["build", "-v"], ["-v", "build"]),
    (["build", "--progress", "plain", "-t", "x"], ["--progress", "plain", "build", "-t", "x"]),
    (["invoke", "F", "--debug", "-e", "ev.json"], ["--debug", "invoke", "F", "-e", "ev.json"]),
    (["-q", "plan", "-vv"], ["-q", "-vv", "plan"]),
    (["invoke", "F", "--", "-v"], ["invoke", "F", "--", "-v"]),
])
def test_global_flags_work_after_the_command(argv, expected):
    assert cli._hoist(argv) == expected


def test_exit_codes_through_the_real_parser(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--version"]) == 0
    assert cli.main(["build", "--no-such-flag"]) == 2
    assert "No such option: --no-such-flag" in capsys.readouterr().err
    assert cli.main(["plan", "-t", "missing.yaml"]) == 1
    assert "missing.yaml" in capsys.readouterr().err
