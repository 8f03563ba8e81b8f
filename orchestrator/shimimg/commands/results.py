"""Shard results (``shimimg push --json`` outputs) as ``shimimg pin`` reads them: untrusted input.

A result may be forged or damaged (another job writes it, issue 19): it is read as a regular file
under a size cap, every field ``pin`` uses is checked for its type, and each image must be a digest
reference (``repository@sha256:...``, parsed by docker's grammar) in the repository the package
was pushed to: the one ``pin --repository`` names, else the one the result records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shimimg import reference
from shimimg.commands.schema import SCHEMA_VERSION
from shimimg.errors import ShimimgError
from shimimg.readfile import RESULT_MAX, read_text

FIX = "run `shimimg push --package ... --json` for each shard of this template and commit, then pin their results"
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Result:
    path: Path
    template_sha256: str
    revision: str | None
    packages: tuple[dict[str, Any], ...]  # each checked: code_uri, push.image_uri (a digest reference)


def _field(path: Path, where: str, value: Any, kind: type | tuple, what: str) -> Any:
    if not isinstance(value, kind):
        shown = json.dumps(value)[:80] if value is not None else "missing"
        raise ShimimgError(f"{path}: {where} is {shown}, expected {what}", hint=FIX)
    return value


def read(path: Path) -> dict[str, Any]:
    try:
        text = read_text(path, RESULT_MAX, "shard result")
    except (FileNotFoundError, IsADirectoryError) as e:
        raise ShimimgError(f"{path}: not a readable JSON result ({e.strerror or e})", hint=FIX) from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ShimimgError(f"{path}: not valid JSON ({str(e)[:120]})", hint=FIX) from None
    if not isinstance(data, dict) or data.get("command") != "push" or data.get("schema_version") != SCHEMA_VERSION:
        raise ShimimgError(f"{path}: not the result of `shimimg push --json` (schema_version {SCHEMA_VERSION})",
                           hint=FIX)
    return data


def check(path: Path, data: Mapping[str, Any], repositories: Mapping[str, str]) -> Result:
    """The fields ``pin`` uses, checked; ``repositories``: code_uri → the repository ``pin`` was told."""
    digest = _field(path, "template_sha256", data.get("template_sha256"), str, "a sha256 in hex")
    revision = _field(path, "revision", data.get("revision"), (str, type(None)), "a commit or null")
    items = _field(path, "packages", data.get("packages"), list, "a list of packages")
    checked = []
    for i, pkg in enumerate(items):
        at = f"packages[{i}]"
        _field(path, at, pkg, dict, "an object")
        code_uri = _field(path, f"{at}.code_uri", pkg.get("code_uri"), str, "the package's CodeUri")
        push = _field(path, f"{at}.push", pkg.get("push"), dict, "an object")
        uri = _field(path, f"{at}.push.image_uri", push.get("image_uri"), str, "repository@sha256:...")
        ref = reference.parse(uri)
        if ref is None or ref.tag or not _SHA256.fullmatch(ref.digest or ""):
            raise ShimimgError(f"{path}: {at}.push.image_uri {uri!r} is not a digest reference "
                               "(repository@sha256:<64 hex>)", hint=FIX)
        expected = repositories.get(code_uri)
        if expected is None:
            expected = _field(path, f"{at}.push.repository", push.get("repository"), str, "a repository URI")
        if ref.name != expected:
            raise ShimimgError(f"{path}: {at}.push.image_uri {uri!r} is not in the repository {expected} the "
                               f"package {code_uri} was pushed to", hint=FIX + "; name the repository with "
                               "`shimimg pin --repository URI` (or PACKAGE=URI)")
        checked.append(pkg)
    return Result(path=path, template_sha256=digest, revision=revision, packages=tuple(checked))
