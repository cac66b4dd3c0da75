"""Load: many feeds polled repeatedly (most unchanged), thousands of new articles through
the whole pipeline; reports peak memory of every process and how fast the lag drains.

Scaled down by default (1,000 feeds, 2,000 articles); the issue's size runs with
NEWSPIPE_RELIABILITY_LOAD=full (10,000 feeds, 5,000 articles). Figures are printed, not
asserted (timings on a shared machine are not a test); the run must still reconcile
exactly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline import stack as local_stack
from pipeline.stack import elasticsearch as stack_es
from pipeline.stack import kafka as stack_kafka
from pipeline.stack import process as stack_process
from tests.reliability.feed_server import FeedServer
from tests.reliability.harness import (
    Run,
    assert_exact,
    reconcile,
    run_job,
    start_poller,
    stop,
    topic_key_counts,
    wait_for,
    wait_until_drained,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

FULL = os.environ.get("NEWSPIPE_RELIABILITY_LOAD") == "full"
FEEDS, ARTICLES = (10_000, 5_000) if FULL else (1_000, 2_000)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the resident memory of process groups once a second; keeps the peak of the
    group's total (a job is Python plus the JVMs it starts)."""

    def __init__(self, groups: dict[str, Callable[[], int | None]]):
        self.groups = groups
        self.peak_kib = dict.fromkeys(groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name, leader in self.groups.items():
                pgid = leader()
                if pgid:
                    total = sum(rss_kib(p) for p in stack_process.group_members(pgid))
                    self.peak_kib[name] = max(self.peak_kib[name], total)
            self._stop.wait(1.0)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> str:
        return ", ".join(f"{name} {kib / 1024:.0f} MiB" for name, kib in self.peak_kib.items())


def test_load_through_the_whole_pipeline(run: Run, es: Elasticsearch,
                                         healthy_stack: local_stack.StackConfig,
                                         tmp_path: Path) -> None:
    # Feeds come due again after a few seconds, so unchanged feeds are polled repeatedly
    # (conditional GET -> 304) while the new articles flow.
    run.poller_env.update({"NEWSPIPE_POLLER_MIN_INTERVAL_S": "5",
                           "NEWSPIPE_POLLER_DEFAULT_INTERVAL_S": "10",
                           "NEWSPIPE_POLLER_CONCURRENCY": "50",
                           "NEWSPIPE_POLLER_PER_HOST_CONCURRENCY": "8"})
    with FeedServer(run.name, feeds=FEEDS, items_per_feed=0) as server:
        rounds, rest = divmod(ARTICLES, FEEDS)
        for _ in range(rounds):
            server.add_items(per_feed=1)
        server.add_items(per_feed=1, feeds=range(rest))
        expected = server.all_ids()
        assert len(expected) == ARTICLES
        feed_list = server.write_feed_list(tmp_path / "feeds.yaml")

        job = run_job(run, extra=["--sdk-workers=1"])
        poller = None
        procs: dict[str, Callable[[], int | None]] = {
            "poller": lambda: poller.pid if poller and poller.poll() is None else None,
            "job (python + JVMs)": lambda: job.pid if job.poll() is None else None,
            "kafka": lambda: stack_kafka.running_pid(healthy_stack),
            "elasticsearch": lambda: stack_es.running_pid(healthy_stack),
        }
        with PeakRss(procs) as memory:
            try:
                started = time.monotonic()
                poller = start_poller(run, feed_list, every_s=2)
                wait_for("every article on the raw topic",
                         lambda: expected <= set(topic_key_counts(run.settings,
                                                                  run.settings.raw_topic)),
                         1800, [poller, job], every_s=3)
                produced_s = time.monotonic() - started
                drained_s = wait_until_drained(run, es, expected, job, 3600)
            finally:
                if poller is not None:
                    stop(poller)
                stop(job)
        log = server.log()
    polls = len(log)
    unchanged = sum(1 for r in log if r.status == 304)
    print(f"\nLOAD {FEEDS} feeds, {ARTICLES} articles: {polls} polls ({unchanged} answered "
          f"304), all produced after {produced_s:.0f}s, lag drained {drained_s:.0f}s later "
          f"({ARTICLES / (produced_s + drained_s):.1f} articles/s end to end)\n"
          f"LOAD peak RSS: {memory.report()}")
    assert_exact(reconcile(es, run.settings, expected))
    counts = topic_key_counts(run.settings, run.settings.raw_topic)
    assert max(counts.values()) == 1, "an article was produced twice"
