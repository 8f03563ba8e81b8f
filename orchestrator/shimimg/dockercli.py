"""The only module that runs the ``docker`` CLI (engine checks, buildx, image inspect, tag, push).

Knows docker's flags and failure messages, and turns them into ShimimgErrors that say what to do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.proc import CommandFailed, ProgramMissing, Result, run

log = logging.getLogger("shimimg.docker")


def _docker(args: Sequence[str], *, check: bool = True, timeout: float | None = None, env=None) -> Result:
    try:
        return run(["docker", *args], check=check, timeout=timeout, env=env)
    except ProgramMissing:
        raise ShimimgError(
            "docker is not installed (or not on PATH)",
            hint="install Docker Engine with the buildx plugin (https://docs.docker.com/engine/install/)",
        ) from None
    except subprocess.TimeoutExpired:
        raise ShimimgError(
            f"`docker {' '.join(args[:2])}` did not answer within {timeout:.0f} s",
            hint="the Docker engine seems stuck: check `docker info`, restart dockerd, and run again",
        ) from None


@dataclass(frozen=True)
class Engine:
    version: str
    # COPY --link needs the Dockerfile frontend 1.4+: built into dockerd 23+ and BuildKit 0.10+.
    supports_link: bool


def _major(version: str) -> int:
    m = re.match(r"v?(\d+)", version)
    return int(m.group(1)) if m else 0


@cache
def engine() -> Engine:
    r = _docker(["version", "--format", "{{json .Server}}"], check=False, timeout=30)
    server = None
    if r.rc == 0:
        try:
            server = json.loads(r.out or "null")
        except json.JSONDecodeError:
            server = None
    if not server:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        detail = (r.err.strip().splitlines() or ["no answer"])[-1]
        raise ShimimgError(
            f"the Docker engine at {where} does not answer ({detail})",
            hint="start the Docker daemon (e.g. `sudo dockerd &` or Docker Desktop), or set DOCKER_HOST",
        )
    version = server.get("Version", "")
    return Engine(version=version, supports_link=_major(version) >= 23)


@cache
def buildx(builder: str | None = None) -> Engine:
    """Check buildx (and the builder); returns what the builder's BuildKit supports."""
    eng = engine()
    r = _docker(["buildx", "version"], check=False, timeout=30)
    if r.rc != 0:
        raise ShimimgError(
            "the docker buildx plugin is missing",
            hint="install it (Debian/Ubuntu: docker-buildx or docker-buildx-plugin; or "
            "https://github.com/docker/buildx#installing) and run again",
        )
    if builder is None:
        return eng
    r = _docker(["buildx", "inspect", builder], check=False, timeout=60)
    if r.rc != 0:
        raise ShimimgError(
            f"buildx builder {builder!r} is not available: {r.err.strip()}",
            hint="list builders with `docker buildx ls`, or drop --builder to use the default",
        )
    m = re.search(r"Buildkit:\s*v?(\d+)\.(\d+)", r.out)
    link = True if not m else (int(m.group(1)), int(m.group(2))) >= (0, 10)
    return Engine(version=eng.version, supports_link=link)


@dataclass(frozen=True)
class Built:
    tag: str
    digest: str  # the image manifest digest (sha256:...)


