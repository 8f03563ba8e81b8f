"""The registry traffic: tag, push, and what a tag names remotely, with every step bounded.

Pushes go through the engine's API (the docker SDK) as a stream of progress messages, so a push
that moves no bytes for ``stall`` seconds is seen as stalled (no message arrives) and stopped by
closing the connection; the caller retries. Remote lookups run ``docker buildx imagetools`` with a
time limit. docker's failure messages are sorted into kinds here; ``messages`` says what to tell
the user and ``push`` what to retry.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shimimg.errors import ShimimgError
from shimimg.proc import ProgramMissing, Stalled, run


class RegistryFailure(Exception):
    def __init__(self, kind: str, ref: str, detail: str, output: str = "", layers: Mapping[str, str] | None = None):
        super().__init__(f"{ref}: {detail}")
        self.kind = kind
        self.ref = ref
        self.detail = detail
        self.output = output
        self.layers = dict(layers or {})  # what had landed before it failed


# (kind, pattern), first match wins: "push access denied ... no basic auth credentials" is a
# missing login, not a refusal.
_FAILURE_KINDS = (
    ("engine", r"Cannot connect to the Docker daemon|Is the docker daemon running"),
    ("helper", r"error getting credentials|docker-credential-\S+: (?:executable file )?not found"),
    ("no-credentials", r"no basic auth credentials|authorization failed: no"),
    ("immutable", r"tag invalid|cannot be overwritten because the repository is immutable"),
    ("auth", r"401 Unauthorized|unauthorized|authentication required|incorrect username or password|token has expired"),
    ("denied", r"403 Forbidden|denied|name unknown|does not exist in the registry"),
    ("down", r"connection refused|no such host|no route to host|network is unreachable|server misbehaving"),
    (
        "transient",
        r"EOF|connection reset|broken pipe|closed network connection|timeout|deadline exceeded"
        r"|toomanyrequests|too many requests"
        r"|\b50[0234]\b|Internal Server Error|Bad Gateway|Service Unavailable"
        r"|blob upload (?:unknown|invalid)",
    ),
    ("not-found", r"not found|manifest unknown"),
)
RETRYABLE = frozenset({"down", "transient", "stalled"})
# A query string up to the URL's end: a quote, a space, or the ": " that follows it in Go's errors.
_QUERY = re.compile(r'(https?://[^\s"?]+)\?[^\s"]*?(?=:?(?:[\s"]|$))')


def failure_kind(output: str) -> str:
    for kind, pattern in _FAILURE_KINDS:
        if re.search(pattern, output, re.IGNORECASE):
            return kind
    return "other"


def _detail(text: str, fallback: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    detail = (lines[-1] if lines else fallback).removeprefix("ERROR: ")
    # Query strings carry upload state or presigned storage URLs: noise at best, a signature at worst.
    return _QUERY.sub(r"\1", detail)


def _docker_cli(args: list[str], *, env: Mapping[str, str] | None, timeout: float, ref: str):
    try:
        r = run(["docker", *args], check=False, env=env, timeout=timeout)
    except ProgramMissing:
        raise ShimimgError("docker is not installed (or not on PATH)",
                           hint="install Docker Engine with the buildx plugin") from None
    except subprocess.TimeoutExpired:
        raise RegistryFailure("stalled", ref, f"no answer within {timeout:.0f} s") from None
    except Stalled as e:
        raise RegistryFailure("stalled", ref, f"no progress for {e.seconds:.0f} s") from None
    if r.rc == 0:
        return r
    output = "\n".join(s for s in (r.out.strip(), r.err.strip()) if s)
    raise RegistryFailure(failure_kind(r.err or r.out), ref, _detail(r.err or r.out, f"exit {r.rc}"), output)


def tag(source: str, target: str) -> None:
    try:
        r = run(["docker", "image", "tag", source, target], check=False, timeout=60)
    except ProgramMissing:
        raise ShimimgError("docker is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise ShimimgError(f"docker image tag {source} {target} did not finish within 60 s",
                           hint="check that dockerd is running and answers (`docker info`), then run again") from None
    if r.rc != 0:
        raise ShimimgError(f"docker image tag {source} {target} failed: {r.err.strip()}",
                           hint="check that the image still exists (`docker image ls`) and build again")


def untag(ref: str) -> None:
    """Drop a name; the image stays while another name (the package's own tag) holds it."""
    try:
        run(["docker", "image", "rm", ref], check=False, timeout=60)
    except (ProgramMissing, subprocess.TimeoutExpired):
        pass


_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def _split(ref: str) -> tuple[str, str]:
    name, _, tag_ = ref.rpartition(":")
    return name, tag_


def push(ref: str, *, auth: Mapping[str, str] | None, stall: float,
         on_progress: Callable[[str], None] | None = None,
         on_digest: Callable[[str], None] | None = None) -> dict[str, str]:
    """Push ``ref`` (a local tag) through the engine; returns each layer's outcome (short id →
    "Pushed", "Layer already exists" or "Mounted from x"). Stopped after ``stall`` seconds in
    which no bytes moved: the engine's own messages ("Retrying in 5 seconds", "Waiting") keep
    coming while a registry hangs, so only a layer's byte count rising or a layer finishing counts.
    ``on_digest`` gets the digest of the manifest the engine pushed (its ``aux`` record, or the
    "TAG: digest: sha256:... size: N" line): what shimimg pins, whatever the tag names later."""
    import docker
    import requests
    import urllib3

    layers: dict[str, str] = {}
    client = None
    try:
        try:
            client = docker.from_env(timeout=int(max(1, stall)))
        except docker.errors.DockerException as e:
            raise RegistryFailure("engine", ref, f"cannot reach the Docker engine: {e}", str(e)) from None
        name, tag_ = _split(ref)
        stream = client.api.push(name, tag=tag_, stream=True, decode=True,
                                 auth_config=dict(auth) if auth else None)
        moved = time.monotonic()
        sent: dict[str, int] = {}
        for msg in stream:
            if "error" in msg or "errorDetail" in msg:
                text = msg.get("error") or (msg.get("errorDetail") or {}).get("message", "")
                raise RegistryFailure(failure_kind(text), ref, _detail(text, "push failed"), text, layers)
            status, short = msg.get("status", ""), msg.get("id", "")
            pushed = (msg.get("aux") or {}).get("Digest") if isinstance(msg.get("aux"), dict) else None
            m = _PUSHED_DIGEST.search(status) if not pushed else None
            if on_digest and (pushed or m):
                on_digest(pushed or m.group(1))
            done = status in ("Pushed", "Layer already exists") or status.startswith("Mounted from")
            current = int((msg.get("progressDetail") or {}).get("current") or 0)
            if done or current > sent.get(short, 0) or "digest: sha256:" in status:
                moved = time.monotonic()
                sent[short] = max(current, sent.get(short, 0))
            if short and done:
                layers.setdefault(short, status)
            if on_progress and status:
                on_progress(status)
            if time.monotonic() - moved > stall:
                raise RegistryFailure("stalled", ref, f"no bytes moved for {stall:.0f} s (stopped)", status, layers)
    # docker reads the progress stream from urllib3 directly: a read timeout there (the stall)
    # and a connection that breaks mid-stream come as urllib3's errors, not requests'.
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError,
            urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as e:
        if "timed out" in str(e).lower() or isinstance(e, (requests.exceptions.ReadTimeout,
                                                          urllib3.exceptions.ReadTimeoutError)):
            raise RegistryFailure("stalled", ref, f"no progress for {stall:.0f} s (stopped)", str(e), layers) from None
        raise RegistryFailure("engine", ref, f"lost the Docker engine: {e}", str(e), layers) from None
    except docker.errors.DockerException as e:
        text = str(e)
        raise RegistryFailure(failure_kind(text), ref, _detail(text, "push failed"), text, layers) from None
    finally:
        if client is not None:
            # Closing the connection ends the engine's side of a stopped push too.
            client.close()
    return layers


@dataclass(frozen=True)
class RemoteImage:
    digest: str
    media_type: str
    # Empty for an index: it has one config per platform.
    architecture: str
    os: str


def remote_image(ref: str, *, env: Mapping[str, str] | None, timeout: float) -> RemoteImage | None:
    """What ``ref`` names in its registry, or None when the tag is not there."""
    try:
        r = _docker_cli(["buildx", "imagetools", "inspect", ref, "--format", "{{json .}}"], env=env,
                        timeout=timeout, ref=ref)
    except RegistryFailure as e:
        if e.kind == "not-found":
            return None
        raise
    data = json.loads(r.out)
    manifest = data.get("manifest") or {}
    image = data.get("image") or {}
    single = isinstance(image, dict) and "architecture" in image
    return RemoteImage(digest=manifest.get("digest", ""), media_type=manifest.get("mediaType", ""),
                       architecture=image.get("architecture", "") if single else "",
                       os=image.get("os", "") if single else "")


def remote_manifest(ref: str, *, env: Mapping[str, str] | None, timeout: float) -> dict:
    r = _docker_cli(["buildx", "imagetools", "inspect", ref, "--raw"], env=env, timeout=timeout, ref=ref)
    return json.loads(r.out)
