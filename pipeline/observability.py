"""Prometheus metrics and structured logs, shared by the poller and the job.

Metrics live in the process that does the work: the poller, and for the Beam job the
process running its Python DoFns (with the local Flink runner in LOOPBACK mode, that is
``pipeline job run`` itself). ``serve_metrics(port)`` exposes them for scraping.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler

POLLS = Counter("newspipe_polls_total", "Feed polls by outcome", ["status"])
FEED_ERRORS = Counter("newspipe_feed_errors_total", "Failed polls by reason class", ["reason"])
ITEMS_PRODUCED = Counter("newspipe_items_produced_total", "Articles published to Kafka")
POLL_SECONDS = Histogram("newspipe_poll_duration_seconds", "Time to poll one feed")
# --- polling engine (issue 3) ---
NOT_MODIFIED = Counter("newspipe_polls_not_modified_total",
                       "Polls that found nothing new without parsing, by how",
                       ["via"])  # http_304 | same_body
FETCH_SECONDS = Histogram("newspipe_fetch_duration_seconds",
                          "HTTP time of one feed fetch (all redirect hops)",
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BYTES_RECEIVED = Counter("newspipe_fetch_bytes_total", "Response body bytes received (on the wire)")
ITEMS_SKIPPED = Counter("newspipe_items_skipped_total", "Feed items dropped, by reason class",
                        ["reason"])
ITEMS_UPDATED = Counter("newspipe_items_updated_total",
                        "Already-sent items re-sent because the publisher updated them")
FEEDS_RETIRED = Counter("newspipe_feeds_retired_total", "Feeds retired, by reason class",
                        ["reason"])
FEEDS_MOVED = Counter("newspipe_feeds_moved_total",
                      "Feeds moved to a new URL after confirmed permanent redirects")

DECODED = Counter("newspipe_articles_decoded_total", "Raw messages decoded into Articles")
ENRICHED = Counter("newspipe_articles_enriched_total", "Articles enriched")
INDEXED = Counter("newspipe_documents_indexed_total", "Documents accepted by Elasticsearch")
DEAD_LETTERS = Counter("newspipe_dead_letters_total", "Messages sent to the dead-letter topic",
                       ["stage"])
CONSUMER_LAG = Gauge("newspipe_consumer_lag", "Raw-topic messages not yet committed by the job")
END_TO_END_SECONDS = Histogram(
    "newspipe_end_to_end_latency_seconds", "From fetch by the poller to accepted by ES",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))


class Heartbeat:
    """When the work loop last showed progress (a finished poller pass, or the idle wait
    between passes). ``/healthz`` fails once it is older than ``max_age_s``, so a poller
    stuck inside a pass is restarted by its orchestrator while ``/metrics`` still answers."""

    def __init__(self) -> None:
        self.max_age_s: float | None = None
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def age_s(self) -> float:
        return time.monotonic() - self._last

    def healthy(self) -> tuple[bool, str]:
        age = self.age_s()
        if self.max_age_s is not None and age > self.max_age_s:
            return False, f"stalled: no progress for {age:.0f}s (limit {self.max_age_s:.0f}s)"
        return True, f"ok: last progress {age:.0f}s ago"


HEARTBEAT = Heartbeat()


class _Handler(MetricsHandler):
    """Prometheus metrics on every path, except ``/healthz`` (the heartbeat)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != "/healthz":
            super().do_GET()
            return
        ok, message = HEARTBEAT.healthy()
        body = message.encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # probes every few seconds would flood the log


def serve_metrics(port: int | None, *, stall_after_s: float | None = None,
                  address: str = "0.0.0.0") -> ThreadingHTTPServer | None:  # noqa: S104
    """Serve ``/metrics`` (and any path) plus ``/healthz`` on ``port`` from a daemon
    thread; ``stall_after_s`` arms the heartbeat check (off: ``/healthz`` always ok)."""
    if not port:
        return None
    HEARTBEAT.max_age_s = stall_after_s
    HEARTBEAT.beat()
    server = ThreadingHTTPServer((address, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server


def reason_class(reason: str) -> str:
    """A low-cardinality label for an error reason ("HTTP 404 Not Found" -> "http_404")."""
    lowered = reason.lower()
    if lowered.startswith("http "):
        return "http_" + lowered.split()[1]
    for needle, label in (("timed out", "timeout"), ("too large", "too_large"),
                          ("network", "network"), ("not a parsable", "parse"),
                          ("not an rss", "not_a_feed"), ("kafka", "kafka"),
                          ("invalid url", "invalid_url"), ("scheme", "invalid_url")):
        if needle in lowered:
            return label
    return "other"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"article_id": ..., "feed_url": ...}`` is kept."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: int, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
