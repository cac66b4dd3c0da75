"""The polling engine: poll the feeds that are due, concurrently, and publish what is new.

``AsyncPoller(fetcher, publisher, store, policy).poll_due(feeds)`` runs one pass;
``run_forever`` repeats passes, sleeping until the next feed is due. State is only reached
through the :class:`~pipeline.poller.state.StateStore` protocol, so the local JSON file and
the Kafka-backed registry are interchangeable.

Delivery (at-least-once to Kafka): items are marked as seen only after Kafka acknowledged
them, so a crash or a broker outage loses nothing. Right after each acknowledgement the
store makes the feed's sent ids durable (:meth:`StateStore.record_sent`: a journal line or
the feed's state record), so a restart after ``kill -9`` does not send them again; the
whole state is still written only every ``flush_interval_s``. A publish that has started is
always finished and recorded, even when the pass is cancelled (SIGTERM, Ctrl-C), before the
state is flushed; so a graceful stop neither loses nor repeats items. The one window left:
a kill after Kafka's ack and before ``record_sent`` returns repeats that one batch; that is
harmless, the article id is the Kafka key and the Elasticsearch ``_id``.

Updated items: an item already sent is sent again (same id, so the sink overwrites its
document) only when its ``<updated>``/``atom:updated`` time is later than the one recorded
when it was last sent. Items without an updated time are never re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pipeline.kafka.producer import PublishError
from pipeline.models import Article
from pipeline.observability import (
    BYTES_RECEIVED,
    FEED_ERRORS,
    FEEDS_MOVED,
    FEEDS_RETIRED,
    FETCH_SECONDS,
    ITEMS_PRODUCED,
    ITEMS_SKIPPED,
    ITEMS_UPDATED,
    NOT_MODIFIED,
    POLL_SECONDS,
    POLLS,
)
from pipeline.poller import schedule
from pipeline.poller.etiquette import freshness_s, retry_after_s
from pipeline.poller.feeds import FeedSource
from pipeline.poller.fetch import Fetcher, FetchError, FetchResult
from pipeline.poller.fulltext import FullTextFetcher
from pipeline.poller.parse import DEFAULT_MAX_ITEMS, FeedParseError, ParsedFeed, parse_feed
from pipeline.poller.schedule import SchedulePolicy
from pipeline.poller.state import FeedState, StateStore

log = logging.getLogger(__name__)

_HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error",
                 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Publisher(Protocol):
    def publish(self, articles: list[Article]) -> list[str]: ...


@dataclass
class FeedOutcome:
    url: str
    status: str  # "ok" | "not_modified" | "error" | "retired"
    items: int = 0
    new_articles: int = 0  # sent this poll, updates included
    updated_articles: int = 0
    error: str | None = None
    error_class: str | None = None
    skipped: list[str] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    http_status: int | None = None
    unchanged_body: bool = False  # 200 with the same body as last time: not parsed
    moved_to: str | None = None  # the feed moved (confirmed permanent redirect)
    retired_reason: str | None = None
    next_poll_at: float | None = None
    bytes_received: int = 0


@dataclass
class PollReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    not_due: int = 0  # feeds skipped because their next poll time has not come
    retired: int = 0  # feeds skipped because they are retired

    @property
    def articles_sent(self) -> int:
        return sum(o.new_articles for o in self.outcomes)

    @property
    def sent_ids(self) -> list[str]:
        return [article_id for o in self.outcomes for article_id in o.sent_ids]

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def bytes_received(self) -> int:
        return sum(o.bytes_received for o in self.outcomes)


@dataclass(frozen=True)
class PollPolicy:
    schedule: SchedulePolicy = field(default_factory=SchedulePolicy)
    max_items_per_feed: int = DEFAULT_MAX_ITEMS
    flush_interval_s: float = 2.0  # write the state store at least this often in a pass

    @classmethod
    def from_settings(cls, settings: object) -> PollPolicy:
        return cls(schedule=SchedulePolicy.from_settings(settings),
                   max_items_per_feed=settings.poller_max_items_per_feed,  # type: ignore[attr-defined]
                   flush_interval_s=settings.poller_state_flush_s)  # type: ignore[attr-defined]


class AsyncPoller:
    def __init__(self, fetcher: Fetcher, publisher: Publisher, store: StateStore,
                 policy: PollPolicy | None = None, *, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, full_text: FullTextFetcher | None = None):
        self.fetcher = fetcher
        self.full_text = full_text  # article pages for summary-only items (issue 3, item 6)
        self.publisher = publisher
        self.store = store
        self.policy = policy or PollPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        # Ids being published right now by some feed: the same story in two feeds polled
        # at the same moment must still be sent once.
        self._claimed: set[str] = set()
        self._publishing: set[asyncio.Future[list[str]]] = set()
        self._last_flush = 0.0
        self._flush_cost_s = 0.0

    # --- passes ------------------------------------------------------------------------

    def partition(self, feeds: Iterable[FeedSource], now: float
                  ) -> tuple[list[FeedSource], int, int]:
        """(due feeds, how many not due yet, how many retired)."""
        due, not_due, retired = [], 0, 0
        for feed in feeds:
            state = self.store.get(feed.url)
            if state.retired:
                retired += 1
            elif state.next_poll_at > now:
                not_due += 1
            else:
                due.append(feed)
        return due, not_due, retired

    def next_due_at(self, feeds: Iterable[FeedSource]) -> float | None:
        times = [s.next_poll_at for s in (self.store.get(f.url) for f in feeds)
                 if not s.retired]
        return min(times) if times else None

    async def poll_due(self, feeds: Iterable[FeedSource], now: float | None = None,
                       on_feed: Callable[[FeedOutcome], None] | None = None,
                       on_start: Callable[[int], None] | None = None) -> PollReport:
        """Poll every due feed concurrently (the fetcher bounds global and per-host
        concurrency); returns when all are done. Cancelling it finishes in-flight
        publishes and flushes the state before re-raising."""
        due, not_due, retired = self.partition(feeds, self.clock() if now is None else now)
        report = PollReport(not_due=not_due, retired=retired)
        if on_start:
            on_start(len(due))
        self._last_flush = time.monotonic()

        async def one(feed: FeedSource) -> None:
            outcome = await self.poll_feed(feed)
            report.outcomes.append(outcome)
            if on_feed:
                on_feed(outcome)
            self._maybe_flush()

        try:
            async with asyncio.TaskGroup() as group:
                for feed in due:
                    group.create_task(one(feed))
        finally:
            if self._publishing:  # let started publishes finish and be recorded
                await asyncio.wait(set(self._publishing))
            self.store.flush()
        order = {feed.url: position for position, feed in enumerate(due)}
        report.outcomes.sort(key=lambda outcome: order.get(outcome.url, len(order)))
        return report

    async def run_forever(self, feeds: Callable[[], Sequence[FeedSource]],
                          stop: asyncio.Event,
                          on_feed: Callable[[FeedOutcome], None] | None = None,
                          on_pass: Callable[[PollReport], None] | None = None,
                          max_sleep_s: float = 60.0) -> None:
        """Pass after pass until ``stop`` is set; between passes, sleep until the next
        feed is due (at most ``max_sleep_s``, so feeds added to the registry are seen)."""
        while not stop.is_set():
            current = feeds()
            report = await self.poll_due(current, on_feed=on_feed)
            if on_pass:
                on_pass(report)
            wake = self.next_due_at(current)
            delay = max_sleep_s if wake is None else min(max_sleep_s, wake - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(delay, 0.05))

    def _maybe_flush(self) -> None:
        # Synchronous on purpose: a store written from a thread while tasks mutate it
        # would need locks everywhere. A store that is slow to write (a JSON file with
        # 10,000 feeds takes ~0.5 s) is written at most 10% of the time.
        wait = max(self.policy.flush_interval_s, 10 * self._flush_cost_s)
        if time.monotonic() - self._last_flush >= wait:
            started = time.monotonic()
            self.store.flush()
            self._flush_cost_s = time.monotonic() - started
            self._last_flush = time.monotonic()

    # --- one feed ----------------------------------------------------------------------

    async def poll_feed(self, feed: FeedSource) -> FeedOutcome:
        started = time.monotonic()
        try:
            outcome = await self._poll_feed(feed)
        except Exception as exc:  # a bug must cost one feed one poll, not the whole pass
            log.exception("internal error polling %s", feed.url, extra={"feed_url": feed.url})
            outcome = self._failed(feed, self.store.get(feed.url), self.clock(),
                                   f"internal error: {type(exc).__name__}: {exc}", "internal")
        POLL_SECONDS.observe(time.monotonic() - started)
        POLLS.labels(outcome.status).inc()
        if outcome.error_class:
            FEED_ERRORS.labels(outcome.error_class).inc()
        return outcome

    async def _poll_feed(self, feed: FeedSource) -> FeedOutcome:
        state = self.store.get(feed.url)
        now = self.clock()
        state.polls += 1
        state.last_polled_at = now
        if state.first_polled_at is None:
            state.first_polled_at = now
        try:
            fetched = await self.fetcher.fetch(state.current_url or feed.url, state.validators)
        except FetchError as exc:
            return self._failed(feed, state, self.clock(), exc.reason, exc.reason_class)
        FETCH_SECONDS.observe(fetched.elapsed_s)
        BYTES_RECEIVED.inc(fetched.bytes_received)
        moved_to = self._track_redirects(feed, state, fetched)
        # Delays (Retry-After, max-age) count from when the answer came, not from the
        # request: a slow response must not make the next poll early.
        outcome = await self._handle_response(feed, state, self.clock(), fetched)
        outcome.moved_to = moved_to
        outcome.http_status = fetched.status
        outcome.bytes_received = fetched.bytes_received
        state.last_http_status = fetched.status
        return outcome

    async def _handle_response(self, feed: FeedSource, state: FeedState, now: float,
                               fetched: FetchResult) -> FeedOutcome:
        status = fetched.status
        if status == 304:
            NOT_MODIFIED.labels("http_304").inc()
            return self._succeeded(feed, state, now, fetched, "not_modified", found_new=False)
        if status != 200:
            reason = f"HTTP {status} {_HTTP_REASONS.get(status, '')}".strip()
            retry_after = (retry_after_s(fetched.headers.get("retry-after"), now)
                           if status in (429, 503) else None)
            return self._failed(feed, state, now, reason, f"http_{status}",
                                retry_after=retry_after, http_status=status)
        digest = hashlib.sha256(fetched.body).hexdigest()
        if digest == state.body_hash:
            NOT_MODIFIED.labels("same_body").inc()
            state.etag, state.last_modified = (fetched.validators.etag,
                                               fetched.validators.last_modified)
            outcome = self._succeeded(feed, state, now, fetched, "not_modified",
                                      found_new=False)
            outcome.unchanged_body = True
            return outcome
        fetched_at = datetime.fromtimestamp(now, UTC)
        try:
            parsed = await asyncio.to_thread(parse_feed, fetched.body, feed.url, fetched_at,
                                             fetched.content_type,
                                             self.policy.max_items_per_feed)
        except FeedParseError as exc:
            return self._failed(feed, state, now, str(exc), exc.reason_class)
        for reason_class, count in parsed.skip_classes.items():
            ITEMS_SKIPPED.labels(reason_class).inc(count)
        for reason in parsed.skipped[:20]:
            log.info("%s: skipped %s", feed.url, reason, extra={"feed_url": feed.url})
        if parsed.notes:
            log.info("%s: fixed items: %s", feed.url, dict(parsed.notes),
                     extra={"feed_url": feed.url})
        try:
            sent, updated = await self._publish_new(feed, state, parsed, now)
        except PublishError as exc:
            # Not the feed's fault: no failure counted (no retirement), retry soon.
            log.error("publishing %s failed, will retry: %s", feed.url, exc,
                      extra={"feed_url": feed.url, "reason_class": "kafka"})
            state.next_poll_at = now + self.policy.schedule.min_interval_s
            state.last_error, state.last_error_class = f"Kafka: {exc}", "kafka"
            state.last_error_at, state.last_status = now, "error"
            self.store.put(state)
            return FeedOutcome(feed.url, "error", len(parsed.articles), error=f"Kafka: {exc}",
                               error_class="kafka", next_poll_at=state.next_poll_at)
        state.body_hash = digest
        state.etag, state.last_modified = (fetched.validators.etag,
                                           fetched.validators.last_modified)
        state.publisher_interval_s = parsed.interval_hint_s
        outcome = self._succeeded(feed, state, now, fetched, "ok", found_new=bool(sent))
        outcome.items = len(parsed.articles)
        outcome.new_articles = len(sent)
        outcome.updated_articles = updated
        outcome.sent_ids = sent
        outcome.skipped = parsed.skipped
        return outcome

    async def _publish_new(self, feed: FeedSource, state: FeedState, parsed: ParsedFeed,
                           now: float) -> tuple[list[str], int]:
        """Publish new and updated items; record them once Kafka acknowledged."""
        already = set(state.seen_ids)
        fresh = [a for a in parsed.articles if a.id not in already
                 and a.id not in self._claimed and not self.store.was_sent(a.id)]
        updates = [a for a in parsed.articles if a.id in already and a.id not in self._claimed
                   and parsed.versions.get(a.id, 0.0) > state.item_versions.get(a.id, 1e18)]
        batch = fresh + updates
        update_ids = {a.id for a in updates}
        claimed = {a.id for a in batch}
        self._claimed |= claimed

        async def publish_and_record() -> list[str]:
            try:
                to_send = batch
                if self.full_text is not None and batch:
                    to_send = await self.full_text.complete_many(
                        batch, getattr(feed, "full_text", None))
                delivered = (await asyncio.to_thread(self.publisher.publish, to_send)
                             if to_send else [])
            finally:
                self._claimed -= claimed
            # Recorded in the same task as the publish, so cancellation cannot separate them.
            self.store.mark_sent(delivered)
            state.remember([a.id for a in parsed.articles])
            for article in parsed.articles:
                if article.id in parsed.versions and (article.id not in already
                                                      or article.id in update_ids):
                    state.item_versions[article.id] = parsed.versions[article.id]
            self._record_new_item_times(state, fresh, now)
            state.items_produced += len(delivered)
            if delivered:
                await self._record_durably(state, delivered)
            return delivered

        task = asyncio.ensure_future(publish_and_record())
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)
        delivered = await asyncio.shield(task)
        ITEMS_PRODUCED.inc(len(delivered))
        ITEMS_UPDATED.inc(len(updates))
        return delivered, len(updates)

    async def _record_durably(self, state: FeedState, delivered: list[str]) -> None:
        """Journal the acknowledged batch now, not at the next state write. Only batches
        that sent something get here (304s and unchanged bodies cost nothing). In memory
        the batch is already recorded, so a failure here only widens the crash window to
        the next state write: logged, the poll goes on. A kill between Kafka's ack and the
        end of this write sends the batch again after the restart (at-least-once)."""
        try:
            await asyncio.to_thread(self.store.record_sent, state, delivered)
        except Exception as exc:  # disk full, Kafka down: the flush retries the state
            log.error("could not record %d sent items of %s durably: %s", len(delivered),
                      state.url, exc, extra={"feed_url": state.url})

    def _record_new_item_times(self, state: FeedState, fresh: list[Article],
                               now: float) -> None:
        """The publisher's dates estimate the feed's rate better than our poll times (a
        first poll sees days of backlog at once); items without a date count as now."""
        if not fresh:
            return
        window_start = now - self.policy.schedule.rate_window_s
        for article in fresh:
            when = article.published_at.timestamp() if article.published_at else now
            state.new_item_times.append(min(max(when, window_start), now))
        state.new_item_times.sort()
        del state.new_item_times[:-self.policy.schedule.max_rate_samples]
        state.last_new_item_at = now

    # --- bookkeeping -------------------------------------------------------------------

    def _succeeded(self, feed: FeedSource, state: FeedState, now: float, fetched: FetchResult,
                   status: str, found_new: bool) -> FeedOutcome:
        policy = self.policy.schedule
        state.interval_s = schedule.adaptive_interval(state.new_item_times, now,
                                                      state.interval_s, found_new, policy)
        delay = schedule.success_delay(
            state.interval_s, [freshness_s(fetched.headers, now), state.publisher_interval_s],
            policy, self.rng)
        state.next_poll_at = now + delay
        state.consecutive_failures = 0
        state.last_success_at = now
        state.last_status = status
        if status == "not_modified":
            state.not_modified += 1
        self.store.put(state)
        return FeedOutcome(feed.url, status, next_poll_at=state.next_poll_at)

    def _failed(self, feed: FeedSource, state: FeedState, now: float, reason: str,
                reason_class: str, *, retry_after: float | None = None,
                http_status: int | None = None) -> FeedOutcome:
        policy = self.policy.schedule
        state.consecutive_failures += 1
        state.last_error, state.last_error_class, state.last_error_at = (reason, reason_class,
                                                                         now)
        retire_reason = schedule.should_retire(state.consecutive_failures, http_status, policy)
        extra = {"feed_url": feed.url, "reason": reason, "reason_class": reason_class}
        if retire_reason:
            state.retired, state.retired_reason = True, retire_reason
            state.last_status = "retired"
            FEEDS_RETIRED.labels(reason_class).inc()
            log.warning("feed retired: %s: %s (last error: %s)", feed.url, retire_reason,
                        reason, extra=extra)
            self.store.put(state)
            return FeedOutcome(feed.url, "retired", error=reason, error_class=reason_class,
                               retired_reason=retire_reason)
        state.next_poll_at = now + schedule.failure_delay(state.consecutive_failures,
                                                          retry_after, policy, self.rng)
        state.last_status = "error"
        log.warning("feed failed: %s: %s", feed.url, reason, extra=extra)
        self.store.put(state)
        return FeedOutcome(feed.url, "error", error=reason, error_class=reason_class,
                           next_poll_at=state.next_poll_at)

    def _track_redirects(self, feed: FeedSource, state: FeedState,
                         fetched: FetchResult) -> str | None:
        tracking = schedule.track_redirects(fetched.redirects, state.redirect_target,
                                            state.redirect_seen, self.policy.schedule)
        state.redirect_target, state.redirect_seen = tracking.target, tracking.seen
        if tracking.move_to is None:
            return None
        log.warning("feed moved: %s -> %s (permanent redirect seen %d times in a row)",
                    state.current_url or feed.url, tracking.move_to,
                    self.policy.schedule.redirect_confirmations,
                    extra={"feed_url": feed.url, "moved_to": tracking.move_to})
        state.current_url = tracking.move_to
        FEEDS_MOVED.inc()
        return tracking.move_to
