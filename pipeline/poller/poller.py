"""One polling pass over a feed list: fetch, parse, publish what is new, remember it.

A feed that fails is reported with its reason and the pass goes on; items are marked as
seen only after Kafka acknowledged them, so a crash or a broker outage loses nothing (the
next pass re-sends, and the id-keyed sink makes the repeat harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from pipeline.kafka.producer import ArticlePublisher, PublishError
from pipeline.observability import (
    FEED_ERRORS,
    ITEMS_PRODUCED,
    POLL_SECONDS,
    POLLS,
    reason_class,
)
from pipeline.poller.feeds import FeedSource
from pipeline.poller.fetch import FetchError, fetch_feed
from pipeline.poller.parse import FeedParseError, parse_feed
from pipeline.poller.state import PollerState

log = logging.getLogger(__name__)


@dataclass
class FeedOutcome:
    url: str
    status: str  # "ok" | "not_modified" | "error"
    items: int = 0
    new_articles: int = 0
    error: str | None = None
    skipped: list[str] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)


@dataclass
class PollReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)

    @property
    def articles_sent(self) -> int:
        return sum(o.new_articles for o in self.outcomes)

    @property
    def sent_ids(self) -> list[str]:
        return [article_id for o in self.outcomes for article_id in o.sent_ids]

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status == "error"]


class Poller:
    def __init__(self, client: httpx.Client, publisher: ArticlePublisher, state: PollerState,
                 max_feed_bytes: int):
        self.client = client
        self.publisher = publisher
        self.state = state
        self.max_feed_bytes = max_feed_bytes

    def poll(self, feeds: Iterable[FeedSource],
             on_feed: Callable[[FeedOutcome], None] | None = None) -> PollReport:
        report = PollReport()
        for feed in feeds:
            outcome = self.poll_feed(feed)
            report.outcomes.append(outcome)
            if on_feed:
                on_feed(outcome)
        self.state.save()
        return report

    def poll_feed(self, feed: FeedSource) -> FeedOutcome:
        with POLL_SECONDS.time():
            outcome = self._poll_feed(feed)
        POLLS.labels(outcome.status).inc()
        ITEMS_PRODUCED.inc(outcome.new_articles)
        if outcome.error:
            FEED_ERRORS.labels(reason_class(outcome.error)).inc()
        return outcome

    def _poll_feed(self, feed: FeedSource) -> FeedOutcome:
        feed_state = self.state.feed(feed.url)
        try:
            fetched = fetch_feed(self.client, feed.url, feed_state.validators,
                                 self.max_feed_bytes)
            if fetched.not_modified:
                return FeedOutcome(feed.url, "not_modified")
            parsed = parse_feed(fetched.body, feed.url, datetime.now(UTC),
                                fetched.content_type)
        except (FetchError, FeedParseError) as exc:
            reason = exc.reason if isinstance(exc, FetchError) else str(exc)
            log.warning("feed failed: %s: %s", feed.url, reason,
                        extra={"feed_url": feed.url, "reason": reason})
            return FeedOutcome(feed.url, "error", error=reason)

        already = set(feed_state.seen_ids)
        fresh = [a for a in parsed.articles
                 if a.id not in already and not self.state.was_sent(a.id)]
        fresh = list({a.id: a for a in fresh}.values())  # duplicate guids within one feed
        try:
            delivered = self.publisher.publish(fresh)
        except PublishError as exc:
            log.error("publishing %s failed, will retry next poll: %s", feed.url, exc)
            return FeedOutcome(feed.url, "error", len(parsed.articles),
                               error=f"Kafka: {exc}")
        feed_state.remember([a.id for a in parsed.articles])
        feed_state.etag, feed_state.last_modified = (fetched.validators.etag,
                                                     fetched.validators.last_modified)
        self.state.mark_sent(delivered)
        for reason in parsed.skipped:
            log.info("%s: skipped %s", feed.url, reason)
        return FeedOutcome(feed.url, "ok", len(parsed.articles), len(delivered),
                           skipped=parsed.skipped, sent_ids=delivered)
