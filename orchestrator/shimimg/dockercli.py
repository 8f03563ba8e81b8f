"""The only module that runs the ``docker`` CLI for building: engine and buildx checks, the build
itself, and looking up local images. (Registry traffic is ``registry.transport``; invoke's
containers are ``rie``.)

Knows docker's flags and failure messages, and turns them into ShimimgErrors that say what to do.
Every value shimimg passes comes as ``--flag=value`` or after its flag from a validated setting,
and the context is a folder shimimg made, so nothing from a template or config is read as a flag.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shimimg.errors import ShimimgError
from shimimg.proc import CommandFailed, ProgramMissing, Result, run

log = logging.getLogger("shimimg.docker")
INSTALL_HINT = "install Docker Engine with the buildx plugin (https://docs.docker.com/engine/install/)"


def _docker(args: Sequence[str], *, check: bool = True, timeout: float | None = None,
            env: Mapping[str, str] | None = None) -> Result:
    try:
        return run(["docker", *args], check=check, timeout=timeout, env=env)
    except ProgramMissing:
        raise ShimimgError("docker is not installed (or not on PATH)", hint=INSTALL_HINT) from None
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
    # The builder is the engine itself (buildx's docker driver): its images are the engine's.
    local: bool = True
    driver: str = "docker"
    arch: str = ""  # the engine's own architecture (docker's name: amd64, arm64)


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
    return Engine(version=version, supports_link=_major(version) >= 23, arch=server.get("Arch", ""))


@dataclass(frozen=True)
class BuilderInfo:
    name: str
    driver: str
    buildkit: str  # version, "" when unknown
    platforms: tuple[str, ...]
    running: bool


def inspect_builder(builder: str | None) -> BuilderInfo:
    args = ["buildx", "inspect", *([f"--builder={builder}"] if builder else [])]
    r = _docker(args, check=False, timeout=60)
    if r.rc != 0:
        raise ShimimgError(
            f"buildx builder {builder or '(default)'!r} is not available: {r.err.strip()}",
            hint="list builders with `docker buildx ls`, or drop --builder to use the default",
        )

    def field(name: str) -> str:
        m = re.search(rf"^\s*{name}:\s*(.*)$", r.out, re.M | re.I)
        return m.group(1).strip() if m else ""

    platforms = tuple(p.strip().rstrip("*") for p in field("Platforms").split(",") if p.strip())
    return BuilderInfo(name=field("Name") or (builder or ""), driver=field("Driver"),
                       buildkit=field("BuildKit version") or field("BuildKit"),
                       platforms=platforms, running=field("Status") == "running")


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
    info = inspect_builder(builder)
    m = re.match(r"v?(\d+)\.(\d+)", info.buildkit)
    # A source build reports v0.0.0+unknown: it is current, so it has COPY --link.
    link = True if not m or info.buildkit.startswith("v0.0.0") else (int(m.group(1)), int(m.group(2))) >= (0, 10)
    return Engine(version=eng.version, supports_link=link, local=info.driver == "docker", driver=info.driver,
                  arch=eng.arch)


@dataclass(frozen=True)
class Built:
    tag: str
    digest: str  # the image manifest digest (sha256:...)
    output: str = ""  # BuildKit's plain progress, for what a push uploaded


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
    compression: str | None = None,
    push_to: str | None = None,
    push_names: Sequence[str] = (),
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
    what: str = "",
) -> Built:
    """``docker buildx build`` with one flag per line; the digest comes from --metadata-file.

    Into the local engine, or with ``push_to`` (a repository) straight from the builder to the
    registry, by digest only; with ``push_names`` (full references with tags) the same image goes
    up under those names (the caller names it by its digest, which it learns from the first push).

    ``compression`` of an image for the engine: "uncompressed" (plain tar layers, for an image that
    only runs here; the engine's own builder only), "gzip", or None (``--load``, the builder's
    default, unless a gzip level is set). Whatever goes to a registry is gzip, forced: BuildKit
    would otherwise reuse a plain layer it made for an earlier local build, and Lambda refuses a
    plain tar under Docker's media types (docs/design.md, "Compression").
    """
    with tempfile.TemporaryDirectory(prefix="shimimg-meta-") as tmp:
        meta = Path(tmp) / "metadata.json"
        cmd = ["buildx", "build"]
        if builder:
            cmd.append(f"--builder={builder}")
        cmd.append(f"--platform={platform}")
        # buildx's default provenance attestation turns a push into an image index, which Lambda refuses.
        cmd += ["--provenance=false", "--sbom=false"]
        level = "" if compression_level is None else f",compression-level={compression_level}"
        gzip = f",compression=gzip{level},force-compression=true"
        insecure_opt = ",registry.insecure=true" if insecure else ""
        if push_names:
            # One CSV field holds every name: quoted, since the names are separated by commas.
            cmd.append(f'--output=type=image,"name={",".join(push_names)}",push=true{insecure_opt}{gzip}')
        elif push_to:
            cmd.append(f"--output=type=image,name={push_to},push-by-digest=true,name-canonical=true,push=true"
                       f"{insecure_opt}{gzip}")
        elif compression == "uncompressed":
            # Compressing the layers is most of a cold build's image step, and unpacking them for
            # another platform much of the rest: plain tars cut both (docs/design.md, "Compression").
            cmd.append(f"--output=type=image,name={tag},compression=uncompressed")
        elif compression is None and compression_level is None:
            cmd += ["--load", f"--tag={tag}"]
        else:
            # The image exporter stores into the engine too, and takes the gzip level.
            cmd.append(f"--output=type=image,name={tag}{gzip}")
        cmd += [f"--metadata-file={meta}", "--progress=plain"]
        cmd += [f"--cache-from={c}" for c in cache_from]
        cmd += [f"--cache-to={c}" for c in cache_to]
        cmd += [f"--build-arg={k}={v}" for k, v in (build_args or {}).items()]
        cmd += ["--", str(context)]
        try:
            r = _docker(cmd, env=env)
        except CommandFailed as e:
            output = e.result.err.strip() or e.result.out.strip()
            tail = "\n".join(output.splitlines()[-25:])
            hint = "see the build output above"
            if re.search(r"failed to resolve source metadata|pull access denied|failed to do request|not found",
                         output):
                hint = ("the base image could not be found or pulled: check --base-image "
                        "(a local image must exist for this platform, a remote one must be reachable)")
            raise ShimimgError(f"docker buildx build failed for {what or tag}:\n{tail}", hint=hint) from None
        data = json.loads(meta.read_text() or "{}")
    return Built(tag=tag, digest=data.get("containerimage.digest", ""), output=r.err)


def image_id(ref: str) -> str | None:
    """The local image's ID, or None when the engine has no such image."""
    r = _docker(["image", "inspect", "--format={{.Id}}", ref], check=False, timeout=60)
    if r.rc != 0:
        if "No such image" in r.err or "not found" in r.err.lower():
            return None
        engine()  # a daemon that went away gets its own message
        raise ShimimgError(f"docker image inspect {ref} failed: {r.err.strip()}")
    return r.out.strip() or None


