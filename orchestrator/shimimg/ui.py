"""Output. Results go to stdout (tables, JSON); everything about the run goes to stderr: log lines,
warnings, errors, and the progress of a build.

On a terminal the progress is a live display (rich) with a line per package, its current stage,
a spinner and the elapsed time; log lines and warnings are printed above it, never inside it.
Elsewhere (a pipe, ``CI=true``, ``TERM=dumb``, ``--progress plain``) each stage event is one plain
line with its timing. ``--quiet`` keeps results and errors only; ``NO_COLOR`` is honoured (rich
reads it). ``-v`` logs every command shimimg runs; ``--debug`` also their output.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.table import Table

# rich is imported only where a table or a live display is drawn: a quiet, --json or no-op run
# never pays for it (~60 ms of a 0.5 s no-op build).

log = logging.getLogger("shimimg")
VERBOSE, DEBUG = 1, 2


@dataclass
class _State:
    verbosity: int = 0
    quiet: bool = False
    progress: str = "auto"  # auto | live | plain
    live: bool = False  # a live display is on screen: stderr text must go through its console
    _err: Console | None = None
    _out: Console | None = None

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _console(stderr=True)
        return self._err

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(stderr=False)
        return self._out


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    # No file given: rich writes to whatever sys.stdout / sys.stderr is at the time (a test's
    # capture, a redirected stream), never to a stream closed since.
    terminal = _is_terminal(sys.stderr if stderr else sys.stdout)
    # Off a terminal rich would wrap at 80 columns: CI logs and pipes get whole lines instead.
    return Console(stderr=stderr, highlight=False, soft_wrap=not terminal, width=None if terminal else 4000,
                   force_terminal=False if not terminal else None)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


STATE = _State()


class _Handler(logging.Handler):
    """Log records as ``shimimg: message`` (warnings as ``warning: ``) through the stderr console,
    which prints them above a live display when one is running."""

    def emit(self, record: logging.LogRecord) -> None:
        # Values (CodeUri, paths, names) come as arguments: shown escaped, so one holding a line
        # break cannot forge a line of shimimg's output (issue 19); the message itself is ours.
        if isinstance(record.args, tuple):
            record.args = tuple(shown(a) if isinstance(a, str) else shown(str(a)) if isinstance(a, PurePath) else a
                                for a in record.args)
        try:
            text = record.getMessage()
        except Exception:  # a bad format string must not hide the message
            text = str(record.msg)
        prefix = "warning: " if record.levelno >= logging.WARNING else "shimimg: "
        _line(prefix + text, err=True)


def _line(text: str, *, err: bool) -> None:
    """One line of plain text; above the live display while one runs (rich keeps it there)."""
    if err and STATE.live:
        from rich.text import Text

        STATE.err.print(Text(text), soft_wrap=True)
        return
    stream: TextIO = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def setup(*, verbosity: int = 0, quiet: bool = False, progress: str = "auto") -> None:
    STATE.verbosity, STATE.quiet, STATE.progress = verbosity, quiet, progress
    STATE._err = STATE._out = None  # made again on first use, for the streams of that time
    root = logging.getLogger("shimimg")
    root.handlers[:] = [_Handler()]
    root.setLevel(logging.ERROR if quiet else logging.DEBUG if verbosity else logging.INFO)
    root.propagate = False


def show_output() -> bool:
    """``--debug``: commands' own output is logged too."""
    return STATE.verbosity >= DEBUG


def live_wanted() -> bool:
    if STATE.quiet or STATE.progress == "plain":
        return False
    if STATE.progress == "live":
        return True
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return not ci and _is_terminal(sys.stderr)


def shown(text: str) -> str:
    """A name from the repository as one line: control characters escaped, so a CodeUri holding a
    line break cannot forge a log line."""
    return json.dumps(text)[1:-1] if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) else text


def info(msg: str, *args: Any) -> None:
    log.info(msg, *args)


