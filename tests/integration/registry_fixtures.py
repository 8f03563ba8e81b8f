"""A real registry (Debian's docker-registry, htpasswd auth, on loopback), a throttling proxy in
front of it, moto's ECR API server, and docker client configs for the push tests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import missing

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
# The access log line of a finished blob upload: PUT .../blobs/uploads/<id>?...digest=sha256%3A<hex> → 201.
_BLOB_PUT = re.compile(
    r'"PUT /v2/(?P<name>\S+)/blobs/uploads/\S*digest=sha256(?:%3A|:)(?P<hex>[0-9a-f]{64})\S* '
    r'HTTP/1\.1" 201'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Registry:
    """``docker-registry serve`` on 127.0.0.1 with htpasswd (bcrypt) users, storage and a debug log in ``root``."""

    root: Path
    users: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def start(self) -> Registry:
        self.root.mkdir(parents=True, exist_ok=True)
        htpasswd = self.root / "htpasswd"
        lines = [
            subprocess.run(["htpasswd", "-Bbn", u, p], capture_output=True, text=True, check=True).stdout.strip()
            for u, p in self.users.items()
        ]
        htpasswd.write_text("\n".join(lines) + "\n")
        config = self.root / "config.yml"
        config.write_text(
            json.dumps(
                {  # YAML is a superset of JSON
                    "version": 0.1,
                    "log": {"level": "debug", "formatter": "text", "accesslog": {"disabled": False}},
                    "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
                    # A fixed secret keeps upload state valid across a restart.
                    "http": {"addr": self.address, "secret": "shimimg-tests"},
                    "auth": {"htpasswd": {"realm": "shimimg-tests", "path": str(htpasswd)}},
                }
            )
        )
        log = self.log.open("a")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        wait_port(self.port)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_offset(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_text(self, since: int = 0) -> str:
        with self.log.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def blob_uploads(self, since: int = 0, name: str | None = None) -> list[str]:
        """Digests of blobs uploaded (not mounted, not skipped) since a log offset."""
        return [
            f"sha256:{m['hex']}" for m in _BLOB_PUT.finditer(self.log_text(since)) if name is None or m["name"] == name
        ]

    def request(
        self, path: str, *, method: str = "GET", accept: str = MANIFEST_TYPES, user: str | None = None
    ) -> tuple[int, dict, bytes]:
        user = user or next(iter(self.users))
        token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        req = urllib.request.Request(
            f"http://{self.address}{path}", method=method, headers={"Authorization": f"Basic {token}", "Accept": accept}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def manifest(self, name: str, reference: str) -> tuple[str, dict, str]:
        """(Docker-Content-Digest, manifest, sha256 of the body) for a tag or digest."""
        status, headers, body = self.request(f"/v2/{name}/manifests/{reference}")
        assert status == 200, (status, body[:300])
        return headers.get("Docker-Content-Digest", ""), json.loads(body), "sha256:" + hashlib.sha256(body).hexdigest()

    def blob(self, name: str, digest: str) -> bytes:
        status, _, body = self.request(f"/v2/{name}/blobs/{digest}", accept="*/*")
        assert status == 200, (status, body[:300])
        return body

    def blob_size(self, name: str, digest: str) -> int:
        status, headers, _ = self.request(f"/v2/{name}/blobs/{digest}", method="HEAD", accept="*/*")
        return int(headers.get("Content-Length", 0)) if status == 200 else 0


class SlowProxy:
    """A TCP proxy on loopback that lets each connection send at most ``rate`` bytes/s upstream,
    so a push lasts long enough to kill the registry in the middle of it."""

    def __init__(self, target_port: int, rate: int | None) -> None:
        self.target_port = target_port
        self.rate = rate
        self.port = free_port()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, throttled: bool) -> None:
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
                if throttled and self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def docker_config(path: Path, auths: dict[str, tuple[str, str]]) -> Path:
    """A docker client config holding ``auths`` (the way `docker login` stores them without a helper),
    with the machine's CLI plugins (buildx) still found."""
    path.mkdir(parents=True, exist_ok=True)
    real = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    config = {
        "auths": {host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()} for host, (u, p) in auths.items()},
        "cliPluginsExtraDirs": [str(real / "cli-plugins")],
    }
    (path / "config.json").write_text(json.dumps(config))
    # The machine's buildx builders (the remote BuildKit) stay known.
    if (real / "buildx").is_dir() and not (path / "buildx").exists():
        (path / "buildx").symlink_to(real / "buildx")
    return path


@pytest.fixture(scope="session")
def registry_tools():
    for tool in ("docker-registry", "htpasswd"):
        if not shutil.which(tool):
            missing(tool, "scripts/provision.sh registry")


# The login of the registry each module gets from conftest's `registry` fixture.
USER, PASSWORD = "ci", "pushing-s3cret"


@pytest.fixture(scope="session")
def moto_ecr():
    """moto's server on loopback; yields its endpoint URL (AWS_ENDPOINT_URL_ECR)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        missing("moto[server]", ".venv/bin/pip install -e '.[dev]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
