"""The only module that runs containers for ``invoke``: one image under the Runtime Interface Emulator.

Containers go through the docker SDK (docker-py); invocations are plain HTTP to the emulator's
port; what the emulator prints is read by ``rie_output``.

A container must not outlive what it is for, even when shimimg itself is killed (SIGKILL leaves
no chance to clean up): each one runs under docker's init with a lifetime enforced inside it (the
function's timeout per invocation plus a margin; then its main process is ended and the container
stops), and carries labels naming its owner (boot id, pid, start time) and its expiry, so the next
``invoke`` removes containers whose owner is gone or whose time is up.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.rie_output import Invocation, parse_report

# The emulator is on loopback: never route to it through an HTTP(S)_PROXY from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))

log = logging.getLogger("shimimg.rie")

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RIE_PORT = "8080/tcp"
RIE_BINARY = "/usr/local/bin/aws-lambda-rie"
# Every invoke container carries it, so a test (or a user) can find any left behind.
LABEL = "io.shimimg.invoke"
OWNER_LABEL = f"{LABEL}.owner"
EXPIRES_LABEL = f"{LABEL}.expires"
# Ends the container's main process after its lifetime ($1 seconds), from inside the container.
_LIFETIME = 'l=$1; shift; (sleep "$l"; kill -TERM $$; sleep 2; kill -KILL $$) >/dev/null 2>&1 & exec "$@"'

@dataclass(frozen=True)
class Spec:
    """How to run one function's image: what Lambda would derive from the function's configuration."""

    image: str
    platform: str  # linux/arm64 or linux/amd64
    function: str  # for the container's name and labels
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int | None = None
    port: int | None = None  # host port on 127.0.0.1; None lets Docker pick a free one
    lifetime_s: int = 3600  # the container ends itself after this long
    network: str | None = None  # a docker network to join (e.g. a local DynamoDB's)
    extra_ports: tuple[int, ...] = ()  # published on 127.0.0.1 as the same number (a debugger)


def _docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests.exceptions

    return (docker.errors.DockerException, requests.exceptions.RequestException)


def _engine_down(detail: str) -> ShimimgError:
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return ShimimgError(
        f"the Docker engine at {where} does not answer ({detail})",
        hint="start the Docker daemon (e.g. `sudo dockerd &` or Docker Desktop), or set DOCKER_HOST",
    )


def connect() -> Any:
    """A docker SDK client for the engine the docker CLI would use; a clear error when it is down."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except _docker_errors() as e:
        raise _engine_down(_short(e)) from None
    return client


def ping() -> None:
    """Fail early, before any build, when the engine is not there."""
    connect().close()


def _short(e: BaseException) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[-1] if str(text).strip() else type(e).__name__


def _start_error(e: BaseException, spec: Spec) -> ShimimgError:
    text = _short(e)
    if spec.port and re.search(r"address already in use|port is already allocated", text):
        return ShimimgError(
            f"port {spec.port} on 127.0.0.1 is already in use",
            hint="pick another with --port, or leave --port out and Docker picks a free one",
        )
    return ShimimgError(f"docker could not start a container from {spec.image}: {text}")


