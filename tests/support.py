"""Paths and names the tests share (importable from any test module: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "orders"
STANDIN = os.environ.get("SHIMIMG_STANDIN_TAG", "shimimg-local/provided:al2")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, fix: str = "./dev setup") -> None:
    """Skip a test whose tool is absent, with the command that provides it; under CI=true fail
    instead, because there a skipped integration test hides a broken setup."""
    msg = f"{what} is not available; run `{fix}`"
    if IN_CI:
        pytest.fail(msg + " (CI must provision it, not skip)")
    pytest.skip(msg)
