import json
import logging
from pathlib import Path

from prometheus_client import REGISTRY

from pipeline.observability import JsonFormatter, reason_class
from pipeline.poller.feeds import FeedSource
from tests.unit.test_poller import RecordingPublisher, make_poller


def test_reason_classes_are_low_cardinality() -> None:
    assert reason_class("HTTP 404 Not Found") == "http_404"
    assert reason_class("timed out (ReadTimeout)") == "timeout"
    assert reason_class("response too large (over limit 100 bytes)") == "too_large"
    assert reason_class("not a parsable feed: SAXParseException: junk") == "parse"
    assert reason_class("something nobody foresaw") == "other"


def test_json_logs_keep_context_fields() -> None:
    record = logging.LogRecord("pipeline.poller", logging.WARNING, __file__, 1,
                               "feed failed: %s", ("x",), None)
    record.feed_url = "https://example.com/rss"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "feed failed: x"
    assert entry["feed_url"] == "https://example.com/rss"
    assert entry["ts"].endswith("+00:00")


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_poller_counts_polls_errors_and_items(tmp_path: Path) -> None:
    before_ok = counter("newspipe_polls_total", status="ok")
    before_410 = counter("newspipe_feed_errors_total", reason="http_410")
    before_items = counter("newspipe_items_produced_total")
    make_poller(tmp_path, RecordingPublisher()).poll(
        [FeedSource("http://feeds.test/world.rss"), FeedSource("http://feeds.test/gone.rss")])
    assert counter("newspipe_polls_total", status="ok") == before_ok + 1
    assert counter("newspipe_feed_errors_total", reason="http_410") == before_410 + 1
    assert counter("newspipe_items_produced_total") == before_items + 3
