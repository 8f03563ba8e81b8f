"""Docker's image reference grammar, as distribution/reference defines it (reference.go's grammar
comment and regexp.go), so a value from a template, a config file or the environment is either a
reference docker would parse the same way or refused before it reaches a Dockerfile or a flag.

    reference      := name [ ":" tag ] [ "@" digest ]
    name           := [domain '/'] remote-name
    domain         := host [':' port-number]
    host           := domain-name | IPv4address | \\[ IPv6address \\]
    remote-name    := path-component ['/' path-component]*
    path-component := alpha-numeric [separator alpha-numeric]*
    separator      := /[_.]|__|[-]+/
    tag            := /[\\w][\\w.-]{0,127}/
    digest         := algorithm ":" hex (32+ hex digits)

Every match is a ``fullmatch`` on the whole text: ``$`` would accept a trailing newline, which is
exactly the character that must never reach a Dockerfile line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[_.]|__|[-]+)"
PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
DOMAIN = rf"{HOST}(?::[0-9]+)?"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REMOTE_NAME = rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
_REFERENCE = re.compile(
    rf"(?:(?P<domain>{DOMAIN})/)?(?P<path>{REMOTE_NAME})(?::(?P<tag>{TAG}))?(?:@(?P<digest>{DIGEST}))?",
    re.ASCII,
)
_DOMAIN_RE = re.compile(DOMAIN, re.ASCII)
_TAG_RE = re.compile(TAG, re.ASCII)
_PATH_RE = re.compile(REMOTE_NAME, re.ASCII)
NAME_TOTAL_LENGTH_MAX = 255


@dataclass(frozen=True)
class Reference:
    domain: str  # "" when the reference names none (docker.io then)
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _is_domain(first: str) -> bool:
    # docker (splitDockerDomain): the first component is a registry host only when it has a
    # '.' or ':' or is "localhost", or holds upper-case letters (which a path never may).
    return "." in first or ":" in first or first == "localhost" or first.lower() != first


def parse(text: str) -> Reference | None:
    """The reference ``text`` names, or None when docker would refuse it."""
    m = _REFERENCE.fullmatch(text)
    if not m:
        return None
    domain, path = m.group("domain") or "", m.group("path")
    if domain and not _is_domain(domain):
        # "team/app" is a two-component Docker Hub path, not a host "team".
        domain, path = "", f"{domain}/{path}"
        if not _PATH_RE.fullmatch(path):
            return None
    ref = Reference(domain, path, m.group("tag") or "", m.group("digest") or "")
    if len(ref.name) > NAME_TOTAL_LENGTH_MAX:
        return None
    return ref


def is_domain(text: str) -> bool:
    return _DOMAIN_RE.fullmatch(text) is not None


def is_tag(text: str) -> bool:
    return _TAG_RE.fullmatch(text) is not None


def is_path(text: str) -> bool:
    return _PATH_RE.fullmatch(text) is not None
