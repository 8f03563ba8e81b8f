"""What the Runtime Interface Emulator says, parsed here and nowhere else. Formats were read off the
RIE this project builds into the stand-in base (module pseudo-version
v0.0.0-20261030222936-bef5c4ba774d):

- container stdout: ``START``/``END``/``REPORT`` lines and everything the runtime printed;
- container stderr: the emulator's own lines, ``26 Nov 2026 18:35:24,122 [INFO] (rapid) ...``;
- a function error is HTTP 200 with ``{"errorMessage": ..., "errorType": ...}`` (no
  X-Amz-Function-Error header); a timeout is HTTP 200 with ``Task timed out after 3.00 seconds``;
  a runtime that exits is HTTP 502 with an empty body and no REPORT.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(?P<key>[A-Za-z][A-Za-z ]*?): (?P<value>[0-9.]+)")
_RAPID = re.compile(r"\(rapid\) (?P<text>.*)$")
_RAPID_INIT = re.compile(r"INIT REPORT\(durationMs: (?P<ms>[0-9.]+)\)")
_TIMEOUT_TEXT = re.compile(r"Task timed out after (?P<seconds>[0-9.]+) seconds")
# Keys of the error document runtimes send; a response with other keys is a result, not an error.
_ERROR_KEYS = {"errorMessage", "errorType", "stackTrace", "requestId", "cause"}


@dataclass(frozen=True)
class Report:
    """One ``REPORT`` line of the emulator."""

    request_id: str
    duration_ms: float
    billed_ms: float | None = None
    init_ms: float | None = None  # "Init Duration", on the first invocation only
    memory_mb: int | None = None


@dataclass(frozen=True)
class Invocation:
    status: int  # HTTP status of the emulator's answer
    body: bytes
    output: tuple[str, ...]  # what the container printed for this invocation (START ... REPORT)
    emulator: tuple[str, ...]  # the emulator's own log lines for this invocation
    seconds: float  # wall clock, as the client saw it
    report: Report | None = None

    @property
    def init_ms(self) -> float | None:
        """Runtime init this invocation paid for, if it started one (the first, or the next after a reset).

        The emulator initialises lazily, inside the first invoke: its REPORT "Init Duration" covers
        only its own bookkeeping, while its log's ``INIT REPORT(durationMs: ...)`` measures the
        runtime starting up to its first /next call, which is what Lambda reports as Init Duration.
        """
        for line in self.emulator:
            m = _RAPID_INIT.search(line)
            if m:
                return float(m.group("ms"))
        return self.report.init_ms if self.report else None

    @property
    def timed_out(self) -> bool:
        """The emulator stopped the function at its timeout.

        This emulator answers ``Task timed out after N.00 seconds`` as a bare body; Lambda itself
        (and newer emulators) send an error document of type Sandbox.Timedout. Either counts, and
        so does an answer that is no JSON at all while the emulator logged a reset for a timeout
        (its log can trail into the next invocation, so a JSON answer never counts by the log alone).
        """
        text = self.body.decode("utf-8", "replace").strip() if len(self.body) < 4096 else ""
        if _TIMEOUT_TEXT.fullmatch(text):
            return True
        err = self.error
        if err and err[0] == "Sandbox.Timedout":
            return True
        try:
            json.loads(self.body)
            return False
        except (ValueError, UnicodeDecodeError):
            return any("Reset initiated: Timeout" in line for line in self.emulator)

    @property
    def error(self) -> tuple[str, str] | None:
        """(errorType, errorMessage) when the function answered with an error document."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(data, dict) and "errorMessage" in data and set(data) <= _ERROR_KEYS:
            return str(data.get("errorType") or ""), str(data["errorMessage"])
        return None


def parse_report(line: str) -> Report | None:
    m = _REPORT.match(line.strip())
    if not m:
        return None
    values = {f.group("key").strip(): f.group("value") for f in _FIELD.finditer(m.group("fields"))}
    if "Duration" not in values:
        return None
    mem = values.get("Memory Size")
    return Report(
        request_id=m.group("id"),
        duration_ms=float(values["Duration"]),
        billed_ms=float(values["Billed Duration"]) if "Billed Duration" in values else None,
        init_ms=float(values["Init Duration"]) if "Init Duration" in values else None,
        memory_mb=int(float(mem)) if mem else None,
    )


def rapid_text(line: str) -> str:
    """The message of one emulator log line, without its timestamp and level."""
    m = _RAPID.search(line)
    return m.group("text") if m else line
