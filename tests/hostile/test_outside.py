"""Issue 19, Low: a CodeUri outside the template's folder (absolute, '..', a link out) would copy the
machine's files into the image: refused unless --allow-outside names the intent."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import copy_example, refused, shimimg


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "repo" / "orders")


def _prebuilt_outside(tmp_path):
    """A folder outside the checkout holding an executable named like a handler (a host binary)."""
    host = tmp_path / "host"
    (host / "bin").mkdir(parents=True)
    shutil.copy("/bin/true", host / "bin" / "echo_env")
    return host


def _point(work, code_uri: str) -> None:
    text = (work / "template.yaml").read_text()
    at = text.index("Handler: bin/echo_env")
    (work / "template.yaml").write_text(text[:at] + f"CodeUri: {code_uri}\n      " + text[at:])


@pytest.mark.parametrize("how", ["absolute", "dotdot", "link"])
def test_a_codeuri_outside_the_template_folder_is_refused(work, tmp_path, standin, how):
    host = _prebuilt_outside(tmp_path)
    if how == "absolute":
        _point(work, str(host))
    elif how == "dotdot":
        _point(work, "../../host/")
    else:
        os.symlink(host, work / "vendor")
        _point(work, "vendor/")
    cache = tmp_path / "cache"
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), cwd=work)
    refused(r, "package(s) lie outside the template's folder", f"is '{host}'", "EchoEnvFunction", "--allow-outside")
    assert not list(cache.glob("projects/*/context/*"))  # nothing was staged
    r = shimimg("build", "--base-image", standin, "--cache-dir", str(cache), "--allow-outside", "--prebuilt",
                cwd=work)
    assert "lie outside the template's folder" not in r.stderr