def owner() -> str:
    """This process, as the next invoke can tell whether it still runs: boot id, pid, start time."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
        start = open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""
    return f"{boot}:{os.getpid()}:{start}"


def _owner_gone(value: str) -> bool:
    """The owner ran on this machine and is no longer running (a pid reused since counts as gone)."""
    try:
        boot, pid, start = value.split(":")
        if boot != open("/proc/sys/kernel/random/boot_id").read().strip():
            return False  # another machine's engine (or a reboot): only its expiry tells
        current = open(f"/proc/{int(pid)}/stat").read().rsplit(")", 1)[1].split()[19]
        return current != start
    except FileNotFoundError:
        return True
    except (OSError, ValueError, IndexError):
        return False


def remove_stale(client: Any) -> list[str]:
    """Remove invoke containers whose owner is gone or whose lifetime is over; their names."""
    removed = []
    try:
        found = client.containers.list(all=True, filters={"label": LABEL})
    except _docker_errors():
        return removed
    now = time.time()
    for c in found:
        labels = c.labels or {}
        try:
            expired = float(labels.get(EXPIRES_LABEL, "inf")) < now
        except ValueError:
            expired = False
        if expired or _owner_gone(labels.get(OWNER_LABEL, "")):
            _remove(client, c, c.name)
            removed.append(c.name)
    if removed:
        log.info("removed %d invoke container(s) left by an earlier run: %s", len(removed), ", ".join(removed))
    return removed


def _image_entrypoint(client: Any, image: str) -> list[str]:
    import docker.errors

    try:
        config = client.images.get(image).attrs.get("Config") or {}
    except docker.errors.ImageNotFound:
        return []
    return list(config.get("Entrypoint") or [])


def _create(client: Any, spec: Spec, name: str) -> Any:
    import docker.errors

    ports: dict[str, Any] = {RIE_PORT: ("127.0.0.1", spec.port)}
    for p in spec.extra_ports:
        ports[f"{p}/tcp"] = ("127.0.0.1", p)
    entrypoint = list(spec.entrypoint) or _image_entrypoint(client, spec.image)
    kwargs: dict[str, Any] = dict(
        name=name,
        platform=spec.platform,
        environment=dict(spec.environment),
        ports=ports,
        labels={LABEL: "1", f"{LABEL}.function": spec.function, OWNER_LABEL: owner(),
                EXPIRES_LABEL: f"{time.time() + spec.lifetime_s:.0f}"},
        # docker's init is PID 1, so the lifetime guard below can end the emulator.
        init=True,
        entrypoint=["/bin/sh", "-c", _LIFETIME, "shimimg-lifetime"],
        command=[str(spec.lifetime_s), *entrypoint, *spec.command],
        detach=True,
    )
    if spec.network:
        kwargs["network"] = spec.network
    if spec.memory_mb:
        # Lambda caps the function at its MemorySize; so does `sam local`.
        kwargs["mem_limit"] = f"{spec.memory_mb}m"
    try:
        return client.containers.create(spec.image, **kwargs)
    except docker.errors.ImageNotFound:
        raise ShimimgError(
            f"no {spec.platform} image {spec.image} in the local Docker engine",
            hint="build it with `shimimg build` (`shimimg invoke` builds it unless --no-build is given)",
        ) from None
    except docker.errors.NotFound as e:
        if spec.network and "network" in _short(e).lower():
            raise ShimimgError(f"docker network {spec.network!r} does not exist",
                               hint="create it (docker network create NAME) or list them with `docker network ls`") from None
        raise ShimimgError(f"docker could not create a container from {spec.image}: {_short(e)}") from None
    except _docker_errors() as e:
        raise ShimimgError(f"docker could not create a container from {spec.image}: {_short(e)}") from None


def _remove(client: Any, container: Any, name: str) -> None:
    import docker.errors

    try:
        if container is None:
            # Interrupted between the engine creating it and create() returning: find it by name.
            container = client.containers.get(name)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except _docker_errors() as e:
        log.warning("could not remove container %s: %s (remove it with `docker rm -f %s`)", name, _short(e), name)


class Emulator:
    """A running container with the emulator answering on ``port``."""

    def __init__(self, container: Any, port: int) -> None:
        self.container = container
        self.port = port
        self.url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        self._seen = {"stdout": 0, "stderr": 0}

    def _new_lines(self, stream: str) -> list[str]:
        """Complete lines the container wrote to ``stream`` since the last call."""
        data = self.container.logs(stdout=stream == "stdout", stderr=stream == "stderr")
        start = self._seen[stream]
        end = data.rfind(b"\n") + 1
        if end <= start:
            return []
        self._seen[stream] = end
        return data[start:end].decode("utf-8", "replace").splitlines()

    def all_logs(self) -> str:
        try:
            return self.container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except _docker_errors():
            return ""

    def wait_ready(self, deadline_s: float) -> float:
        """Poll until the emulator answers HTTP; returns the seconds it took.

        A TCP connect is not enough: docker's port proxy accepts on the host side before anything
        listens in the container, then closes the connection.
        """
        t0 = time.monotonic()
        while True:
            try:
                _LOCAL.open(f"http://127.0.0.1:{self.port}/", timeout=2).close()
                return time.monotonic() - t0
            except urllib.error.HTTPError:
                return time.monotonic() - t0  # any HTTP answer (the emulator says 404 for /) means ready
            except (OSError, http.client.HTTPException):
                pass
            try:
                self.container.reload()
            except _docker_errors() as e:
                raise _engine_down(_short(e)) from None
            if self.container.status in ("exited", "dead"):
                raise _exited(self.container)
            if time.monotonic() - t0 > deadline_s:
                raise ShimimgError(
                    f"the emulator did not answer on 127.0.0.1:{self.port} within {deadline_s:g} s",
                    problems=_tail(self.all_logs()),
                    hint="the lines above are the container's output",
                )
            time.sleep(0.2)

    def invoke(self, event: bytes, *, timeout_s: float) -> Invocation:
        """POST one event; collect the output the container printed for it up to its REPORT line."""
        request = urllib.request.Request(
            self.url, data=event, method="POST", headers={"Content-Type": "application/json"}
        )
        t0 = time.monotonic()
        try:
            with _LOCAL.open(request, timeout=timeout_s) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except (OSError, http.client.HTTPException) as e:
            raise ShimimgError(
                f"no answer from the emulator within {timeout_s:g} s ({_short(e)})",
                problems=_tail(self.all_logs()),
            ) from None
        seconds = time.monotonic() - t0
        output, emulator = self._collect(wait_for_report=status == 200)
        report = None
        for line in output:
            parsed = parse_report(line)
            if parsed:
                report = parsed
        return Invocation(status, body, tuple(output), tuple(emulator), seconds, report)

    def _collect(self, *, wait_for_report: bool) -> tuple[list[str], list[str]]:
        # Docker's log copier can trail the HTTP answer by a moment: wait for this invocation's
        # REPORT (the emulator writes none when the runtime crashed, so then only a short grace).
        deadline = time.monotonic() + (10.0 if wait_for_report else 1.0)
        output: list[str] = []
        emulator: list[str] = []
        while True:
            try:
                output += self._new_lines("stdout")
                emulator += self._new_lines("stderr")
            except _docker_errors() as e:
                raise _engine_down(_short(e)) from None
            if any(line.startswith("REPORT RequestId:") for line in output) or time.monotonic() > deadline:
                return output, emulator
            time.sleep(0.05)


def _exited(container: Any) -> ShimimgError:
    code = container.attrs.get("State", {}).get("ExitCode")
    try:
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except _docker_errors():
        logs = ""
    return ShimimgError(
        f"the container exited (code {code}) before the emulator answered",
        problems=_tail(logs),
        hint="the lines above are the container's output",
    )


def _tail(logs: str, n: int = 30) -> list[str]:
    lines = [line for line in logs.splitlines() if line.strip()]
    return lines[-n:] or ["(the container printed nothing)"]


@contextlib.contextmanager
def running(spec: Spec, *, ready_timeout_s: float = 120.0) -> Iterator[Emulator]:
    """Start the image under the emulator, wait until it answers, and always remove the container.

    Removal happens on every way out: errors, Ctrl-C (KeyboardInterrupt), and a port that Docker
    could not bind (the container exists by then, created but not started).
    """
    client = connect()
    remove_stale(client)
    name = f"shimimg-invoke-{re.sub(r'[^a-zA-Z0-9_.-]', '-', spec.function).lower()}-{uuid.uuid4().hex[:8]}"
    container = None
    try:
        container = _create(client, spec, name)
        try:
            container.start()
            container.reload()
        except _docker_errors() as e:
            raise _start_error(e, spec) from None
        binding = (container.ports or {}).get(RIE_PORT) or []
        if not binding and container.status in ("exited", "dead"):
            raise _exited(container)
        if not binding:
            raise ShimimgError(f"docker published no host port for the emulator of {name}")
        emulator = Emulator(container, int(binding[0]["HostPort"]))
        waited = emulator.wait_ready(ready_timeout_s)
        log.debug("%s: emulator answers on 127.0.0.1:%d after %.1f s", name, emulator.port, waited)
        yield emulator
    finally:
        with _signals_deferred():
            _remove(client, container, name)
        client.close()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM while the container is removed; they arrive right after."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
