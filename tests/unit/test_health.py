"""Feed health documents: the pure document, the template, the best-effort writer."""

from __future__ import annotations

import hashlib
import json

import pytest
from elasticsearch import Elasticsearch

from pipeline.poller.feeds import FeedSource
from pipeline.poller.health import (
    HEALTH_TEMPLATE_PATH,
    FeedHealthWriter,
    feed_health_doc,
    feed_status,
    has_problem,
    health_doc_id,
    items_per_day,
)
from pipeline.poller.state import FeedState

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 86400.0
CONTRACT_FIELDS = {"feed_url", "feed_name", "status", "last_polled_at", "last_success_at",
                   "last_error", "last_error_class", "consecutive_failures", "items_per_day",
                   "items_produced", "next_poll_at", "retired", "retired_reason", "poller_id",
                   "updated_at"}
FEED = FeedSource("https://news.example.org/rss", "Example News", "en", ("world",))


class TestItemsPerDay:
    def test_over_the_last_week(self) -> None:
        times = [NOW - i * 3600 for i in range(7 * 24)]  # one an hour for a week
        assert items_per_day(times, NOW) == pytest.approx(24.0, rel=0.01)

    def test_old_items_do_not_count(self) -> None:
        assert items_per_day([NOW - 8 * DAY, NOW - 30 * DAY], NOW) == 0.0

    def test_short_history_counts_as_at_least_a_day(self) -> None:
        # A first poll finds 20 items at once: 20 a day, not 20 a second.
        assert items_per_day([NOW - 60] * 20, NOW) == 20.0
        assert items_per_day([NOW - 2 * DAY, NOW - DAY, NOW], NOW) == 1.5

    def test_no_items(self) -> None:
        assert items_per_day([], NOW) == 0.0


class TestStatus:
    def test_pending_ok_error_retired(self) -> None:
        assert feed_status(FeedState(url="u")) == "pending"
        assert feed_status(FeedState(url="u", polls=3, last_polled_at=NOW)) == "ok"
        assert feed_status(FeedState(url="u", polls=3, last_polled_at=NOW,
                                     consecutive_failures=2)) == "error"
        assert feed_status(FeedState(url="u", retired=True, consecutive_failures=9)) == "retired"

    def test_outcome_of_the_last_poll_wins(self) -> None:
        state = FeedState(url="u", polls=3, last_polled_at=NOW)
        assert feed_status(state, "not_modified") == "not_modified"
        assert feed_status(FeedState(url="u", retired=True), "error") == "retired"


class TestDocument:
    def test_fields_follow_the_contract(self) -> None:
        state = FeedState(url=FEED.url, polls=10, last_polled_at=NOW - 60,
                          last_success_at=NOW - 3600, last_error_at=NOW - 60,
                          last_error="HTTP 503 Service Unavailable",
                          last_error_class="http_503", consecutive_failures=2,
                          items_produced=42, next_poll_at=NOW + 600,
                          new_item_times=[NOW - 3 * DAY, NOW - DAY])
        doc = feed_health_doc(state, FEED, NOW, "poller-a")
        assert set(doc) == CONTRACT_FIELDS
        assert doc == {
            "feed_url": FEED.url, "feed_name": "Example News", "status": "error",
            "last_polled_at": "2027-01-15T07:59:00+00:00",
            "last_success_at": "2027-01-15T07:00:00+00:00",
            "last_error": "HTTP 503 Service Unavailable", "last_error_class": "http_503",
            "consecutive_failures": 2, "items_per_day": pytest.approx(2 / 3, abs=1e-3),
            "items_produced": 42, "next_poll_at": "2027-01-15T08:10:00+00:00",
            "retired": False, "retired_reason": None, "poller_id": "poller-a",
            "updated_at": "2027-01-15T08:00:00+00:00"}
        assert has_problem(doc)

    def test_retired_feed_has_no_next_poll(self) -> None:
        state = FeedState(url=FEED.url, retired=True, retired_reason="HTTP 410 Gone",
                          next_poll_at=NOW + 10)
        doc = feed_health_doc(state, None, NOW, "p")
        assert doc["status"] == "retired" and doc["next_poll_at"] is None
        assert doc["feed_name"] == "" and doc["retired_reason"] == "HTTP 410 Gone"

    def test_doc_id_is_sha256_of_the_feed_url(self) -> None:
        assert health_doc_id(FEED.url) == hashlib.sha256(FEED.url.encode()).hexdigest()


def test_template_is_strict_and_maps_every_field() -> None:
    template = json.loads(HEALTH_TEMPLATE_PATH.read_text(encoding="utf-8"))
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    assert set(mappings["properties"]) == CONTRACT_FIELDS
    assert template["index_patterns"] == ["news-feed-health*"]
    dates = {name for name, spec in mappings["properties"].items() if spec["type"] == "date"}
    assert dates == {"last_polled_at", "last_success_at", "next_poll_at", "updated_at"}


def test_writer_failure_is_counted_not_raised() -> None:
    client = Elasticsearch("http://127.0.0.1:1")  # nothing listens there
    writer = FeedHealthWriter(client, "news-feed-health", "p", timeout_s=1)
    written = writer.write([FeedState(url=FEED.url)], {FEED.url: FEED}, NOW)
    assert written == 0 and writer.failures == 1
    assert writer.write([], {}, NOW) == 0 and writer.failures == 1  # nothing to write
