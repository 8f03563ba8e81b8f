"""Talking to a running emulator: one invocation over HTTP on loopback, and the container's output
that belongs to it."""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.localinvoke.output import Invocation, parse_report

# The emulator is on loopback: never route to it through an HTTP(S)_PROXY from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests.exceptions

    return (docker.errors.DockerException, requests.exceptions.RequestException)


def short(e: BaseException) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[-1] if str(text).strip() else type(e).__name__


def engine_down(detail: str) -> ShimimgError:
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return ShimimgError(
        f"the Docker engine at {where} does not answer ({detail})",
        hint="start the Docker daemon (e.g. `sudo dockerd &` or Docker Desktop), or set DOCKER_HOST",
    )


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
        except docker_errors():
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
            except docker_errors() as e:
                raise engine_down(short(e)) from None
            if self.container.status in ("exited", "dead"):
                raise exited(self.container)
            if time.monotonic() - t0 > deadline_s:
                raise ShimimgError(
                    f"the emulator did not answer on 127.0.0.1:{self.port} within {deadline_s:g} s",
                    problems=tail(self.all_logs()),
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
                f"no answer from the emulator within {timeout_s:g} s ({short(e)})",
                problems=tail(self.all_logs()),
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
            except docker_errors() as e:
                raise engine_down(short(e)) from None
            if any(line.startswith("REPORT RequestId:") for line in output) or time.monotonic() > deadline:
                return output, emulator
            time.sleep(0.05)


def exited(container: Any) -> ShimimgError:
    code = container.attrs.get("State", {}).get("ExitCode")
    try:
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except docker_errors():
        logs = ""
    return ShimimgError(
        f"the container exited (code {code}) before the emulator answered",
        problems=tail(logs),
        hint="the lines above are the container's output",
    )


def tail(logs: str, n: int = 30) -> list[str]:
    lines = [line for line in logs.splitlines() if line.strip()]
    return lines[-n:] or ["(the container printed nothing)"]
