"""Issue 19, item 5: forged or damaged shard results. ``pin`` writes only a digest reference in the
package's repository; results of the wrong shape are exit 1 naming the field; results are read
as regular files under a size cap."""

from __future__ import annotations

import json
import os

import pytest

from conftest import copy_example, refused, shimimg
from shimimg.commands.schema import SCHEMA_VERSION, template_sha256

REPO = "127.0.0.1:5000/orders"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def work(tmp_path):
    return copy_example(tmp_path / "orders")


def _result(work, image_uri: str, repository: str = REPO, **top) -> dict:
    doc = {"schema_version": SCHEMA_VERSION, "command": "push", "template_sha256": template_sha256(
        work / "template.yaml"), "revision": None,
        "packages": [{"code_uri": "./", "push": {"image_uri": image_uri, "repository": repository,
                                                 "digest": image_uri.rpartition("@")[2]}}]}
    doc.update(top)
    return doc


def _pin(work, doc, *extra):
    (work / "r.json").write_text(json.dumps(doc))
    return shimimg("pin", "r.json", "-o", "pinned.yaml", *extra, cwd=work, timeout=120)


def test_a_digest_reference_in_the_pushed_repository_is_pinned(work):
    r = _pin(work, _result(work, f"{REPO}@{DIGEST}"), "--repository", REPO)
    assert r.returncode == 0, r.stderr
    assert f"{REPO}@{DIGEST}" in (work / "pinned.yaml").read_text()


@pytest.mark.parametrize("uri,why", [
    ("evil.example.com/orders@" + DIGEST, "is not in the repository 127.0.0.1:5000/orders"),
    (REPO + ":latest", "is not a digest reference"),
    (REPO + ":v1@" + DIGEST, "is not a digest reference"),
    (REPO + "@sha256:abc", "is not a digest reference"),
    ("not a reference\nforged line", "is not a digest reference"),
])
def test_anything_but_a_digest_in_the_repository_is_refused(work, uri, why):
    r = _pin(work, _result(work, uri))
    refused(r, "r.json: packages[0].push.image_uri", why)
    assert "\nforged line" not in r.stderr  # the value is quoted, never a line of its own
    assert not (work / "pinned.yaml").exists()


def test_a_result_claiming_another_repository_is_refused_when_pin_names_one(work):
    forged = _result(work, "evil.example.com/x@" + DIGEST, repository="evil.example.com/x")
    refused(_pin(work, forged, "--repository", REPO), "is not in the repository 127.0.0.1:5000/orders")
    assert not (work / "pinned.yaml").exists()


@pytest.mark.parametrize("change,field", [
    ({"packages": "x"}, "packages is \"x\", expected a list"),
    ({"packages": [5]}, "packages[0] is 5"),
    ({"packages": [{"push": {}}]}, "packages[0].code_uri is missing"),
    ({"packages": [{"code_uri": "./", "push": []}]}, "packages[0].push is []"),
    ({"packages": [{"code_uri": "./", "push": {"image_uri": 7}}]}, "packages[0].push.image_uri is 7"),
    ({"template_sha256": None}, "template_sha256 is missing"),
    ({"revision": {"a": 1}}, "revision is {\"a\": 1}"),
])
def test_valid_json_of_the_wrong_shape_is_exit_1_naming_the_field(work, change, field):
    refused(_pin(work, _result(work, f"{REPO}@{DIGEST}", **change)), f"r.json: {field}")


def test_a_huge_result_is_refused_at_the_cap(work):
    doc = _result(work, f"{REPO}@{DIGEST}", padding="x" * (17 * 1024 * 1024))
    refused(_pin(work, doc), "r.json is larger than 16 MiB")


@pytest.mark.parametrize("make,kind", [(lambda p: p.symlink_to("/dev/zero"), "is a device"),
                                       (lambda p: os.mkfifo(p), "is a FIFO")])
def test_a_result_that_is_not_a_file_is_refused_not_read(work, make, kind):
    make(work / "r.json")
    r = shimimg("pin", "r.json", "-o", "pinned.yaml", cwd=work, timeout=60)
    refused(r, f"r.json {kind}")
