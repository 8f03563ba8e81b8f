"""The outside world of ``shimimg.registry``, faked at its edges and nowhere else.

``Docker`` plays both programs the registry code talks to, over one registry state: the docker
CLI behind ``shimimg.registry.transport.run`` (``image tag``/``image rm``, ``buildx imagetools
inspect``/``create``) and the engine API behind ``docker.from_env`` (a push's progress stream).
``FakeEcr`` is boto3's ECR client, raising botocore's real exceptions; ``EngineSocket`` is a
dockerd that answers the real docker SDK on a unix socket, for what a fake SDK cannot show (which
exception a stalled stream raises). Messages are what docker 26 and buildx 0.13 print.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import socketserver
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from shimimg.image.build import ImageResult
from shimimg.plan.records import Function, Package
from shimimg.proc import Result
from shimimg.registry import transport

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
LOCAL = "127.0.0.1:5000"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
L1, L2, L3 = ("sha256:" + c * 64 for c in "abc")
CONFIG = "sha256:" + "f" * 64
TOKEN = "s3cret-token"


def package(code_uri: str = "./", path: str = "/src/orders", arch: str = "arm64") -> Package:
    fn = Function(logical_id="GetOrderFunction", resource_type="AWS::Serverless::Function", handler="bin/get_order",
                  runtime="go1.x")
    return Package(code_uri=code_uri, path=Path(path), kind="dir", image="shimimg/orders:latest", arch=arch,
                   functions=(fn,))


def image(pkg: Package | None = None, digest: str = D1, image_id: str | None = None,
          builder_output: str | None = None) -> ImageResult:
    """An image the engine holds (containerd store: its id is its manifest digest), or with
    ``builder_output`` one a remote builder pushed by digest (no local image)."""
    if builder_output is not None:
        return ImageResult(pkg or package(), "", "", digest, cached=False, builder_output=builder_output)
    return ImageResult(pkg or package(), "shimimg/orders:latest", image_id or digest, digest, cached=False)


@dataclass
class Manifest:
    digest: str
    layers: dict[str, int] = field(default_factory=lambda: {L1: 100, L2: 2000, L3: 30000})
    arch: str = "arm64"
    media_type: str = MANIFEST
    config: str = CONFIG


def short(digest: str) -> str:
    return digest[7:19]


class Docker:
    """The docker CLI and the engine, over a registry: ``tags`` ("host/name:tag" → digest),
    ``manifests`` (digest → Manifest), ``blobs`` ("host/name" → blob digests it holds).

    ``failures[verb]`` (verb: inspect, raw, create, tag, rm) queues what the next such call does
    instead: an exception to raise, or the error text docker prints. ``failures["push"]`` queues
    ``(text or exception, n)``: ``n`` layers land, then the engine reports the error (text) or the
    stream raises (exception).
    """

    def __init__(self, monkeypatch, *, buildx_prefers_index_flag: bool = True, wraps_anyway: bool = False):
        self.local: dict[str, Manifest] = {}  # image id → what a push of it lands
        self.names: dict[str, str] = {}  # local name → image id
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[str, set[str]] = {}
        self.failures: dict[str, list] = {}
        self.calls: list[tuple[tuple[str, ...], dict | None]] = []  # CLI argv, env
        self.pushes: list[tuple[str, dict | None]] = []  # engine pushes: ref, auth_config
        self.timeouts: list[int] = []  # engine client timeouts
        self.closed = 0
        self.flag = buildx_prefers_index_flag  # buildx 0.15+ knows --prefer-index
        self.wraps_anyway = wraps_anyway  # a buildx that makes an index whatever it is told
        monkeypatch.setattr(transport, "run", self.run)
        monkeypatch.setattr("docker.from_env", self.from_env)

    # Setting the scene.

    def hold(self, image_id: str, manifest: Manifest | None = None) -> Manifest:
        self.local[image_id] = manifest or Manifest(image_id)
        return self.local[image_id]

    def land(self, name: str, manifest: Manifest, *tags: str) -> None:
        """``manifest`` in the repository ``name`` ("host/path"), under ``tags`` (none: by digest only)."""
        self.manifests[manifest.digest] = manifest
        self.blobs.setdefault(name, set()).update(manifest.layers)
        for tag in tags:
            self.tags[f"{name}:{tag}"] = manifest.digest

    def cli(self, verb: str) -> list[tuple[str, ...]]:
        return [argv for argv, _ in self.calls if argv[1:3] == ("buildx", "imagetools") and argv[3] == verb]

    # The docker CLI (transport.run).

    def run(self, cmd, *, check=True, env=None, timeout=None, **_) -> Result:
        argv = tuple(str(c) for c in cmd)
        self.calls.append((argv, dict(env) if env else None))
        verb = {"tag": "tag", "rm": "rm"}.get(argv[2]) if argv[1] == "image" else argv[3]
        if verb == "inspect" and "--raw" in argv:
            verb = "raw"
        if self.failures.get(verb):
            failure = self.failures[verb].pop(0)
            if isinstance(failure, BaseException):
                raise failure
            return Result(argv, 1, "", failure)
        return getattr(self, f"_{verb}")(argv)

    def _tag(self, argv):
        if argv[3] not in self.local:
            return Result(argv, 1, "", f"Error response from daemon: No such image: {argv[3]}")
        self.names[argv[4]] = argv[3]
        return Result(argv, 0, "", "")

    def _rm(self, argv):
        self.names.pop(argv[3], None)
        return Result(argv, 0, "", "")

    def _resolve(self, ref: str) -> Manifest | None:
        name, at, digest = ref.partition("@")
        if at:
            return self.manifests.get(digest) if name in self.blobs else None
        return self.manifests.get(self.tags.get(ref, ""))

    def _inspect(self, argv):
        m = self._resolve(argv[4])
        if m is None:
            return Result(argv, 1, "", f"ERROR: {argv[4]}: not found")
        desc = {"mediaType": m.media_type, "digest": m.digest, "size": 1880}
        platform = {"architecture": m.arch, "os": "linux", "config": {}}
        img = {f"linux/{m.arch}": platform} if m.media_type == INDEX else platform
        return Result(argv, 0, json.dumps({"name": argv[4], "manifest": desc, "image": img}), "")

    def _raw(self, argv):
        m = self._resolve(argv[4])
        if m is None:
            return Result(argv, 1, "", f"ERROR: {argv[4]}: not found")
        layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                  for d, s in sorted(m.layers.items())]
        return Result(argv, 0, json.dumps({"schemaVersion": 2, "mediaType": m.media_type,
                                           "config": {"digest": m.config}, "layers": layers}), "")

    def _create(self, argv):
        if "--prefer-index=false" in argv and not self.flag:
            return Result(argv, 125, "", "unknown flag: --prefer-index\nSee 'docker buildx imagetools create --help'.")
        target, source = argv[argv.index("--tag") + 1], argv[-1]
        m = self._resolve(source)
        if m is None:
            return Result(argv, 1, "", f"ERROR: {source}: not found")
        if self.wraps_anyway or "--prefer-index=false" not in argv:  # buildx wraps one manifest in an index
            m = Manifest("sha256:" + hashlib.sha256(m.digest.encode()).hexdigest(), m.layers, m.arch, INDEX)
            self.manifests[m.digest] = m
        self.tags[target] = m.digest
        return Result(argv, 0, "", f"#1 [internal] pushing {target}\n#1 DONE 0.0s\n")

    # The engine (docker.from_env().api.push).

    def from_env(self, timeout=None, **_):
        self.timeouts.append(timeout)
        docker = self

        class Api:
            def push(self, name, tag=None, stream=False, decode=False, auth_config=None):
                assert stream and decode
                docker.pushes.append((f"{name}:{tag}", auth_config))
                return docker._push(name, tag)

        class Client:
            api = Api()

            def close(self):
                docker.closed += 1

        return Client()

    def _push(self, name: str, tag: str):
        ref = f"{name}:{tag}"
        assert ref in self.names, f"pushed {ref}, which was not tagged"
        m = self.local[self.names[ref]]
        failure, lands = self.failures["push"].pop(0) if self.failures.get("push") else (None, len(m.layers))
        yield {"status": f"The push refers to repository [{name}]"}
        held = self.blobs.setdefault(name, set())
        host = name.partition("/")[0]
        for digest in sorted(m.layers)[:lands]:
            other = next((r for r, b in self.blobs.items() if r != name and r.startswith(host) and digest in b), None)
            status = ("Layer already exists" if digest in held else
                      f"Mounted from {other.partition('/')[2]}" if other else "Pushed")
            held.add(digest)
            yield {"status": "Pushing", "progressDetail": {"current": 1}, "id": short(digest)}
            yield {"status": status, "progressDetail": {}, "id": short(digest)}
        if isinstance(failure, BaseException):
            raise failure
        if failure is not None:
            yield {"errorDetail": {"message": failure}, "error": failure}
            return
        self.manifests[m.digest] = m
        self.tags[ref] = m.digest
        yield {"status": f"{tag}: digest: {m.digest} size: 1880"}


def stall() -> urllib3.exceptions.ReadTimeoutError:
    """What docker's progress stream raises when the engine sends nothing for the client's timeout."""
    return urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.")  # type: ignore[arg-type]


class FakeEcr:
    """boto3's ECR client as far as shimimg uses it; raises botocore's real exceptions."""

    def __init__(self, repositories=(), mutability="IMMUTABLE", fail=None):
        self.repos = {name: mutability for name in repositories}
        self.calls: list[tuple] = []
        self.fail = fail or {}

    @staticmethod
    def error(code: str, op: str):
        from botocore.exceptions import ClientError

        return ClientError({"Error": {"Code": code, "Message": f"{code} says no"}}, op)

    def _maybe_fail(self, op):
        if op in self.fail:
            raise self.fail[op]

    def describe_repositories(self, registryId, repositoryNames):
        self.calls.append(("describe", registryId, tuple(repositoryNames)))
        self._maybe_fail("describe")
        name = repositoryNames[0]
        if name not in self.repos:
            raise self.error("RepositoryNotFoundException", "DescribeRepositories")
        return {"repositories": [{"repositoryName": name, "imageTagMutability": self.repos[name]}]}

    def create_repository(self, registryId, repositoryName, imageTagMutability, imageScanningConfiguration):
        self.calls.append(("create", registryId, repositoryName, imageTagMutability, imageScanningConfiguration))
        self._maybe_fail("create")
        if repositoryName in self.repos:
            raise self.error("RepositoryAlreadyExistsException", "CreateRepository")
        self.repos[repositoryName] = imageTagMutability
        return {"repository": {"repositoryName": repositoryName, "imageTagMutability": imageTagMutability}}

    def get_authorization_token(self, registryIds):
        self.calls.append(("token", tuple(registryIds)))
        self._maybe_fail("token")
        token = base64.b64encode(f"AWS:{TOKEN}".encode()).decode()
        return {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": f"https://{ECR}"}]}


class EngineSocket:
    """A dockerd on a unix socket for the real docker SDK: it answers the version check, and a
    push with one layer's progress, then either goes silent (``"stall"``) or hangs up (``"drop"``)."""

    def __init__(self, behaviour: str):
        self.dir = tempfile.mkdtemp(prefix="eng")  # short: a socket path has ~100 characters at most
        self.path = os.path.join(self.dir, "docker.sock")
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"ApiVersion": "1.45", "Version": "26.1.5"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = json.dumps({"status": "Pushed", "progressDetail": {}, "id": short(L1)}).encode() + b"\r\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if behaviour == "stall":
                    owner.release.wait(10)
                self.close_connection = True

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def get_request(self):
                conn, _ = super().get_request()
                return conn, ("local", 0)

        self.server = Server(self.path, Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"unix://{self.path}"

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
