"""The only module that runs containers for ``invoke``: one image under the Runtime Interface Emulator.

Containers go through the docker SDK (docker-py); invocations are plain HTTP to the emulator's
port; what the emulator prints is read by ``rie_output``.

A container must not outlive what it is for, even when shimimg itself is killed (SIGKILL leaves
no chance to clean up): each one runs under docker's init with a lifetime enforced inside it (the
function's timeout per invocation plus a margin; then its main process is ended and the container
stops), and carries labels naming its owner (boot id, pid namespace, pid, start time) and its
expiry, so the next ``invoke`` removes containers whose owner is gone or whose time is up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shimimg.errors import ShimimgError
from shimimg.localinvoke.client import Emulator, docker_errors, engine_down, exited, short

log = logging.getLogger("shimimg.localinvoke.rie")

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


def connect() -> Any:
    """A docker SDK client for the engine the docker CLI would use; a clear error when it is down."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker_errors() as e:
        raise engine_down(short(e)) from None
    return client


def ping() -> None:
    """Fail early, before any build, when the engine is not there."""
    connect().close()


def _start_error(e: BaseException, spec: Spec) -> ShimimgError:
    text = short(e)
    if re.search(r"address already in use|port is already allocated", text):
        # The port docker names: --port's, or the debugger's (--debug-port).
        m = re.search(r"127\.0\.0\.1:(\d+)", text)
        port = int(m.group(1)) if m else spec.port
        if port and port in spec.extra_ports:
            return ShimimgError(f"port {port} on 127.0.0.1 is already in use", hint="pick another with --debug-port")
        if port:
            return ShimimgError(
                f"port {port} on 127.0.0.1 is already in use",
                hint="pick another with --port, or leave --port out and Docker picks a free one",
            )
    return ShimimgError(f"docker could not start a container from {spec.image}: {text}")


def _start_time(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]


def _machine() -> str:
    """Boot id and pid namespace: where a pid means the same process as here."""
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    return f"{boot}:{re.sub(r'[^0-9]', '', os.readlink('/proc/self/ns/pid'))}"


def owner() -> str:
    """This process, as the next invoke can tell whether it still runs: boot id, pid namespace, pid,
    start time."""
    try:
        return f"{_machine()}:{os.getpid()}:{_start_time(os.getpid())}"
    except (OSError, IndexError):
        return ""


def _owner_gone(value: str) -> bool:
    """The owner ran here and is no longer running (a pid reused since counts as gone)."""
    try:
        boot, pidns, pid, start = value.split(":")
        if f"{boot}:{pidns}" != _machine():
            # Another machine's engine, a reboot, or another pid namespace (a CI job's container
            # on a shared engine): this /proc cannot tell, only the expiry does.
            return False
        pid_number = int(pid)
    except (OSError, ValueError):
        return False
    try:
        return _start_time(pid_number) != start
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False


def remove_stale(client: Any) -> list[str]:
    """Remove invoke containers whose owner is gone or whose lifetime is over; their names."""
    removed = []
    try:
        found = client.containers.list(all=True, filters={"label": LABEL})
    except docker_errors():
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
        return []  # create() says so, naming the platform
    except docker_errors() as e:
        raise ShimimgError(f"docker could not inspect the image {image}: {short(e)}") from None
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
        if spec.network and "network" in short(e).lower():
            raise ShimimgError(f"docker network {spec.network!r} does not exist",
                               hint="create it (docker network create NAME); `docker network ls` lists them") from None
        raise ShimimgError(f"docker could not create a container from {spec.image}: {short(e)}") from None
    except docker_errors() as e:
        raise ShimimgError(f"docker could not create a container from {spec.image}: {short(e)}") from None


def _remove(client: Any, container: Any, name: str) -> None:
    import docker.errors

    try:
        if container is None:
            # Interrupted between the engine creating it and create() returning: find it by name.
            container = client.containers.get(name)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker_errors() as e:
        log.warning("could not remove container %s: %s (remove it with `docker rm -f %s`)", name, short(e), name)


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
        except docker_errors() as e:
            raise _start_error(e, spec) from None
        binding = (container.ports or {}).get(RIE_PORT) or []
        if not binding and container.status in ("exited", "dead"):
            raise exited(container)
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
