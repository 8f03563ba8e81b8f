"""The only module that runs containers for ``invoke``: one image under the Runtime Interface Emulator.

Containers go through the docker SDK (docker-py); invocations are plain HTTP to the emulator's
port. What the emulator says (its REPORT lines, its timeout body, its own ``(rapid)`` log) is
parsed here and nowhere else. Formats were read off the RIE this project builds into the
stand-in base (module pseudo-version v0.0.0-20261030222936-bef5c4ba774d):

- container stdout: ``START``/``END``/``REPORT`` lines and everything the runtime printed;
- container stderr: the emulator's own lines, ``26 Nov 2026 18:35:24,122 [INFO] (rapid) ...``;
- a function error is HTTP 200 with ``{"errorMessage": ..., "errorType": ...}`` (no
  X-Amz-Function-Error header); a timeout is HTTP 200 with ``Task timed out after 3.00 seconds``;
  a runtime that exits is HTTP 502 with an empty body and no REPORT.
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

# The emulator is on loopback: never route to it through an HTTP(S)_PROXY from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))

log = logging.getLogger("shimimg.rie")

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RIE_PORT = "8080/tcp"
RIE_BINARY = "/usr/local/bin/aws-lambda-rie"
# Every invoke container carries it, so a test (or a user) can find any left behind.
LABEL = "io.shimimg.invoke"

_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(?P<key>[A-Za-z][A-Za-z ]*?): (?P<value>[0-9.]+)")
_RAPID = re.compile(r"\(rapid\) (?P<text>.*)$")
_RAPID_INIT = re.compile(r"INIT REPORT\(durationMs: (?P<ms>[0-9.]+)\)")
_TIMEOUT_TEXT = re.compile(r"Task timed out after (?P<seconds>[0-9.]+) seconds")
# Keys of the error document runtimes send; a response with other keys is a result, not an error.
_ERROR_KEYS = {"errorMessage", "errorType", "stackTrace", "requestId", "cause"}


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


@dataclass(frozen=True)
class Report:
    """One ``REPORT`` line of the emulator."""

    request_id: str
    duration_ms: float
    billed_ms: float | None = None
    init_ms: float | None = None  # "Init Duration", on the first invocation only
    memory_mb: int | None = None


@dataclass(frozen=True)
class Invocation:
    status: int  # HTTP status of the emulator's answer
    body: bytes
    output: tuple[str, ...]  # what the container printed for this invocation (START ... REPORT)
    emulator: tuple[str, ...]  # the emulator's own log lines for this invocation
    seconds: float  # wall clock, as the client saw it
    report: Report | None = None

    @property
    def init_ms(self) -> float | None:
        """Runtime init this invocation paid for, if it started one (the first, or the next after a reset).

        The emulator initialises lazily, inside the first invoke: its REPORT "Init Duration" covers
        only its own bookkeeping, while its log's ``INIT REPORT(durationMs: ...)`` measures the
        runtime starting up to its first /next call, which is what Lambda reports as Init Duration.
        """
        for line in self.emulator:
            m = _RAPID_INIT.search(line)
            if m:
                return float(m.group("ms"))
        return self.report.init_ms if self.report else None

    @property
    def timed_out(self) -> bool:
        """The emulator stopped the function at its timeout.

        This emulator answers ``Task timed out after N.00 seconds`` as a bare body; Lambda itself
        (and newer emulators) send an error document of type Sandbox.Timedout. Either counts, and
        so does an answer that is no JSON at all while the emulator logged a reset for a timeout
        (its log can trail into the next invocation, so a JSON answer never counts by the log alone).
        """
        text = self.body.decode("utf-8", "replace").strip() if len(self.body) < 4096 else ""
        if _TIMEOUT_TEXT.fullmatch(text):
            return True
        err = self.error
        if err and err[0] == "Sandbox.Timedout":
            return True
        try:
            json.loads(self.body)
            return False
        except (ValueError, UnicodeDecodeError):
            return any("Reset initiated: Timeout" in line for line in self.emulator)

    @property
    def error(self) -> tuple[str, str] | None:
        """(errorType, errorMessage) when the function answered with an error document."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(data, dict) and "errorMessage" in data and set(data) <= _ERROR_KEYS:
            return str(data.get("errorType") or ""), str(data["errorMessage"])
        return None


def parse_report(line: str) -> Report | None:
    m = _REPORT.match(line.strip())
    if not m:
        return None
    values = {f.group("key").strip(): f.group("value") for f in _FIELD.finditer(m.group("fields"))}
    if "Duration" not in values:
        return None
    mem = values.get("Memory Size")
    return Report(
        request_id=m.group("id"),
        duration_ms=float(values["Duration"]),
        billed_ms=float(values["Billed Duration"]) if "Billed Duration" in values else None,
        init_ms=float(values["Init Duration"]) if "Init Duration" in values else None,
        memory_mb=int(float(mem)) if mem else None,
    )


def rapid_text(line: str) -> str:
    """The message of one emulator log line, without its timestamp and level."""
    m = _RAPID.search(line)
    return m.group("text") if m else line


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


def _create(client: Any, spec: Spec, name: str) -> Any:
    import docker.errors

    kwargs: dict[str, Any] = dict(
        name=name,
        platform=spec.platform,
        environment=dict(spec.environment),
        ports={RIE_PORT: ("127.0.0.1", spec.port)},
        labels={LABEL: "1", f"{LABEL}.function": spec.function},
        detach=True,
    )
    if spec.command:
        kwargs["command"] = list(spec.command)
    if spec.entrypoint:
        kwargs["entrypoint"] = list(spec.entrypoint)
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
