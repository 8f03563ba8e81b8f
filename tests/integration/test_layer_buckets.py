"""A generated 130-handler package past the 100-layer budget (issue 22): real go build, real buildx
(linux/arm64 under qemu), the stand-in base, a real registry on loopback. The registry judges what
a push cost (its access log's finished blob uploads, and the uploaded layers' own tar listings).

One work folder and one shimimg cache go through the steps a pipeline would: a first push, one
handler in a layer of its own changed, one handler in a shared bucket changed, one handler added.
Every handler is then invoked through the image's real entrypoint and shim, all in ONE container
(one container per handler under the emulator would cost minutes): a loopback Runtime API serves
each process one event and then answers its next poll with an error, which makes aws-lambda-go
exit, so the container's loop moves on to the next handler.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from registry_fixtures import PASSWORD, USER, Registry, docker_config, registry_tools  # noqa: F401

from support import ROOT

N = 130
REPO = "team/many"
SOURCE_DATE_EPOCH = "1700000000"
BIN = "var/task/bin/"


def shimimg(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shimimg", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, **env})


def generate(dest: Path, count: int) -> Path:
    subprocess.run([sys.executable, str(ROOT / "examples" / "generate.py"), str(dest), "--handlers", str(count),
                    "--functions-only"], check=True, capture_output=True)
    return dest


def layer_files(registry: Registry, digest: str) -> list[str]:
    """The binaries a pushed layer holds, from the blob the registry stored."""
    data = registry.blob(REPO, digest)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:  # gzip, or a plain tar
        return sorted(m.name.removeprefix(BIN) for m in tar.getmembers() if m.isfile() and m.name.startswith(BIN))


class Push:
    def __init__(self, doc: dict, uploads: list[str], manifest: dict) -> None:
        [pkg] = doc["packages"]
        self.doc, self.uploads, self.manifest = doc, uploads, manifest
        self.push, self.tag = pkg["push"], pkg["image"]["tag"]
        self.layers = [layer["digest"] for layer in manifest["layers"]]

    def fresh_layers(self, before: Push) -> list[str]:
        return [d for d in self.layers if d not in before.layers]

    def gone_layers(self, before: Push) -> list[str]:
        return [d for d in before.layers if d not in self.layers]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, registry, standin, go_toolchain):
    """push(label) builds and pushes the work folder; returns what the registry saw."""
    work = generate(tmp_path_factory.mktemp("buckets") / "many", N)
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path_factory.mktemp("docker-config"),
                                              {registry.address: (USER, PASSWORD)})),
           "SHIMIMG_CACHE_DIR": str(tmp_path_factory.mktemp("shimimg-cache"))}

    def push() -> Push:
        offset = registry.log_offset()
        r = shimimg("push", "--base-image", standin, "--repository", f"{registry.address}/{REPO}", "--json",
                    cwd=work, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        doc = json.loads(r.stdout)
        _, manifest, _ = registry.manifest(REPO, doc["packages"][0]["push"]["digest"])
        pushed = Push(doc, registry.blob_uploads(offset, REPO), manifest)
        tags.append(pushed.tag)
        return pushed

    tags: list[str] = []
    yield work, push
    # Each push left its image in the engine (131 binaries each): ours to remove.
    subprocess.run(["docker", "image", "rm", *sorted(set(tags))], capture_output=True)


@pytest.fixture(scope="module")
def base_layers(standin):
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", standin],
                         capture_output=True, text=True, check=True).stdout
    return len(json.loads(out))


@pytest.fixture(scope="module")
def first(pipeline, registry, base_layers):
    _, push = pipeline
    p = push()
    # Which binaries each layer of the pushed image holds (skipping the base and the shim).
    p.contents = {d: layer_files(registry, d) for d in p.layers[base_layers:]}
    return p


def edit(work: Path, handler: str, label: str) -> None:
    main = work / "cmd" / handler / "main.go"
    main.write_text(main.read_text().replace(f'const name = "{handler}"', f'const name = "{handler}-{label}"'))


def pick(first: Push, size: int) -> tuple[str, str]:
    """A handler in a layer of ``size`` binaries, and that layer's digest."""
    for digest, files in first.contents.items():
        if len(files) == size:
            return files[0], digest
    raise AssertionError(f"no layer of {size} binaries in {first.contents}")


@pytest.fixture(scope="module")
def solo_change(first, pipeline):
    work, push = pipeline
    handler, layer = pick(first, 1)
    edit(work, handler, "solo")
    return handler, layer, push()


@pytest.fixture(scope="module")
def bucket_change(solo_change, first, pipeline):
    work, push = pipeline
    handler, layer = pick(first, 2)
    edit(work, handler, "bucket")
    return handler, layer, push()


@pytest.fixture(scope="module")
def added(bucket_change, pipeline, tmp_path_factory):
    work, push = pipeline
    more = generate(tmp_path_factory.mktemp("more") / "many", N + 1)
    new = f"h{N + 1:03d}"
    shutil.copytree(more / "cmd" / new, work / "cmd" / new)
    shutil.copyfile(more / "template.yaml", work / "template.yaml")
    return new, push()