def error_line(text: str) -> None:
    """An error message, on stderr, even with --quiet."""
    _line(text, err=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_result(text: str) -> None:
    _line(text, err=False)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, title: str | None = None) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=Text(title) if title else None,
              title_justify="left", header_style="bold")
    # To fit the terminal (issue 20): cells wrap at spaces, and a word that still does not fit
    # ends in "…" — never folded in the middle of a name; no column gets narrower than its header.
    for h in headers:
        t.add_column(h, overflow="ellipsis", min_width=len(h))
    for r in rows:
        t.add_row(*(Text(shown(str(c))) for c in r))
    return t


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, title: str | None = None,
                stream: str = "out", summary: bool = False) -> None:
    """``summary``: a table that sums up what the result line(s) say; --quiet leaves it out."""
    if summary and STATE.quiet:
        return
    console = STATE.out if stream == "out" else STATE.err
    if console.is_terminal:
        console.print(table(rows, headers, title=title))
        return
    # Off a terminal: the same table as plain text, without the padding after the last column.
    with console.capture() as cap:
        console.print(table(rows, headers, title=title))
    console.file.write("\n".join(line.rstrip() for line in cap.get().splitlines()) + "\n")
    console.file.flush()


def plain_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A table as text, for messages (the same renderer as printed tables)."""
    from rich.console import Console

    console = Console(width=4000, file=open(os.devnull, "w"), highlight=False, no_color=True)  # noqa: SIM115
    with console.capture() as cap:
        console.print(table(rows, headers))
    console.file.close()
    return "\n".join(line.rstrip() for line in cap.get().splitlines())


# Progress of a build: packages × stages.


@dataclass
class _Row:
    name: str
    index: int
    stage: str = "waiting"
    detail: str = ""
    started: float = 0.0
    stage_started: float = 0.0
    finished: str = ""  # the outcome line once the package is done
    spinner: Spinner | None = None  # made when a live display first draws the row


class Progress:
    """Stage events per package (resolve → compile → image → push), from any thread."""

    def __init__(self, names: Sequence[str]) -> None:
        self.rows = {n: _Row(n, i + 1) for i, n in enumerate(names)}
        self.total = len(names)
        self.lock = threading.Lock()
        self.live: Live | None = None
        self.t0 = time.monotonic()

    def __enter__(self) -> Progress:
        if live_wanted() and self.rows:
            from rich.live import Live

            self.live = Live(self, console=STATE.err, refresh_per_second=8, transient=True,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start()
            STATE.live = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            STATE.live = False
            self.live.stop()
            self.live = None

    def _prefix(self, row: _Row) -> str:
        return f"[{row.index}/{self.total}] {shown(row.name)}"

    def _end_stage(self, row: _Row, now: float) -> None:
        if self.live is None and row.stage_started:
            log.info("%s: %s done in %.1fs", self._prefix(row), row.stage, now - row.stage_started)

    def stage(self, name: str, stage: str, detail: str = "") -> None:
        """``name`` enters ``stage``; with plain output one line starts it and one ends it, timed."""
        now = time.monotonic()
        with self.lock:
            row = self.rows[name]
            if not row.started:
                row.started = now
            if row.stage != stage:
                self._end_stage(row, now)
            row.stage, row.detail, row.stage_started = stage, detail, now
        if self.live is None:
            log.info("%s: %s%s", self._prefix(row), stage, f" ({detail})" if detail else "")

    def done(self, name: str, outcome: str) -> None:
        now = time.monotonic()
        with self.lock:
            row = self.rows[name]
            self._end_stage(row, now)
            row.finished = outcome
            took = now - (row.started or now)
        line = f"{self._prefix(row)}: {outcome} in {took:.1f}s"
        if self.live is not None:
            # Stays on screen above the live lines, as a log line would.
            _line("shimimg: " + line, err=True)
        else:
            log.info("%s", line)

    def __rich__(self) -> Table:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=2)
        grid.add_column()
        grid.add_column()
        grid.add_column(justify="right")
        now = time.monotonic()
        with self.lock:
            rows = list(self.rows.values())
        for row in rows:
            if row.finished:
                continue
            if not row.started:
                grid.add_row(Text("·"), Text(self._prefix(row), style="dim"), Text("waiting", style="dim"), "")
                continue
            stage = row.stage + (f": {row.detail}" if row.detail else "")
            elapsed = f"{now - row.stage_started:.1f}s / {now - row.started:.1f}s"
            if row.spinner is None:
                row.spinner = Spinner("dots")
            grid.add_row(row.spinner, Text(self._prefix(row)), Text(stage), Text(elapsed, style="cyan"))
        return grid
