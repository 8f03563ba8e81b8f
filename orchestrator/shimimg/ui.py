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


class Progress:
    """Per-package progress: one live line on a terminal, plain log lines otherwise.

    ``step`` replaces the live line (a terminal) or logs at debug level (a pipe, so CI logs hold
    only the outcome lines); ``done`` always leaves one line behind.
    """

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() and log.isEnabledFor(logging.INFO) and not log.isEnabledFor(logging.DEBUG)
        self.index = 0

    def start(self, name: str) -> None:
        self.index += 1
        self.name = name
        self.step("starting")

    def step(self, what: str) -> None:
        line = f"[{self.index}/{self.total}] {self.name}: {what}"
        if self.live:
            self.stream.write("\r\033[K" + line[:200])
            self.stream.flush()
        else:
            log.debug(line)

    def done(self, what: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        log.info("[%d/%d] %s: %s", self.index, self.total, self.name, what)
