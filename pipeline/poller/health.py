"""Feed health: one document per feed for operators (``pipeline feeds status``) and Kibana.

:func:`feed_health_doc` turns a :class:`FeedState` into the document (pure);
:class:`FeedHealthWriter` indexes them into ``feed_health_index`` (``_id`` = sha256 of the
feed URL, overwritten on each poll). Writing is best effort: short timeout, no retries, a
failure is logged and counted, and polling goes on — health is an observation, never a
reason to stop fetching news.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ApiError, TransportError

from pipeline.poller.feeds import FeedSource
from pipeline.poller.state import FeedState
from pipeline.settings import DEPLOY_DIR
from pipeline.sinks.elasticsearch import ensure_index

log = logging.getLogger(__name__)

HEALTH_TEMPLATE_PATH = DEPLOY_DIR / "elasticsearch" / "feed-health-index-template.json"
HEALTH_TEMPLATE_NAME = "newspipe-feed-health"
ITEMS_PER_DAY_WINDOW_S = 7 * 86400
DAY_S = 86400.0
STATUSES = ("ok", "not_modified", "error", "retired", "pending")


def health_doc_id(feed_url: str) -> str:
    return hashlib.sha256(feed_url.encode("utf-8")).hexdigest()


def items_per_day(new_item_times: Iterable[float], now: float) -> float:
    """New items per day over the last week, or over the feed's observed span when it is
    shorter (at least a day, so a first poll's burst does not read as thousands a day)."""
    recent = [t for t in new_item_times if 0 <= now - t <= ITEMS_PER_DAY_WINDOW_S]
    if not recent:
        return 0.0
    span_days = max(now - min(recent), DAY_S) / DAY_S
    return round(len(recent) / span_days, 3)


def feed_status(state: FeedState, last_status: str | None = None) -> str:
    """ok | not_modified | error | retired | pending (never polled).

    ``last_status`` is the outcome of the poll just made, when the caller knows it; the
    state alone cannot tell a 304 from a 200.
    """
    if state.retired:
        return "retired"
    # The polling engine records the outcome in FeedState.last_status (added in issue 3).
    last_status = last_status or getattr(state, "last_status", None)
    if last_status in STATUSES:
        return str(last_status)
    if state.last_polled_at is None and state.polls == 0:
        return "pending"
    if state.consecutive_failures > 0:
        return "error"
    return "ok"


def feed_health_doc(state: FeedState, feed: FeedSource | None, now: float, poller_id: str,
                    last_status: str | None = None) -> dict[str, Any]:
    """The health document for one feed (field contract in the BRIEF / index template)."""
    return {
        "feed_url": state.url or (feed.url if feed else ""),
        "feed_name": feed.name if feed else "",
        "status": feed_status(state, last_status),
        "last_polled_at": iso(state.last_polled_at),
        "last_success_at": iso(state.last_success_at),
        "last_error": state.last_error,
        "last_error_class": state.last_error_class,
        "consecutive_failures": state.consecutive_failures,
        "items_per_day": items_per_day(state.new_item_times, now),
        "items_produced": state.items_produced,
        "next_poll_at": None if state.retired else iso(state.next_poll_at or None),
        "retired": state.retired,
        "retired_reason": state.retired_reason,
        "poller_id": poller_id,
        "updated_at": iso(now),
    }


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def has_problem(doc: Mapping[str, Any]) -> bool:
    return doc["status"] in {"error", "retired"} or doc["consecutive_failures"] > 0


def ensure_feed_health_index(client: Elasticsearch, index: str, *,
                             language_analysis: bool | None = None) -> None:
    """Install the feed-health template and create the index (idempotent); provisioning
    calls this next to the article and dead-letter indices."""
    ensure_index(client, index, HEALTH_TEMPLATE_PATH, HEALTH_TEMPLATE_NAME,
                 language_analysis=language_analysis)


class FeedHealthWriter:
    """Best-effort bulk writer of health documents; ``failures`` counts lost batches."""

    def __init__(self, client: Elasticsearch, index: str, poller_id: str, *,
                 timeout_s: float = 5.0):
        # No retries and a short timeout: a slow or absent Elasticsearch must not hold up
        # the polling loop.
        self.client = client.options(request_timeout=timeout_s, max_retries=0,
                                     retry_on_timeout=False)
        self.index = index
        self.poller_id = poller_id
        self.failures = 0
        self.written = 0
        self._template_installed = False

    def write(self, states: Iterable[FeedState], feeds: Mapping[str, FeedSource],
              now: float, statuses: Mapping[str, str] | None = None) -> int:
        """Index one document per state; returns how many Elasticsearch accepted."""
        statuses = statuses or {}
        actions = [{"_op_type": "index", "_index": self.index, "_id": health_doc_id(s.url),
                    "_source": feed_health_doc(s, feeds.get(s.url), now, self.poller_id,
                                               statuses.get(s.url))}
                   for s in states]
        if not actions:
            return 0
        try:
            if not self._template_installed:
                # Never let a first write create the index with dynamic mappings.
                ensure_feed_health_index(self.client, self.index)
                self._template_installed = True
            ok, errors = helpers.bulk(self.client, actions, raise_on_error=False,
                                      max_retries=0, stats_only=False)
        except (ApiError, TransportError, OSError) as exc:
            self._failed(f"{len(actions)} feed-health documents not written: {exc}")
            return 0
        if isinstance(errors, list) and errors:
            self._failed(f"{len(errors)} of {len(actions)} feed-health documents rejected: "
                         f"{errors[0]}")
        self.written += ok
        return ok

    def _failed(self, message: str) -> None:
        self.failures += 1
        log.warning("feed health (best effort): %s", message)
