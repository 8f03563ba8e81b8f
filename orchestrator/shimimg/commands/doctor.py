"""``shimimg doctor``: what shimimg needs on this machine, one line per check, and what to do about
each missing piece. Exit 1 when something needed is missing.

Checks: Python, the Docker engine, buildx, the builder (and COPY --link), emulation for the target
architecture when it is not the engine's own, Go (needed to build from source), the base image
(held locally, or reachable in its registry), and credentials for ``--repository`` when given.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shimimg import dockercli, ui
from shimimg.commands.schema import SCHEMA_VERSION
from shimimg.config import Settings
from shimimg.errors import EXIT_ERROR, EXIT_OK, ShimimgError
from shimimg.plan.records import DOCKER_ARCH


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    hint: str = ""


def _guard(name: str, call: Callable[[], Check], *, required: bool = True) -> Check:
    try:
        return call()
    except ShimimgError as e:
        return Check(name, False, e.message, required, e.hint or "")


def _python() -> Check:
    ok = sys.version_info >= (3, 9)
    return Check("python", ok, f"{platform.python_version()} ({sys.executable})", hint="" if ok else "use Python 3.9+")


def _engine() -> Check:
    eng = dockercli.engine()
    return Check("engine", True, f"Docker {eng.version} ({eng.arch})")


def _buildx(settings: Settings) -> Check:
    eng = dockercli.buildx(settings.builder)
    info = dockercli.inspect_builder(settings.builder)
    link = "COPY --link" if eng.supports_link else "no COPY --link (layer digests will not stay stable)"
    ok = info.running or info.driver == "docker"
    return Check("builder", ok, f"{info.name or 'default'}: driver {info.driver}, BuildKit {info.buildkit or '?'}, "
                 f"{link}", hint="" if ok else f"start it: docker buildx inspect --bootstrap {info.name}")


def _emulation(settings: Settings) -> Check:
    want = f"linux/{DOCKER_ARCH[settings.arch]}"
    info = dockercli.inspect_builder(settings.builder)
    if want in info.platforms:
        return Check("emulation", True, f"{want} is among the builder's platforms")
    binfmt = "/proc/sys/fs/binfmt_misc/qemu-aarch64" if settings.arch == "arm64" else ""
    detail = f"the builder lists {', '.join(info.platforms) or 'no platforms'}, not {want}"
    if binfmt and os.path.exists(binfmt):
        detail += f" ({binfmt} exists: restart the builder)"
    return Check("emulation", False, detail,
                 hint="install qemu-user-static and binfmt-support (or docker run --privileged --rm "
                      "tonistiigi/binfmt --install arm64), or build on an arm64 machine")


def _go() -> Check:
    from shimimg.gobuild.gocmd import BuildEnv, go_env

    env = go_env(Path.cwd(), BuildEnv("arm64", ()))
    return Check("go", True, f"{env['GOVERSION']} ({env['GOROOT']})", required=False)


def _base(settings: Settings) -> Check:
    ref = settings.base_ref
    remote_builder = settings.builder is not None and not dockercli.buildx(settings.builder).local
    local = None if remote_builder else dockercli.image_id(ref)
    if local:
        # For the target architecture: the engine's default view shows its own platform only
        # (issue 20: "linux/amd64" was reported for an arm64 target).
        want = f"linux/{DOCKER_ARCH[settings.arch]}"
        if dockercli.has_platform(ref, want):
            return Check("base", True, f"{ref} held locally for {want} ({local[:19]})")
        return Check("base", False, f"{ref} is held locally, but not for {want}",
                     hint=f"pull or build it for {want} (docker pull --platform {want} {ref}), or pass --arch")
    from shimimg.registry import transport

    try:
        remote = transport.remote_image(ref, env=None, timeout=settings.timeout)
    except transport.RegistryFailure as e:
        return Check("base", False, f"{ref}: not held locally, and its registry says: {e.detail}",
                     hint="check the network, or pull it once (docker pull), or pass --base-image a mirror")
    if remote is None:
        where = "in its registry (the remote builder cannot see the engine's images)" if remote_builder else \
            "held locally nor found in its registry"
        return Check("base", False, f"{ref}: not {where}", hint="check --base-image; a remote builder needs the base "
                     "in a registry it can reach")
    return Check("base", True, f"{ref} reachable in its registry ({remote.digest[:19]})")


def _credentials(settings: Settings, repository: str, profile: str | None = None) -> Check:
    """Whether this machine's credentials get in: an ECR token from the API (the repository may
    not exist yet: push --create-repository makes it), or docker's own credentials."""
    from shimimg import registry
    from shimimg.registry import ecr, transport
    from shimimg.registry.credentials import private_config

    repo = registry.parse_repository(repository)
    endpoint = settings.registry_endpoint or repo.host
    env = None
    with contextlib.ExitStack() as stack:
        if repo.is_ecr:
            client = ecr.ecr_client(repo.region, timeout=settings.timeout, retries=settings.retries, profile=profile)
            env = stack.enter_context(private_config({endpoint: ecr.ecr_login(client, repo)}))
        try:
            transport.remote_image(f"{endpoint}/{repo.name}:shimimg-doctor-probe", env=env, timeout=settings.timeout)
        except transport.RegistryFailure as e:
            # Only an answer about the probe tag or the repository itself (no such tag, no such
            # repository yet) means the registry let us in: a registry that never answered, or
            # answered anything else, has not (issue 19).
            answered = e.kind == "not-found" or (
                e.kind == "denied" and re.search(r"name unknown|does not exist in the registry", e.output, re.I))
            if not answered:
                hint = ("check the AWS credentials in use" if repo.is_ecr and e.kind in ("auth", "no-credentials")
                        else f"run `docker login {endpoint}`" if e.kind in ("auth", "no-credentials", "helper")
                        else f"check that {endpoint} is up and reachable from here (--timeout, SHIMIMG_TIMEOUT)")
                return Check("credentials", False, f"{repo.uri}: {e.detail}", hint=hint)
    how = "an ECR token from the API" if repo.is_ecr else "docker's own credentials"
    return Check("credentials", True, f"{repo.uri}: {how} accepted by {endpoint}")


