"""Push package images to registries and pin them by digest.

Each package image is pushed once, under a tag derived from its content plus any ``--tag``, and
every function of the package is then pinned to ``repository@sha256:...``: what was tested is
what deploys. ECR hosts get a token from the ECR API, used through a private docker config for
this run only; other registries use docker's own credentials (config file, credential helpers).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shimimg import dockercli
from shimimg.errors import ShimimgError
from shimimg.image.build import ImageResult
from shimimg.plan import DOCKER_ARCH, Package

log = logging.getLogger("shimimg.registry")

ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$"
)
ECR_FORM = "<account>.dkr.ecr.<region>.amazonaws.com/<name>"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:localhost|{_LABEL}(?:\.{_LABEL})*)(?::\d{{1,5}})?$")
# The distribution spec's repository name grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Lambda runs only a single-platform image manifest: an index (multi-platform, or carrying
# attestations) is refused at deploy time.
IMAGE_MANIFESTS = frozenset({
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
})
INSTALL_AWS = "pip install 'shimimg[aws]' (or pipx inject shimimg boto3)"
ECR_PUSH_ACTIONS = ("ecr:GetAuthorizationToken, ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, "
                    "ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage, ecr:BatchGetImage")


@dataclass(frozen=True)
class Repository:
    host: str  # as written, e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com" or "127.0.0.1:5000"
    name: str  # e.g. "team/orders"
    account: str = ""  # ECR only
    region: str = ""  # ECR only

    @property
    def is_ecr(self) -> bool:
        return bool(self.account)

    @property
    def uri(self) -> str:
        return f"{self.host}/{self.name}"

    def pinned(self, digest: str) -> str:
        return f"{self.uri}@{digest}"


def parse_repository(text: str) -> Repository:
    """``HOST[:PORT]/NAME`` → Repository; anything else is refused with the form expected."""
    raw = text.strip()
    if not raw:
        _malformed(text, "it is empty")
    if "://" in raw:
        _malformed(text, "a repository URI has no scheme (drop the https://)")
    if "@" in raw:
        _malformed(text, "it holds a digest; shimimg pins the digest itself")
    host, _, name = raw.partition("/")
    if not name:
        _malformed(text, "it names no registry host" if "/" not in raw else "it names no repository after the host")
    if ":" in name:
        _malformed(text, "it holds a tag; pass tags with --tag")
    if not ("." in host or ":" in host or host == "localhost"):
        _malformed(text, f"it names no registry host ({host!r} would mean Docker Hub, which Lambda cannot pull from)")
    if not _HOST.match(host):
        _malformed(text, f"{host!r} is not a registry host")
    if not _NAME.match(name):
        _malformed(text, f"{name!r} is not a repository name (lowercase letters, digits, and . _ - / between them)")
    m = ECR_HOST.match(host)
    if m:
        return Repository(host, name, account=m.group("account"), region=m.group("region"))
    if ".dkr.ecr" in host or host.endswith(".amazonaws.com"):
        _malformed(text, f"{host!r} looks like ECR but is not {ECR_FORM.split('/')[0]} (a 12-digit account)")
    return Repository(host, name)


def _malformed(text: str, why: str) -> None:
    raise ShimimgError(
        f"repository {text!r} is malformed: {why}",
        hint=f"give the repository as {ECR_FORM} (or HOST[:PORT]/NAME for another registry), "
             "optionally as PACKAGE=URI for one package",
    )


def parse_endpoint(text: str | None) -> str | None:
    if not text:
        return None
    endpoint = text.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
    if not _HOST.match(endpoint):
        raise ShimimgError(f"registry endpoint {text!r} is not HOST[:PORT]",
                           hint="e.g. --registry-endpoint 127.0.0.1:5000")
    return endpoint


def parse_specs(specs: Sequence[str]) -> tuple[Repository | None, dict[str, Repository]]:
    """``--repository`` values: one ``URI`` for every package, and ``PACKAGE=URI`` for single ones."""
    default: Repository | None = None
    per_package: dict[str, Repository] = {}
    for spec in specs:
        key, sep, uri = spec.partition("=")
        if not sep:
            if default is not None:
                raise ShimimgError(
                    f"--repository given twice without a package: {default.uri} and {spec}",
                    hint="give one URI for all packages, and PACKAGE=URI (PACKAGE as its CodeUri) for others",
                )
            default = parse_repository(spec)
        else:
            per_package[key.strip()] = parse_repository(uri)
    if default is None and not per_package:
        raise ShimimgError("no repository to push to", hint=f"pass --repository {ECR_FORM}")
    return default, per_package


def _package_key(pkg: Package, key: str, base: Path) -> bool:
    return key == pkg.code_uri or (base / key).resolve() == pkg.path


def assign(packages: Sequence[Package], specs: Sequence[str], *, base: Path) -> dict[Path, Repository]:
    """The repository of each package (by ``Package.path``); ``base`` is the template's folder."""
    default, per_package = parse_specs(specs)
    out: dict[Path, Repository] = {}
    for key, repo in per_package.items():
        matches = [p for p in packages if _package_key(p, key, base)]
        if not matches:
            raise ShimimgError(
                f"--repository {key}=...: no package {key!r} in this template",
                hint="packages are named by their CodeUri: " + ", ".join(p.code_uri for p in packages),
            )
        for p in matches:
            out[p.path] = repo
    missing = [p for p in packages if p.path not in out]
    for p in missing:
        if default is None:
            raise ShimimgError(
                f"package {p.code_uri} has no repository",
                hint=f"add --repository {p.code_uri}={ECR_FORM}, or one --repository URI for every package",
            )
        out[p.path] = default
    return out


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for t in tags:
        if not _TAG.match(t):
            raise ShimimgError(f"--tag {t!r} is not a valid image tag",
                               hint="up to 128 letters, digits, _ . - (not starting with . or -)")
        if t not in out:
            out.append(t)
    return tuple(out)