def build(
    context: Path,
    *,
    tag: str,
    platform: str,
    builder: str | None = None,
    cache_from: Sequence[str] = (),
    cache_to: Sequence[str] = (),
    build_args: Mapping[str, str] | None = None,
    compression_level: int | None = None,
    what: str = "",
) -> Built:
    """``docker buildx build`` with one flag per line; the digest comes from --metadata-file."""
    with tempfile.TemporaryDirectory(prefix="shimimg-meta-") as tmp:
        meta = Path(tmp) / "metadata.json"
        cmd = ["buildx", "build"]
        if builder:
            cmd += ["--builder", builder]
        cmd += ["--platform", platform]
        # buildx's default provenance attestation turns a push into an image index, which Lambda refuses.
        cmd += ["--provenance=false", "--sbom=false"]
        # Into the local engine: pushes go through `docker push`, which skips layers the
        # registry has and resumes after a failure.
        if compression_level is None:
            cmd += ["--load", "--tag", tag]
        else:
            # The image exporter stores into the engine too, and takes the gzip level: compressing
            # the layers is most of a cold build's image step (8.2 s of 12.5 s for 50 binaries).
            cmd += ["--output", f"type=image,name={tag},compression=gzip,compression-level={compression_level}"]
        cmd += ["--metadata-file", str(meta)]
        cmd += ["--progress", "plain"]
        for c in cache_from:
            cmd += ["--cache-from", c]
        for c in cache_to:
            cmd += ["--cache-to", c]
        for k, v in (build_args or {}).items():
            cmd += ["--build-arg", f"{k}={v}"]
        cmd.append(str(context))
        try:
            _docker(cmd)
        except CommandFailed as e:
            output = e.result.err.strip() or e.result.out.strip()
            tail = "\n".join(output.splitlines()[-25:])
            hint = "see the build output above"
            if re.search(
                r"failed to resolve source metadata|pull access denied|failed to do request|not found", output
            ):
                hint = (
                    "the base image could not be found or pulled: check --base-image "
                    "(a local image must exist for this platform, a remote one must be reachable)"
                )
            raise ShimimgError(f"docker buildx build failed for {what or tag}:\n{tail}", hint=hint) from None
        data = json.loads(meta.read_text() or "{}")
    return Built(
        tag=tag,
        digest=data.get("containerimage.digest", ""),
    )


def image_inspect(ref: str) -> dict | None:
    r = _docker(["image", "inspect", ref], check=False, timeout=60)
    if r.rc != 0:
        if "No such image" in r.err or "not found" in r.err.lower():
            return None
        engine()  # a daemon that went away gets its own message
        raise ShimimgError(f"docker image inspect {ref} failed: {r.err.strip()}")
    data = json.loads(r.out)
    return data[0] if data else None


# Registries: tag, push, inspect, and a private docker config for a run's own credentials.
# docker's and buildx's failure messages are sorted into kinds here; registry.py decides what
# to retry and what to tell the user.


class RegistryFailure(Exception):
    def __init__(self, kind: str, ref: str, detail: str, output: str = "") -> None:
        super().__init__(f"{ref}: {detail}")
        self.kind = kind
        self.ref = ref
        self.detail = detail
        self.output = output


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
RETRYABLE = frozenset({"down", "transient"})


def failure_kind(output: str) -> str:
    for kind, pattern in _FAILURE_KINDS:
        if re.search(pattern, output, re.IGNORECASE):
            return kind
    return "other"