def image_labels(ref: str) -> dict[str, str] | None:
    """The local image's labels ({} when it has none), or None when the engine has no such image."""
    r = _docker(["image", "inspect", "--format={{json .Config.Labels}}", "--", ref], check=False, timeout=60)
    if r.rc != 0:
        return None
    try:
        return json.loads(r.out or "null") or {}
    except json.JSONDecodeError:
        return {}


def remove_image(ref: str) -> tuple[bool, str]:
    """``docker image rm`` of one tag, never forced: an image a container uses stays, with why."""
    r = _docker(["image", "rm", "--", ref], check=False, timeout=120)
    return r.rc == 0, (r.err.strip().splitlines() or [""])[-1]


def has_platform(ref: str, platform: str) -> bool:
    """Whether the engine holds ``ref`` for ``platform``. ``docker image inspect`` shows one
    platform only (its --platform needs API 1.49; Docker 26 speaks 1.45): creating a container
    for the platform, never pulling, answers for any engine. Nothing runs; it is removed."""
    # A command, for images that have none (nothing runs: create only checks one is given).
    r = _docker(["container", "create", "--pull=never", f"--platform={platform}", "--", ref, "true"], check=False,
                timeout=300)
    if r.rc == 0 and r.out.strip():
        _docker(["container", "rm", "--", r.out.strip()], check=False, timeout=60)
        return True
    return False


def unpack(ref: str, platform: str) -> bool:
    """Make a freshly loaded image of another platform usable by the engine's classic builder.

    With the containerd image store, ``buildx --load`` unpacks only the engine's own platform;
    creating a container unpacks the rest, while the classic builder (which ``sam local invoke``
    uses to add its emulator) fails with "parent snapshot ... does not exist" (moby/buildkit#3891,
    moby/moby#47823). Creating and removing a container, which runs nothing, settles it: containerd
    unpacks only the layer chain it does not hold yet (every layer from the first changed one on).
    True when the image is usable (or needed nothing).
    """
    if engine().arch and platform.endswith("/" + engine().arch):
        return True
    r = _docker(["container", "create", f"--platform={platform}", "--", ref], check=False, timeout=300)
    if r.rc == 0 and r.out.strip():
        _docker(["container", "rm", "--", r.out.strip()], check=False, timeout=60)
        return True
    log.warning("could not unpack %s for %s (`sam local` may fail with \"parent snapshot ... does not exist\" "
                "until a container is created from it): %s", ref, platform, r.err.strip())
    return False
