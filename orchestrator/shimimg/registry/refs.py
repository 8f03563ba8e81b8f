"""Repositories, tags and which package goes where: parsed with docker's reference grammar
(``shimimg.reference``), refused with the form expected."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shimimg import reference
from shimimg.errors import ShimimgError
from shimimg.plan.records import Package

ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?"
)
ECR_FORM = "<account>.dkr.ecr.<region>.amazonaws.com/<name>"


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


def _malformed(text: str, why: str) -> ShimimgError:
    return ShimimgError(
        f"repository {text!r} is malformed: {why}",
        hint=f"give the repository as {ECR_FORM} (or HOST[:PORT]/NAME for another registry), "
             "optionally as PACKAGE=URI for one package",
    )


def parse_repository(text: str) -> Repository:
    """``HOST[:PORT]/NAME`` → Repository; anything else is refused with the form expected."""
    raw = text.strip()
    if not raw:
        raise _malformed(text, "it is empty")
    if "://" in raw:
        raise _malformed(text, "a repository URI has no scheme (drop the https://)")
    if "@" in raw:
        raise _malformed(text, "it holds a digest; shimimg pins the digest itself")
    host, _, name = raw.partition("/")
    if not name:
        raise _malformed(text, "it names no registry host" if "/" not in raw
                         else "it names no repository after the host")
    if ":" in name:
        raise _malformed(text, "it holds a tag; pass tags with --tag")
    if not ("." in host or ":" in host or host == "localhost"):
        raise _malformed(text, f"it names no registry host ({host!r} would mean Docker Hub, "
                               "which Lambda cannot pull from)")
    if not reference.is_domain(host):
        raise _malformed(text, f"{host!r} is not a registry host")
    if not reference.is_path(name):
        raise _malformed(text, f"{name!r} is not a repository name "
                               "(lowercase letters, digits, and . _ - / between them)")
    if reference.parse(raw) is None:
        raise _malformed(text, "docker would not accept it as a reference (too long?)")
    m = ECR_HOST.fullmatch(host)
    if m:
        return Repository(host, name, account=m.group("account"), region=m.group("region"))
    if ".dkr.ecr" in host or host.endswith(".amazonaws.com"):
        raise _malformed(text, f"{host!r} looks like ECR but is not {ECR_FORM.split('/')[0]} (a 12-digit account)")
    return Repository(host, name)


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
    problems = []
    for key, repo in per_package.items():
        matches = [p for p in packages if _package_key(p, key, base)]
        if not matches:
            problems.append(f"--repository {key}=...: no package {key!r} in this template (packages: "
                            f"{', '.join(p.code_uri for p in packages)})")
        for p in matches:
            out[p.path] = repo
    for p in packages:
        if p.path in out:
            continue
        if default is None:
            problems.append(f"package {p.code_uri} has no repository: add --repository {p.code_uri}={ECR_FORM}")
            continue
        out[p.path] = default
    if problems:
        raise ShimimgError("cannot tell where to push every package", problems=problems,
                           hint="one --repository URI serves every package; PACKAGE=URI (PACKAGE as its CodeUri) one")
    return out


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for t in tags:
        if not reference.is_tag(t):
            raise ShimimgError(f"--tag {t!r} is not a valid image tag",
                               hint="up to 128 letters, digits, _ . - (not starting with . or -)")
        if t not in out:
            out.append(t)
    return tuple(out)


def content_tag(digest: str) -> str:
    """``sha256:abcd...`` → ``sha256-abcd...`` (24 hex): named by the image, so it never has to move."""
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}-{hexdigest[:24]}"
