"""``pipeline feeds poll``: one scaled-out poller process, wired from settings."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from pipeline.kafka.poll_loop import PassSummary, PollOnce, run_registry_poller
from pipeline.kafka.registry import RegistryError
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def run_kafka_poller(settings: Settings, *, every: float | None, metrics_port: int | None,
                     poller_id: str | None = None, health: bool = True,
                     stall_after_s: float | None = None,
                     poll_once_factory: Callable[[Any, Any], PollOnce] | None = None,
                     on_pass: Callable[[PassSummary], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT (or one pass without ``every``); returns an exit code.

    ``poll_once_factory(publisher, settings)`` builds the pass; default: the project's
    polling engine (:func:`~pipeline.kafka.poll_loop.engine_poll_once`).
    """
    from elasticsearch import Elasticsearch

    from pipeline.display import console
    from pipeline.kafka.assignment import default_poller_id
    from pipeline.kafka.poll_loop import engine_poll_once
    from pipeline.kafka.producer import ArticlePublisher
    from pipeline.observability import serve_metrics
    from pipeline.poller.health import FeedHealthWriter

    # /healthz fails after this long without progress; a full pass of a big registry
    # can take minutes, so never less than 15 minutes nor five intervals.
    if stall_after_s is None and every is not None:
        stall_after_s = max(900.0, 5 * every)
    serve_metrics(metrics_port, stall_after_s=stall_after_s)
    poller_id = poller_id or settings.poller_id or default_poller_id()
    stop = threading.Event()
    _stop_on_signals(stop)
    publisher = ArticlePublisher(settings.kafka_client_kwargs(), settings.raw_topic)
    es = Elasticsearch(**settings.es_client_kwargs()) if health else None
    writer = FeedHealthWriter(es, settings.feed_health_index, poller_id) if es else None

    def show(summary: PassSummary) -> None:
        failed = sum(1 for s in summary.statuses.values() if s == "error")
        console.print(f"{summary.poller_id}: partitions {summary.partitions}, "
                      f"{len(summary.statuses)} of {summary.feeds} feeds polled (the due "
                      f"ones), {failed} failed, "
                      f"{summary.states_written} states written")
        if on_pass:
            on_pass(summary)

    try:
        poll_once = (poll_once_factory(publisher, settings) if poll_once_factory
                     else engine_poll_once(settings, publisher))
        passes = run_registry_poller(settings, poll_once, every=every, stop=stop,
                                     health=writer, on_pass=show, poller_id=poller_id)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    finally:
        publisher.close()
        if es is not None:
            es.close()
    if every is None and passes == 0:
        console.print("no feeds assigned to this poller (empty registry, or more pollers "
                      "than partitions)")
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing the pass, writing state, leaving the group", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