def content_tag(digest: str) -> str:
    """``sha256:abcd...`` → ``sha256-abcd...`` (24 hex): named by the image, so it never has to move."""
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}-{hexdigest[:24]}"


# The ECR API (boto3, the optional ``aws`` extra).


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ShimimgError(
            "pushing to ECR needs boto3, which is not installed",
            hint=f"install the aws extra: {INSTALL_AWS}",
        ) from None
    return boto3


def require_ecr_support(repositories: Iterable[Repository]) -> None:
    """Stop before any build when an ECR push could not log in."""
    if any(r.is_ecr for r in repositories):
        _boto3()


def ecr_client(region: str) -> Any:
    """An ECR client for ``region``; the AWS_* environment (credentials, profile, and endpoint
    overrides such as AWS_ENDPOINT_URL_ECR) applies as in the AWS CLI."""
    boto3 = _boto3()
    from botocore import exceptions as bce
    from botocore.config import Config

    try:
        # Standard mode retries throttling and 5xx with backoff.
        return boto3.session.Session().client(
            "ecr", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
        )
    except bce.BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
        raise ShimimgError(
            f"cannot set up the AWS client for ECR in {region}: {e}",
            hint="check AWS_PROFILE and your AWS configuration (aws configure list)",
        ) from None


T = TypeVar("T")


def _ecr_call(repo: Repository, what: str, call: Callable[[], T]) -> T:
    from botocore import exceptions as bce

    where = f"ECR in {repo.region} (account {repo.account})"
    try:
        return call()
    except bce.NoCredentialsError:
        raise ShimimgError(
            f"no AWS credentials for {where}",
            hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (in CI: the job's role or "
                 "aws-actions/configure-aws-credentials)",
        ) from None
    except (bce.EndpointConnectionError, bce.ConnectTimeoutError) as e:
        raise ShimimgError(
            f"cannot reach the ECR API for {where}: {e}",
            hint="check the network, or AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL if you set one; "
                 "nothing was pushed and the template was not written",
        ) from None
    except bce.ClientError as e:
        err = e.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", str(e))
        hint = None
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                    "ExpiredTokenException"):
            hint = f"check the AWS credentials in use and that they allow {ECR_PUSH_ACTIONS}"
        raise ShimimgError(f"{where} refused {what}: {code}: {message}", hint=hint) from None
    except bce.BotoCoreError as e:
        raise ShimimgError(f"ECR API call {what} failed for {where}: {e}") from None


