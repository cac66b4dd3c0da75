"""Crashes: kill -9 the Beam job, the poller, or both, mid-stream; restart; nothing lost,
nothing indexed twice, nothing produced twice, no feed polled before its time."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from tests.reliability.feed_server import FeedServer
from tests.reliability.harness import (
    Run,
    assert_exact,
    indexed_count,
    kill9,
    reconcile,
    run_job,
    start_poller,
    stop,
    wait_for,
    wait_until_drained,
)

pytestmark = pytest.mark.reliability

JOB_START_TIMEOUT_S = 300
DRAIN_TIMEOUT_S = 300


def poll_once(run: Run, server: FeedServer, tmp_path: Path) -> None:
    poller = start_poller(run, server.write_feed_list(tmp_path / "feeds.yaml"),
                          log_name="poll-once.log")
    assert poller.wait(300) == 0, (run.logs / "poll-once.log").read_text(errors="replace")


def test_job_killed_mid_stream_resumes_from_committed_offsets(
        run: Run, es: Elasticsearch, tmp_path: Path) -> None:
    with FeedServer(run.name, feeds=20, items_per_feed=10) as server:
        poll_once(run, server, tmp_path)
        expected = server.served_ids()
    assert expected == server.all_ids() and len(expected) == 200

    job = run_job(run)
    try:
        # Kill once part, but not all, of the backlog is indexed: a crash mid-stream.
        at_kill = wait_for("the first documents indexed",
                           lambda: indexed_count(es, run.settings.es_index), JOB_START_TIMEOUT_S,
                           [job], every_s=0.2)
        kill9(job)
    finally:
        stop(job)
    assert at_kill < len(expected), "everything was indexed before the kill: make it bigger"
    print(f"killed the job with {at_kill}/{len(expected)} indexed")

    restarted = run_job(run, "job-restarted.log")
    try:
        took = wait_until_drained(run, es, expected, restarted, DRAIN_TIMEOUT_S)
    finally:
        stop(restarted)
    print(f"restarted job drained the rest in {took:.0f}s")
    assert_exact(reconcile(es, run.settings, expected))
