"""Values a function sees when run locally (filled in with SAM's local semantics)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def resolve_environments(doc: Any, template: Path, *, parameter_overrides: Any, region: str,
                         environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {}


def credentials(profile: str | None, environ: Mapping[str, str]) -> dict[str, str] | None:
    return None