def ecr_login(client: Any, repo: Repository) -> tuple[str, str]:
    """(user, password) from ``get_authorization_token``: valid 12 hours, for this run only."""
    data = _ecr_call(repo, "GetAuthorizationToken",
                     lambda: client.get_authorization_token(registryIds=[repo.account]))
    token = data["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def ensure_repository(client: Any, repo: Repository, *, create: bool) -> str:
    """The repository's tag mutability ("MUTABLE"/"IMMUTABLE"); creates it when asked, idempotently."""
    from botocore.exceptions import ClientError

    def describe() -> dict | None:
        try:
            found = client.describe_repositories(registryId=repo.account, repositoryNames=[repo.name])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return None
            raise
        return found["repositories"][0]

    found = _ecr_call(repo, "DescribeRepositories", describe)
    if found is None:
        if not create:
            raise ShimimgError(
                f"ECR repository {repo.name} does not exist in account {repo.account} ({repo.region})",
                hint="create it, or pass --create-repository (immutable tags, scan on push); "
                     "nothing was pushed and the template was not written",
            )

        def create_it() -> dict:
            try:
                made = client.create_repository(
                    registryId=repo.account, repositoryName=repo.name, imageTagMutability="IMMUTABLE",
                    imageScanningConfiguration={"scanOnPush": True},
                )
            except ClientError as e:
                # Another pipeline created it meanwhile: theirs is as good as ours.
                if e.response.get("Error", {}).get("Code") == "RepositoryAlreadyExistsException":
                    return describe() or {}
                raise
            log.info("created ECR repository %s (immutable tags, scan on push)", repo.uri)
            return made["repository"]

        found = _ecr_call(repo, "CreateRepository", create_it)
    return found.get("imageTagMutability", "MUTABLE")


# Pushing.


@dataclass(frozen=True)
class Pushed:
    package: Package
    repository: Repository
    digest: str
    tags: tuple[str, ...]
    layers: int
    layers_pushed: int
    bytes_pushed: int  # compressed layer bytes this run uploaded
    # Blobs the registry copied from another of its repositories: nothing uploaded.
    layers_mounted: int = 0

    @property
    def image_uri(self) -> str:
        return self.repository.pinned(self.digest)


@dataclass(frozen=True)
class _Target:
    repository: Repository
    endpoint: str  # where docker sends the registry traffic
    env: Mapping[str, str] | None  # None: docker's own credentials
    immutable: bool

    def ref(self, tag: str) -> str:
        return f"{self.endpoint}/{self.repository.name}:{tag}"


def _failure(e: dockercli.RegistryFailure, target: _Target, *, attempts: int) -> ShimimgError:
    repo, endpoint = target.repository, target.endpoint
    unchanged = "the template was not written"
    if e.kind == "down":
        tried = f" (tried {attempts} times)" if attempts > 1 else ""
        return ShimimgError(f"cannot reach the registry at {endpoint}{tried}: {e.detail}; {unchanged}",
                            hint=f"check that {endpoint} is the right address and the registry is up, then run again")
    if e.kind == "transient":
        tried = f"{attempts} attempts" if attempts > 1 else "no retries"
        return ShimimgError(f"the registry at {endpoint} kept failing ({tried}): {e.detail}; {unchanged}",
                            hint="run the same command again: layers already uploaded are skipped")
    if e.kind in ("auth", "no-credentials") and repo.is_ecr:
        return ShimimgError(f"{endpoint} refused the ECR token for account {repo.account}: {e.detail}; {unchanged}",
                            hint=f"check that the AWS credentials allow {ECR_PUSH_ACTIONS}")
    if e.kind == "auth":
        return ShimimgError(f"{endpoint} refused the credentials docker has for it: {e.detail}; {unchanged}",
                            hint=f"run `docker login {endpoint}` with valid credentials (or fix the credential "
                                 "helper configured for it), then run again")
    if e.kind == "no-credentials":
        return ShimimgError(f"docker has no credentials for {endpoint}: {e.detail}; {unchanged}",
                            hint=f"run `docker login {endpoint}` (or configure a credential helper), then run again")
    if e.kind == "helper":
        return ShimimgError(f"docker's credential helper for {endpoint} failed: {e.detail}; {unchanged}",
                            hint=f"check credsStore/credHelpers in {dockercli.user_config_dir() / 'config.json'}")
    if e.kind == "denied":
        hint = ("does the repository exist? --create-repository creates it" if repo.is_ecr
                else f"check that your account may push to {repo.name}")
        return ShimimgError(f"{endpoint} denied access to {repo.name}: {e.detail}; {unchanged}", hint=hint)
    if e.kind == "immutable":
        return ShimimgError(f"{repo.uri} has immutable tags: {e.detail}; {unchanged}",
                            hint="choose another --tag: a tag in an immutable repository never moves")
    return ShimimgError(f"{e.ref} failed at the registry {endpoint}: {e.detail}; {unchanged}")


class _Pusher:
    def __init__(self, *, retries: int, sleep: Callable[[float], None], backoff: float) -> None:
        self.attempts = max(1, retries + 1)
        self.sleep = sleep
        self.backoff = backoff

    def retrying(self, target: _Target, what: str, call: Callable[[], T],
                 on_failure: Callable[[dockercli.RegistryFailure], None] = lambda e: None) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except dockercli.RegistryFailure as e:
                on_failure(e)
                if e.kind not in dockercli.RETRYABLE or attempt == self.attempts:
                    raise _failure(e, target, attempts=attempt) from None
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retrying in %.0fs (%d/%d)", what, e.detail, delay, attempt, self.attempts - 1)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def inspect(self, target: _Target, tag: str) -> dockercli.RemoteImage | None:
        ref = target.ref(tag)
        return self.retrying(target, ref, lambda: dockercli.remote_image(ref, env=target.env))

    def push(self, target: _Target, source: str, tag: str) -> dict[str, str]:
        """Tag, push (retrying; each attempt skips what landed), untag; the layers' outcomes."""
        ref = target.ref(tag)
        layers: dict[str, str] = {}

        # "Pushed" in one attempt is "Layer already exists" in the next: the first word counts.
        def keep(e: dockercli.RegistryFailure) -> None:
            for short, status in dockercli.pushed_layers(e.output).items():
                layers.setdefault(short, status)

        dockercli.tag(source, ref)
        try:
            outcome = self.retrying(target, f"docker push {ref}", lambda: dockercli.push(ref, env=target.env), keep)
            for short, status in outcome.items():
                layers.setdefault(short, status)
        finally:
            dockercli.untag(ref)
        return layers


def _refuse_shared_tags(images: Sequence[ImageResult], repositories: Mapping[Path, Repository],
                        tags: Sequence[str]) -> None:
    if not tags:
        return
    by_repo: dict[str, list[str]] = {}
    for img in images:
        by_repo.setdefault(repositories[img.package.path].uri, []).append(img.package.code_uri)
    shared = {uri: pkgs for uri, pkgs in by_repo.items() if len(pkgs) > 1}
    if shared:
        raise ShimimgError(
            "--tag would name several packages' images in one repository",
            problems=[f"{uri}: {', '.join(pkgs)}" for uri, pkgs in shared.items()],
            hint="give each package its own repository (--repository PACKAGE=URI), or push without --tag",
        )


def prepare(repositories: Iterable[Repository], *, create: bool, ecr: Callable[[str], Any] = ecr_client) -> None:
    """Check (or create) every ECR repository before the build, so missing credentials, permissions or
    repositories stop a pipeline in seconds rather than after its build."""
    clients: dict[str, Any] = {}
    for repo in sorted({r for r in repositories if r.is_ecr}, key=lambda r: r.uri):
        if repo.region not in clients:
            clients[repo.region] = ecr(repo.region)
        ensure_repository(clients[repo.region], repo, create=create)


def _connect(repositories: Iterable[Repository], *, endpoint: str | None, create: bool,
             ecr: Callable[[str], Any], stack: ExitStack) -> dict[Repository, _Target]:
    repos = sorted(set(repositories), key=lambda r: r.uri)
    credentials: dict[str, tuple[str, str]] = {}
    mutability: dict[Repository, str] = {}
    clients: dict[str, Any] = {}
    for repo in repos:
        if not repo.is_ecr:
            continue
        if repo.region not in clients:
            clients[repo.region] = ecr(repo.region)
        client = clients[repo.region]
        mutability[repo] = ensure_repository(client, repo, create=create)
        credentials[endpoint or repo.host] = ecr_login(client, repo)
    env = stack.enter_context(dockercli.private_config(credentials)) if credentials else None
    return {
        repo: _Target(repo, endpoint or repo.host, env if repo.is_ecr else None,
                      immutable=mutability.get(repo) == "IMMUTABLE")
        for repo in repos
    }


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def _check_image(target: _Target, tag: str, remote: dockercli.RemoteImage, pkg: Package) -> None:
    if remote.media_type not in IMAGE_MANIFESTS:
        raise ShimimgError(
            f"{target.repository.uri}:{tag} is a {remote.media_type or 'manifest of unknown type'}, "
            "not a single-platform image manifest; Lambda refuses it; the template was not written",
            hint="build without attestations and for one platform (shimimg build does: --provenance=false, "
                 "--sbom=false); with the containerd image store, check that the local image is not an index",
        )
    want = DOCKER_ARCH[pkg.arch]
    if remote.architecture and remote.architecture != want:
        raise ShimimgError(
            f"{target.repository.uri}:{tag} is linux/{remote.architecture}, but {pkg.code_uri} runs on {pkg.arch}; "
            "the template was not written",
            hint="build again: the local image is not the one shimimg built for this package",
        )


def push_all(
    images: Sequence[ImageResult],
    repositories: Mapping[Path, Repository],
    *,
    tags: Sequence[str] = (),
    force: bool = False,
    create_repository: bool = False,
    endpoint: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    ecr: Callable[[str], Any] = ecr_client,
) -> list[Pushed]:
    """Push every package image once and return where each landed, by digest.

    Order, so a refusal leaves tags as they were: every image goes up under its content tag
    first; then every ``--tag`` is checked, and only when none points at another image (or
    ``force``) are they moved. The caller writes the template only after this returns.
    """
    tags = check_tags(tags)
    _refuse_shared_tags(images, repositories, tags)
    pusher = _Pusher(retries=retries, sleep=sleep, backoff=backoff)
    with ExitStack() as stack:
        targets = _connect([repositories[i.package.path] for i in images], endpoint=endpoint,
                           create=create_repository, ecr=ecr, stack=stack)
        landed: list[tuple[ImageResult, _Target, str, str, dict]] = []
        for img in images:
            target = targets[repositories[img.package.path]]
            landed.append((img, target, *_push_content(pusher, img, target, force=force)))

        moves: list[tuple[ImageResult, _Target, str, str]] = []
        conflicts: list[str] = []
        for img, target, digest, _, _ in landed:
            for t in tags:
                remote = pusher.inspect(target, t)
                if remote is None:
                    moves.append((img, target, digest, t))
                elif remote.digest != digest:
                    conflicts.append(f"{target.repository.uri}:{t} points at {remote.digest}, "
                                     f"this build of {img.package.code_uri} is {digest}")
                    if force and target.immutable:
                        raise ShimimgError(
                            f"{target.repository.uri} has immutable tags: --force cannot move {t}; "
                            "the template was not written", hint="choose another --tag")
                    moves.append((img, target, digest, t))
        if conflicts and not force:
            raise ShimimgError(
                "tags already point at other images; none was moved and the template was not written",
                problems=conflicts,
                hint="pass --force to move them, or choose other --tag values (the images are pushed "
                     "under their content tags)",
            )
        for img, target, digest, t in moves:
            pusher.push(target, img.image_id or img.tag, t)
            remote = pusher.inspect(target, t)
            if remote is None or remote.digest != digest:
                raise ShimimgError(f"{target.repository.uri}:{t} does not point at {digest} after the push; "
                                   "the template was not written", hint="run again")
            log.info("%s: tagged %s:%s", img.package.code_uri, target.repository.uri, t)

    out = []
    for img, target, digest, ctag, stats in landed:
        out.append(Pushed(
            package=img.package, repository=target.repository, digest=digest, tags=(ctag, *tags),
            layers=stats["layers"], layers_pushed=stats["layers_pushed"], bytes_pushed=stats["bytes"],
            layers_mounted=stats["mounted"],
        ))
    return out


def _push_content(pusher: _Pusher, img: ImageResult, target: _Target, *, force: bool) -> tuple[str, str, dict]:
    """Push ``img`` under its content tag; (digest, tag, upload stats)."""
    pkg = img.package
    expected = img.digest or img.image_id
    ctag = content_tag(expected)
    uri = f"{target.repository.uri}:{ctag}"
    remote = pusher.inspect(target, ctag)
    outcomes: dict[str, str] = {}
    if remote is not None and remote.digest != expected and _config_digest(pusher, target, ctag) == img.image_id:
        # The classic image store names images by config digest and compresses at push time.
        expected = remote.digest
    if remote is not None and remote.digest == expected:
        log.info("%s: %s is already there", pkg.code_uri, uri)
    elif remote is not None and not force:
        raise ShimimgError(
            f"{uri} points at {remote.digest}, not at this build ({expected}); the template was not written",
            hint="pass --force to overwrite it",
        )
    else:
        log.info("%s: pushing %s", pkg.code_uri, uri)
        outcomes = pusher.push(target, img.image_id or img.tag, ctag)
        remote = pusher.inspect(target, ctag)
        if remote is None:
            raise ShimimgError(f"{uri} is missing right after its push; the template was not written",
                               hint="check the registry's logs, then run again")
    _check_image(target, ctag, remote, pkg)
    manifest = pusher.retrying(target, uri, lambda: dockercli.remote_manifest(target.ref(ctag), env=target.env))
    layers = manifest.get("layers", [])
    pushed = {s for s, status in outcomes.items() if status == "Pushed"}
    sent = [layer for layer in layers if _short(layer["digest"]) in pushed]
    mounted = sum(1 for status in outcomes.values() if status.startswith("Mounted from"))
    stats = {"layers": len(layers), "layers_pushed": len(sent), "bytes": sum(int(x.get("size", 0)) for x in sent),
             "mounted": mounted}
    if outcomes:
        log.info("%s: %s@%s: %d of %d layer(s) uploaded (%s)%s", pkg.code_uri, target.repository.uri, remote.digest,
                 stats["layers_pushed"], stats["layers"], human_bytes(stats["bytes"]),
                 f", {mounted} mounted from other repositories" if mounted else "")
    return remote.digest, ctag, stats


def _config_digest(pusher: _Pusher, target: _Target, tag: str) -> str:
    ref = target.ref(tag)
    manifest = pusher.retrying(target, ref, lambda: dockercli.remote_manifest(ref, env=target.env))
    return (manifest.get("config") or {}).get("digest", "")


def human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"
