"""Talking to one registry: where an image goes (``Target``), the connection (``connect``,
``Pusher``), and what a remote image must be for Lambda (``check_image``).

Images built into the local engine are pushed by the engine; images a remote builder built were
pushed by the builder itself (by digest) and are only named here, registry-side. Every network
step is bounded (``--timeout`` without progress) and retried (``--retries``) when the failure is
transient.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from shimimg.plan.records import DOCKER_ARCH, Package
from shimimg.registry import ecr, transport
from shimimg.registry.credentials import private_config
from shimimg.registry.messages import UNCHANGED, failure
from shimimg.registry.refs import Repository

log = logging.getLogger("shimimg.registry")
T = TypeVar("T")

# Lambda runs only a single-platform image manifest: an index (multi-platform, or carrying
# attestations) is refused at deploy time.
IMAGE_MANIFESTS = frozenset({
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
})
_LOOPBACK = ("127.", "localhost", "[::1]")


@dataclass(frozen=True)
class Target:
    repository: Repository
    endpoint: str  # where the registry traffic goes
    env: Mapping[str, str] | None = None  # docker CLI environment with this run's credentials
    auth: Mapping[str, str] | None = None  # the same credentials for the engine API
    immutable: bool = False

    def ref(self, tag: str) -> str:
        return f"{self.endpoint}/{self.repository.name}:{tag}"

    @property
    def name(self) -> str:
        return f"{self.endpoint}/{self.repository.name}"

    @property
    def insecure(self) -> bool:
        """Plain HTTP, as docker allows for loopback registries only."""
        return self.endpoint.startswith(_LOOPBACK)


@dataclass(frozen=True)
class Stats:
    layers: int = 0
    # None: unknown (a builder's push, which BuildKit reports only as a whole).
    layers_pushed: int | None = 0
    bytes_pushed: int | None = 0  # compressed layer bytes this run uploaded
    layers_mounted: int | None = 0  # blobs the registry copied from another of its repositories


@contextlib.contextmanager
def connect(repositories: Sequence[Repository], *, endpoint: str | None, create: bool, timeout: float,
            retries: int, ecr_client: Callable[..., Any] = ecr.ecr_client) -> Iterator[dict[Repository, Target]]:
    """Check (or create) ECR repositories and log in, before anything is built; the credentials
    live in a private docker config until the block ends (also on an interrupt)."""
    repos = sorted(set(repositories), key=lambda r: r.uri)
    ecr.require_ecr_support(repos)
    credentials: dict[str, tuple[str, str]] = {}
    mutability: dict[Repository, str] = {}
    clients: dict[str, Any] = {}
    for repo in repos:
        if not repo.is_ecr:
            continue
        if repo.region not in clients:
            clients[repo.region] = ecr_client(repo.region, timeout=timeout, retries=retries)
        mutability[repo] = ecr.ensure_repository(clients[repo.region], repo, create=create)
        credentials[endpoint or repo.host] = ecr.ecr_login(clients[repo.region], repo)
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(private_config(credentials)) if credentials else None
        targets = {}
        for repo in repos:
            where = endpoint or repo.host
            user_secret = credentials.get(where) if repo.is_ecr else None
            auth = ({"username": user_secret[0], "password": user_secret[1], "serveraddress": where}
                    if user_secret else None)
            targets[repo] = Target(repo, where, env if repo.is_ecr else None, auth,
                                   immutable=mutability.get(repo) == "IMMUTABLE")
        yield targets


# Pushes a builder-made image again under the given full references; returns its digest.
Namer = Callable[[ImageResult, Sequence[str]], str]


class Pusher:
    def __init__(self, *, retries: int, timeout: float, sleep: Callable[[float], None] = time.sleep,
                 backoff: float = 1.0, namer: Namer | None = None) -> None:
        self.attempts = max(1, retries + 1)
        self.timeout = timeout
        self.sleep = sleep
        self.backoff = backoff
        self.namer = namer

    def retrying(self, target: Target, what: str, call: Callable[[], T],
                 on_failure: Callable[[transport.RegistryFailure], None] = lambda e: None) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except transport.RegistryFailure as e:
                on_failure(e)
                if e.kind not in transport.RETRYABLE or attempt == self.attempts:
                    raise failure(e, target.repository, target.endpoint, attempts=attempt,
                                  timeout=self.timeout) from None
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retrying in %.0fs (%d/%d)", what, e.detail, delay, attempt, self.attempts - 1)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def inspect(self, target: Target, tag: str) -> transport.RemoteImage | None:
        ref = target.ref(tag)
        return self.retrying(target, ref, lambda: transport.remote_image(ref, env=target.env, timeout=self.timeout))

    def inspect_digest(self, target: Target, digest: str) -> transport.RemoteImage | None:
        ref = f"{target.name}@{digest}"
        return self.retrying(target, ref, lambda: transport.remote_image(ref, env=target.env, timeout=self.timeout))

    def manifest(self, target: Target, ref: str) -> dict:
        return self.retrying(target, ref, lambda: transport.remote_manifest(ref, env=target.env, timeout=self.timeout))

    def push(self, target: Target, source: str, tag: str) -> tuple[dict[str, str], str]:
        """Tag, push through the engine (retrying; each attempt skips what landed), untag; returns
        each layer's outcome and the digest of the manifest the engine pushed ("" if it said none)."""
        ref = target.ref(tag)
        layers: dict[str, str] = {}
        digests: list[str] = []

        # "Pushed" in one attempt is "Layer already exists" in the next: the first word counts.
        def keep(e: transport.RegistryFailure) -> None:
            for short, status in e.layers.items():
                layers.setdefault(short, status)

        transport.tag(source, ref)
        try:
            outcome = self.retrying(target, f"push {ref}",
                                    lambda: transport.push(ref, auth=target.auth, stall=self.timeout,
                                                           on_digest=digests.append), keep)
            for short, status in outcome.items():
                layers.setdefault(short, status)
        finally:
            transport.untag(ref)
        return layers, (digests[-1] if digests else "")

    def name_image(self, target: Target, img: ImageResult, tags: Sequence[str]) -> None:
        """Put ``tags`` on ``img`` in ``target``. An image the engine holds is pushed under each tag
        (its layers are there already: only the manifest goes). An image a builder pushed is built
        again — from BuildKit's cache — and pushed under the tags, and must come out the same."""
        if img.builder_output is None:
            for t in tags:
                self.push(target, img.image_id or img.tag, t)
            return
        if self.namer is None:
            raise AssertionError("a builder-pushed image needs a namer")
        refs = [target.ref(t) for t in tags]
        digest = self.namer(img, refs)
        if digest != img.digest:
            raise ShimimgError(
                f"{img.package.code_uri}: building it again to name it {', '.join(tags)} gave {digest}, not "
                f"{img.digest}; {UNCHANGED}",
                hint="the build is not reproducible on this builder (a base image tag that moved?); pin the base "
                     "image by digest and run again")


def check_image(target: Target, tag: str, remote: transport.RemoteImage, pkg: Package) -> None:
    if remote.media_type not in IMAGE_MANIFESTS:
        raise ShimimgError(
            f"{target.repository.uri}:{tag} is a {remote.media_type or 'manifest of unknown type'}, "
            f"not a single-platform image manifest; Lambda refuses it; {UNCHANGED}",
            hint="build without attestations and for one platform (shimimg build does: --provenance=false, "
                 "--sbom=false); with the containerd image store, check that the local image is not an index",
        )
    want = DOCKER_ARCH[pkg.arch]
    if remote.architecture and remote.architecture != want:
        raise ShimimgError(
            f"{target.repository.uri}:{tag} is linux/{remote.architecture}, but {pkg.code_uri} runs on {pkg.arch}; "
            f"{UNCHANGED}", hint="build again: the local image is not the one shimimg built for this package")

