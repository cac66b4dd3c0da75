"""The polling loop of a scaled-out poller: group membership, a pass over the owned feeds,
state flush, feed health — repeated.

The pass itself is a callable ``poll_once(feeds, store) -> {feed_url: status}`` so the
polling engine is pluggable; :func:`engine_poll_once` gives the project's engine.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.kafka.assignment import KafkaFeedAssignment, StateFlushError
from pipeline.kafka.registry import RegisteredFeed
from pipeline.observability import HEARTBEAT
from pipeline.poller.feeds import FeedSource
from pipeline.poller.health import FeedHealthWriter
from pipeline.poller.poller import FeedOutcome
from pipeline.poller.state import FeedState, StateStore
from pipeline.settings import Settings

log = logging.getLogger(__name__)

PollOnce = Callable[[list[RegisteredFeed], StateStore], Mapping[str, str] | None]
MAX_NEW_ITEM_TIMES = 500


@dataclass
class PassSummary:
    poller_id: str
    partitions: list[int]
    feeds: int
    statuses: dict[str, str]
    states_written: int
    health_written: int


def run_registry_poller(settings: Settings, poll_once: PollOnce, *, every: float | None,
                        stop: threading.Event | None = None,
                        health: FeedHealthWriter | None = None,
                        on_pass: Callable[[PassSummary], None] | None = None,
                        poller_id: str | None = None, ready_timeout_s: float = 60.0,
                        **assignment_options: Any) -> int:
    """Poll this poller's share of the registry once (``every=None``) or every ``every``
    seconds until ``stop`` is set; returns the number of passes made."""
    stop = stop or threading.Event()
    assignment = KafkaFeedAssignment(settings, poller_id=poller_id, **assignment_options)
    passes = 0
    try:
        assignment.wait_ready(ready_timeout_s)
        while not stop.is_set():
            started = time.monotonic()
            feeds = assignment.poll_membership()
            if feeds:
                summary = _one_pass(assignment, feeds, poll_once, health)
                passes += 1
            else:  # nothing owned (yet): still report where this poller stands
                summary = PassSummary(assignment.poller_id, assignment.owned_partitions, 0,
                                      {}, 0, 0)
            HEARTBEAT.beat()
            if on_pass:
                on_pass(summary)
            if every is None:
                break
            # Between passes keep serving the group: rebalances and registry changes.
            while not stop.is_set() and time.monotonic() - started < every:
                assignment.poll_membership(timeout_s=min(0.5, every))
                HEARTBEAT.beat()
    finally:
        assignment.close()
    return passes


def _one_pass(assignment: KafkaFeedAssignment, feeds: list[RegisteredFeed],
              poll_once: PollOnce, health: FeedHealthWriter | None) -> PassSummary:
    statuses = dict(poll_once(feeds, assignment.store) or {})
    try:
        assignment.store.flush()
    except StateFlushError as exc:
        log.error("%s (kept; retried after the next pass)", exc)
    written = assignment.store.take_written()
    health_written = 0
    if health is not None:
        by_url: dict[str, FeedSource] = {f.url: f for f in feeds}
        health_written = health.write(written, by_url, time.time(), statuses)
    return PassSummary(assignment.poller_id, assignment.owned_partitions, len(feeds),
                       statuses, len(written), health_written)


def record_outcome(state: FeedState, outcome: FeedOutcome, now: float) -> None:
    """Health fields from a poll outcome, for the synchronous Poller (which predates them;
    the asynchronous engine keeps them itself)."""
    state.polls += 1
    state.last_polled_at = now
    if outcome.status == "error":
        state.consecutive_failures += 1
        state.last_error_at = now
        state.last_error = outcome.error
        from pipeline.observability import reason_class

        state.last_error_class = reason_class(outcome.error or "")
        return
    state.consecutive_failures = 0
    state.last_success_at = now
    if outcome.status == "not_modified":
        state.not_modified += 1
    if outcome.new_articles:
        state.items_produced += outcome.new_articles
        state.last_new_item_at = now
        state.new_item_times.extend([now] * outcome.new_articles)
        del state.new_item_times[:-MAX_NEW_ITEM_TIMES]


def engine_poll_once(settings: Settings, publisher: Any) -> PollOnce:
    """A pass of the polling engine over any StateStore.

    The asynchronous engine (``pipeline.poller.run.poll_once``: per-host politeness,
    adaptive schedule, only due feeds) when this build has it, else the first,
    synchronous ``Poller`` (every feed, every pass). Looked up at run time so this layer
    works with either.
    """
    engine = getattr(importlib.import_module("pipeline.poller.run"), "poll_once", None)
    if engine is None or not inspect.iscoroutinefunction(engine):
        return _sync_poll_once(settings, publisher)

    def poll_once(feeds: list[RegisteredFeed], store: StateStore) -> dict[str, str]:
        report = asyncio.run(engine(settings, feeds, store=store, publisher=publisher))
        return {outcome.url: outcome.status for outcome in report.outcomes}

    return poll_once


def _sync_poll_once(settings: Settings, publisher: Any) -> PollOnce:
    poller_module = importlib.import_module("pipeline.poller.poller")
    fetch_module = importlib.import_module("pipeline.poller.fetch")

    def poll_once(feeds: list[RegisteredFeed], store: StateStore) -> dict[str, str]:
        def recorded(outcome: FeedOutcome) -> None:
            state = store.get(outcome.url)
            record_outcome(state, outcome, time.time())
            store.put(state)

        with fetch_module.make_client(settings.user_agent, settings.fetch_timeout_s) as client:
            # That Poller predates the StateStore protocol; KafkaStateStore also offers the
            # two methods it uses (feed, save).
            poller = poller_module.Poller(client, publisher, store, settings.max_feed_bytes)
            report = poller.poll(feeds, on_feed=recorded)
        return {o.url: o.status for o in report.outcomes}

    return poll_once
