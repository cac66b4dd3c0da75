"""Waiting out an outage: exponential backoff under one deadline.

Shared by every step that talks to Elasticsearch from the job (the bulk sink, the
near-duplicate lookup), so an outage is handled the same way everywhere: retry with
growing pauses, and only when the outage outlasts the deadline fail the bundle, whose
Kafka offsets then stay uncommitted (nothing is lost, the work is redone on restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class OutageTimeout(RuntimeError):
    """Elasticsearch stayed unreachable longer than the configured outage timeout."""


class OutageBackoff:
    """Pauses of ``initial_s``, doubling up to ``max_backoff_s``, until ``timeout_s`` after
    construction; :meth:`pause` raises :class:`OutageTimeout` instead of sleeping past it."""

    def __init__(self, timeout_s: float, *, initial_s: float = 0.5, max_backoff_s: float = 30.0,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.timeout_s = timeout_s
        self.delay = initial_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + timeout_s

    def pause(self, giving_up: str) -> None:
        """Sleep the next delay, or raise ``OutageTimeout(giving_up)`` if that would pass
        the deadline."""
        if self._clock() + self.delay > self._deadline:
            raise OutageTimeout(giving_up)
        # time.sleep looked up at call time, so tests can patch it.
        (self._sleep or time.sleep)(self.delay)
        self.delay = min(self.delay * 2, self.max_backoff_s)
