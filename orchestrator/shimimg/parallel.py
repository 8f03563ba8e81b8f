"""The one parallel runner (as pre-commit's xargs): every fan-out in shimimg goes through ``map``.

Items run on up to ``jobs`` threads (each mostly waits on a child process: go, buildx). Every
item runs to its end even when another fails, so a refusal lists all its cases at once; an
interrupt ends the children still running (their process groups) before it propagates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from shimimg import proc
from shimimg.errors import ShimimgError

T = TypeVar("T")
R = TypeVar("R")


def merged(errors: Sequence[ShimimgError]) -> ShimimgError:
    if len(errors) == 1:
        return errors[0]
    problems = []
    for e in errors:
        problems.append(e.message.replace("\n", "\n    "))
        problems += [f"  {p}" for p in e.problems]
        if e.hint:
            problems.append(f"  hint: {e.hint}".replace("\n", "\n    "))
    return ShimimgError(f"{len(errors)} problems; nothing was written", problems=problems)


def map(fn: Callable[[T], R], items: Sequence[T], *, jobs: int) -> list[R]:  # noqa: A001 - as the builtin
    """``[fn(x) for x in items]``, in order; ShimimgErrors of all items become one."""
    results: list[R | None] = [None] * len(items)
    errors: list[ShimimgError] = []
    if jobs <= 1 or len(items) <= 1:
        for i, item in enumerate(items):
            try:
                results[i] = fn(item)
            except ShimimgError as e:
                errors.append(e)
    else:
        pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="shimimg")
        futures = [pool.submit(fn, item) for item in items]
        try:
            wait(futures)
        except BaseException:
            for f in futures:
                f.cancel()
            proc.end_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for i, f in enumerate(futures):
            exc = f.exception()
            if isinstance(exc, ShimimgError):
                errors.append(exc)
            elif exc is not None:
                raise exc
            else:
                results[i] = f.result()
    if errors:
        raise merged(errors)
    return results  # type: ignore[return-value]


class Background:
    """One call on a thread of its own, started now (or at ``start()``, with ``start=False``);
    ``result()`` starts it if need be, waits for it and raises what it raised. ``required=False``:
    a call never started stays so, and a failure no longer matters (nothing needed it)."""

    def __init__(self, fn: Callable[[], R], *, start: bool = True) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._future: Future | None = None
        if start:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._future is None:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shimimg-bg")
                self._future = pool.submit(self._fn)
                pool.shutdown(wait=False)

    def result(self, *, required: bool = True) -> R | None:
        if self._future is None:
            if not required:
                return None
            self.start()
        assert self._future is not None
        try:
            return self._future.result()
        except Exception:
            if required:
                raise
            return None
