"""Output: plain log lines on stderr (the commands' results go to stdout), JSON when asked."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

log = logging.getLogger("shimimg")


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("shimimg: %(message)s"))
    root = logging.getLogger("shimimg")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def info(msg: str, *args: Any) -> None:
    log.info(msg, *args)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*map(str, r)).rstrip() for r in rows]
    return "\n".join(lines)
