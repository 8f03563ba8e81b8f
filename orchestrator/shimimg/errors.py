"""The user-facing error type and exit codes.

Every expected failure is a ``ShimimgError`` carrying what happened and what to do; the one error
handler (``shimimg.error_handler``) prints it and exits 1. Anything else is a bug: exit 3 with a
log for the report. Interrupts exit 128 + the signal's number, as shells report them.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_ERROR = 1  # expected failure, or `--check` found a change
EXIT_USAGE = 2  # bad flags (click's own code)
EXIT_BUG = 3
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # SIGTERM (a cancelled CI job, `timeout`, `docker stop`)


class ShimimgError(Exception):
    """An expected failure the user can act on.

    ``message`` says what happened (naming the file, resource or command), ``hint`` what to do;
    ``problems`` lists several independent findings (one line each) under one message.
    """

    def __init__(self, message: str, *, hint: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = tuple(problems)

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        # One line each: a value in a problem (a CodeUri, a path) cannot start a line of its own.
        lines += [f"  - {_one_line(p)}" for p in self.problems]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _one_line(text: str) -> str:
    return "".join(c if 0x20 <= ord(c) != 0x7F else repr(c)[1:-1] for c in text)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so every cleanup that handles Ctrl-C runs for it too."""


class Interrupted(Exception):
    """An interrupt carried past the command-line parser, which would swallow a KeyboardInterrupt
    (typer turns it into a plain exit 130, SIGTERM included); the error handler unwraps it."""

    def __init__(self, cause: KeyboardInterrupt) -> None:
        super().__init__("interrupted")
        self.terminated = isinstance(cause, Terminated)