def _sam() -> Check:
    """The SAM CLI, for `sam local` on build's output and `sam deploy` in a pipeline (not needed
    by shimimg itself)."""
    import shutil
    import subprocess

    path = shutil.which("sam")
    hint = "install the AWS SAM CLI (pip install aws-sam-cli) to run `sam local` and `sam deploy` on the output"
    if path is None:
        return Check("sam", False, "not on PATH", required=False, hint=hint)
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("sam", False, f"{path} does not run: {e}", required=False, hint=hint)
    if r.returncode != 0:
        return Check("sam", False, f"{path} --version failed: {(r.stderr or r.stdout).strip()[-200:]}",
                     required=False, hint=hint)
    return Check("sam", True, f"{r.stdout.strip()} ({path})", required=False)


def checks(settings: Settings, repository: str | None, profile: str | None = None) -> list[Check]:
    out = [_python(), _guard("engine", _engine)]
    if out[-1].ok:
        out.append(_guard("builder", lambda: _buildx(settings)))
        if out[-1].ok:
            out.append(_guard("emulation", lambda: _emulation(settings)))
    out.append(_guard("go", _go, required=False))
    out.append(_sam())
    if out[1].ok:
        out.append(_guard("base", lambda: _base(settings)))
    if repository:
        out.append(_guard("credentials", lambda: _credentials(settings, repository, profile)))
    return out


def run(*, settings: Settings, repository: str | None, as_json: bool, deploy: Any = None) -> int:
    """``deploy``: SAM's deploy options (samconfig.Deploy): its image repository stands in for
    --repository, its profile and region for the credentials check."""
    if deploy is not None:
        repository = repository or deploy.image_repository
        if repository and deploy.region:
            from shimimg.commands.samargs import check_region

            check_region([repository], deploy.region)
    found = checks(settings, repository, deploy.profile if deploy is not None else None)
    ok = all(c.ok for c in found if c.required)
    if as_json:
        ui.print_json({"schema_version": SCHEMA_VERSION, "command": "doctor", "ok": ok,
                       "checks": [asdict(c) for c in found]})
    else:
        rows = [[c.name, "ok" if c.ok else ("MISSING" if c.required else "missing (optional)"),
                 c.detail + (f" — {c.hint}" if c.hint and not c.ok else "")] for c in found]
        ui.print_table(rows, ["CHECK", "STATUS", "DETAIL"])
    return EXIT_OK if ok else EXIT_ERROR
