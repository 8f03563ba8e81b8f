"""Paths and names the tests share (importable from any test module: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "orders"
STANDIN = os.environ.get("SHIMIMG_STANDIN_TAG", "shimimg-local/provided:al2")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