def _registry(args: Sequence[str], *, ref: str, env: Mapping[str, str] | None, timeout: float | None) -> Result:
    try:
        r = _docker(args, check=False, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RegistryFailure("transient", ref, f"no answer within {timeout:.0f}s") from None
    if r.rc == 0:
        return r
    output = "\n".join(s for s in (r.out.strip(), r.err.strip()) if s)
    kind = failure_kind(r.err or r.out)
    if kind == "engine":
        engine.cache_clear()
        engine()
    lines = [ln.strip() for ln in (r.err.strip() or r.out.strip()).splitlines() if ln.strip()]
    detail = (lines[-1] if lines else f"exit {r.rc}").removeprefix("ERROR: ")
    # Query strings carry upload state or presigned storage URLs: noise at best, a signature at worst.
    detail = re.sub(r'(https?://[^\s"?]+)\?[^\s"]*', r"\1", detail)
    raise RegistryFailure(kind, ref, detail, output)


def tag(source: str, target: str) -> None:
    r = _docker(["image", "tag", source, target], check=False, timeout=60)
    if r.rc != 0:
        raise ShimimgError(
            f"docker image tag {source} {target} failed: {r.err.strip()}",
            hint="check that the image still exists (`docker image ls`) and build again",
        )


def untag(ref: str) -> None:
    """Drop a name; the image stays while another name (the package's own tag) holds it."""
    _docker(["image", "rm", ref], check=False, timeout=60)


_PUSH_LAYER = re.compile(r"^([0-9a-f]{12}): (Pushed|Layer already exists|Mounted from \S+)\s*$", re.MULTILINE)


def pushed_layers(output: str) -> dict[str, str]:
    """``docker push`` progress → short layer id → "Pushed", "Layer already exists" or "Mounted from x"."""
    return {m.group(1): m.group(2) for m in _PUSH_LAYER.finditer(output)}


def push(ref: str, *, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``docker push``: uploads only the blobs the registry lacks; returns each layer's outcome.

    A failed push raises RegistryFailure whose ``output`` still lists the layers that made it.
    """
    r = _registry(["push", ref], ref=ref, env=env, timeout=None)
    return pushed_layers(r.out)


@dataclass(frozen=True)
class RemoteImage:
    digest: str
    media_type: str
    # Empty for an index: it has one config per platform.
    architecture: str
    os: str


def remote_image(ref: str, *, env: Mapping[str, str] | None = None) -> RemoteImage | None:
    """What ``ref`` names in its registry, or None when the tag is not there."""
    try:
        r = _registry(["buildx", "imagetools", "inspect", ref, "--format", "{{json .}}"], ref=ref, env=env, timeout=120)
    except RegistryFailure as e:
        if e.kind == "not-found":
            return None
        raise
    data = json.loads(r.out)
    manifest = data.get("manifest") or {}
    image = data.get("image") or {}
    single = isinstance(image, dict) and "architecture" in image
    return RemoteImage(
        digest=manifest.get("digest", ""),
        media_type=manifest.get("mediaType", ""),
        architecture=image.get("architecture", "") if single else "",
        os=image.get("os", "") if single else "",
    )


def remote_manifest(ref: str, *, env: Mapping[str, str] | None = None) -> dict:
    r = _registry(["buildx", "imagetools", "inspect", ref, "--raw"], ref=ref, env=env, timeout=120)
    return json.loads(r.out)


def user_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


_HELPER = """#!/bin/sh
# Answers docker's "get" for one registry for the length of one shimimg run; stores nothing.
[ "$1" = get ] || exit 1
cat >/dev/null
exec cat '{secret}'
"""


@contextmanager
def private_config(credentials: Mapping[str, tuple[str, str]]) -> Iterator[dict[str, str]]:
    """A throwaway DOCKER_CONFIG handing docker ``credentials`` (registry host → user, secret).

    Yields the environment for docker commands. The secrets sit in a 0700 temporary folder
    removed on the way out: never in argv, the environment, a log line or the user's docker
    config. Each registry gets a credential helper rather than an ``auths`` entry, because a
    config without ``credsStore`` still uses a keyring helper when one is installed
    (docker-credential-secretservice, -pass, ...), and that ignores ``auths`` (docker/cli
    credentials.DetectDefaultStore). The user's engine (current context) and CLI plugins
    (buildx) stay in use.
    """
    user_dir = user_config_dir()
    try:
        user = json.loads((user_dir / "config.json").read_text())
    except (OSError, ValueError):
        user = {}
    root = Path(tempfile.mkdtemp(prefix="shimimg-docker-"))
    try:
        os.chmod(root, 0o700)
        bin_dir = root / "bin"
        bin_dir.mkdir(mode=0o700)
        helpers = {}
        for i, (host, (username, secret)) in enumerate(sorted(credentials.items())):
            secret_file = root / f"credentials-{i}.json"
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"ServerURL": host, "Username": username, "Secret": secret}, f)
            helper = bin_dir / f"docker-credential-shimimg-{i}"
            helper.write_text(_HELPER.format(secret=secret_file))
            helper.chmod(0o700)
            helpers[host] = f"shimimg-{i}"
        config: dict = {"credHelpers": helpers}
        extra = [str(user_dir / "cli-plugins"), *user.get("cliPluginsExtraDirs", [])]
        config["cliPluginsExtraDirs"] = extra
        if user.get("currentContext"):
            config["currentContext"] = user["currentContext"]
        if (user_dir / "contexts").is_dir():
            (root / "contexts").symlink_to(user_dir / "contexts")
        (root / "config.json").write_text(json.dumps(config, indent=2))
        yield {"DOCKER_CONFIG": str(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    finally:
        shutil.rmtree(root, ignore_errors=True)