def test_130_handlers_fill_100_layers_of_at_most_two_binaries_each_holding_every_binary_once(first, base_layers):
    binaries = [f for files in first.contents.values() for f in files]
    assert sorted(binaries) == sorted(f"h{i:03d}" for i in range(1, N + 1))
    sizes = sorted(len(files) for files in first.contents.values() if files)
    assert sizes == [1] * 70 + [2] * 30, sizes
    # Base + shim + 100 binary layers: within the 125 Docker's layer store chains (buckets.py says why).
    assert len(first.layers) == base_layers + 1 + 100 <= 125


def test_a_change_to_a_handler_in_its_own_layer_uploads_that_layer_alone(first, solo_change, registry):
    handler, old_layer, p = solo_change
    [fresh] = p.fresh_layers(first)
    assert p.gone_layers(first) == [old_layer]
    assert layer_files(registry, fresh) == [handler]
    assert sorted(p.uploads) == sorted([fresh, p.manifest["config"]["digest"]])
    print(f"solo layer change ({handler}): {p.push['bytes_pushed']} bytes pushed")


def test_a_change_to_a_handler_in_a_shared_bucket_uploads_that_bucket_of_two_only(first, solo_change, bucket_change,
                                                                                 registry):
    _, _, before = solo_change
    handler, old_layer, p = bucket_change
    [fresh] = p.fresh_layers(before)
    assert p.gone_layers(before) == [old_layer]
    files = layer_files(registry, fresh)
    assert handler in files and len(files) == 2  # ceil(130/100) binaries' worth
    assert files == first.contents[old_layer]
    assert sorted(p.uploads) == sorted([fresh, p.manifest["config"]["digest"]])
    solo = {d for d, files in first.contents.items() if len(files) == 1}
    largest_solo = max(layer["size"] for layer in first.manifest["layers"] if layer["digest"] in solo)
    assert p.push["bytes_pushed"] <= 2 * largest_solo + p.manifest["config"]["size"] + 1024
    print(f"bucket change ({handler}): {p.push['bytes_pushed']} bytes pushed (largest one-binary layer {largest_solo})")


def test_adding_a_handler_changes_one_layer_and_uploads_only_it(bucket_change, added, registry):
    _, _, before = bucket_change
    new, p = added
    fresh = p.fresh_layers(before)
    assert len(fresh) == 1, fresh
    assert len(p.gone_layers(before)) <= 1  # the bucket it joined (none when it got a bucket of its own)
    files = layer_files(registry, fresh[0])
    assert new in files and len(files) <= 2
    assert sorted(p.uploads) == sorted([fresh[0], p.manifest["config"]["digest"]])


class _OneEventEach(BaseHTTPRequestHandler):
    """The Runtime API for a row of processes run one after another: the first poll of each gets an
    event, the next poll an error (aws-lambda-go then exits); answers are recorded in order."""

    armed = True
    answers: list = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.lock:
            serve, type(self).armed = type(self).armed, not type(self).armed
        if not serve:
            self.send_error(500)
            return
        body = json.dumps({"who": "buckets"}).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req")
        self.send_header("Lambda-Runtime-Deadline-Ms", "9999999999999")
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if "Content-Length" in self.headers \
            else _chunked(self.rfile)
        answer = json.loads(data or b"null")
        if isinstance(answer, dict) and "body" in answer:  # an API Gateway proxy response
            answer = json.loads(answer["body"])
        self.answers.append((self.path.rsplit("/", 1)[-1], answer.get("handler") if isinstance(answer, dict) else None))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _chunked(rfile) -> bytes:
    data = b""
    while (size := int(rfile.readline().split(b";")[0].strip() or b"0", 16)) != 0:
        data += rfile.read(size)
        rfile.readline()
    rfile.readline()
    return data


def test_every_handler_answers_through_the_entrypoint_and_shim_in_one_container(added):
    new, p = added
    handlers = [f"h{i:03d}" for i in range(1, N + 2)]
    assert new == handlers[-1]
    _OneEventEach.answers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneEventEach)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Each handler as Lambda starts it: the entrypoint with the function's Command (bin/<name>),
    # which execs the shim, which execs the binary. One after another, in this one container.
    # Each process ends non-zero (the second poll fails by design): the loop itself says "done".
    script = 'for h in "$@"; do /lambda-entrypoint.sh "bin/$h" >/dev/null 2>&1; done; echo done'
    try:
        r = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", "--network", "host",
                            "-e", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{server.server_address[1]}",
                            "--entrypoint", "/bin/sh", p.tag, "-c", script, "sh", *handlers],
                           capture_output=True, text=True, timeout=600)
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr[-2000:]
    # The two edited handlers answer with their new names: the image holds the rebuilt binaries.
    expected = [("response", h) for h in handlers]
    got = [(kind, h.split("-")[0] if h else h) for kind, h in _OneEventEach.answers]
    assert got == expected
    assert sum(1 for _, h in _OneEventEach.answers if h and h.endswith(("-solo", "-bucket"))) == 2
