"""Outages: Elasticsearch down while the job indexes, the Kafka broker restarted while the
poller produces, Elasticsearch rejecting some documents. Nothing is lost."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline import stack as local_stack
from pipeline.kafka.lag import consumer_lag
from tests.reliability.feed_server import FeedServer
from tests.reliability.harness import (
    Run,
    assert_exact,
    committed_total,
    reconcile,
    run_job,
    start_poller,
    stop,
    tail,
    topic_key_counts,
    wait_for,
    wait_until_drained,
)

pytestmark = pytest.mark.reliability

# The issue asks for 60 s; developers may shorten it, e.g. NEWSPIPE_RELIABILITY_ES_OUTAGE_S=20.
ES_OUTAGE_S = float(os.environ.get("NEWSPIPE_RELIABILITY_ES_OUTAGE_S", "60"))
DRAIN_TIMEOUT_S = 900


def poll_once(run: Run, feed_list: Path, log_name: str = "poll-once.log") -> None:
    poller = start_poller(run, feed_list, log_name=log_name)
    assert poller.wait(300) == 0, tail(run.logs / log_name)


def all_on_raw_topic(run: Run, ids: set[str]) -> bool:
    return ids <= set(topic_key_counts(run.settings, run.settings.raw_topic))


def test_elasticsearch_outage_is_waited_out_with_offsets_uncommitted(
        run: Run, es: Elasticsearch, fault_stack: local_stack.StackConfig,
        tmp_path: Path) -> None:
    s = run.settings
    # Feeds are due again within 2 s: the poll during the outage must see the new items.
    run.poller_env.update({"NEWSPIPE_POLLER_MIN_INTERVAL_S": "1",
                           "NEWSPIPE_POLLER_DEFAULT_INTERVAL_S": "1",
                           "NEWSPIPE_POLLER_MAX_INTERVAL_S": "2"})
    with FeedServer(run.name, feeds=10, items_per_feed=5) as server:
        feed_list = server.write_feed_list(tmp_path / "feeds.yaml")
        poll_once(run, feed_list)
        before = server.served_ids()
        job = run_job(run)
        try:
            wait_until_drained(run, es, before, job, DRAIN_TIMEOUT_S)
            committed_before = committed_total(s)
            assert committed_before == len(before)

            local_stack.stop_service(fault_stack, "elasticsearch")
            outage_started = time.monotonic()
            server.add_items(per_feed=5)
            time.sleep(3)
            poll_once(run, feed_list, "poll-during-outage.log")
            during = server.served_ids() - before
            assert len(during) == 50 and all_on_raw_topic(run, during)
            # For the rest of the outage the job must hold on: alive, backing off, and not
            # one offset of the unindexed messages committed.
            while time.monotonic() - outage_started < ES_OUTAGE_S:
                assert job.poll() is None, tail(run.logs / "job.log")
                assert committed_total(s) == committed_before
                time.sleep(3)
            lag = consumer_lag(s.kafka_client_kwargs(), s.consumer_group, s.raw_topic)
            assert lag == len(during)
            print(f"Elasticsearch down for {time.monotonic() - outage_started:.0f}s; "
                  f"uncommitted: {lag}")

            local_stack.start_service(fault_stack, "elasticsearch")
            took = wait_until_drained(run, es, before | during, job, DRAIN_TIMEOUT_S)
            print(f"resumed and drained {len(during)} articles {took:.0f}s after ES came back")
        finally:
            stop(job)
            local_stack.start_service(fault_stack, "elasticsearch")
    assert "Elasticsearch unreachable" in (run.logs / "job.log").read_text(errors="replace")
    assert_exact(reconcile(es, s, before | during))


def test_kafka_broker_restart_while_polling_loses_and_duplicates_nothing(
        run: Run, es: Elasticsearch, fault_stack: local_stack.StackConfig,
        tmp_path: Path) -> None:
    s = run.settings
    # Paced so the pass takes ~8 s and the broker goes down in the middle of it.
    with FeedServer(run.name, feeds=40, items_per_feed=5, min_gap_s=0.2) as server:
        feed_list = server.write_feed_list(tmp_path / "feeds.yaml")
        poller = start_poller(run, feed_list, every_s=2)
        try:
            wait_for("a third of the feeds polled",
                     lambda: len({r.feed for r in server.log() if r.status == 200}) >= 13,
                     120, [poller], every_s=0.1)
            local_stack.stop_service(fault_stack, "kafka")
            time.sleep(10)
            local_stack.start_service(fault_stack, "kafka")
            expected = server.all_ids()
            wait_for("every item on the raw topic", lambda: all_on_raw_topic(run, expected),
                     300, [poller], every_s=2)
            assert poller.poll() is None, "the poller died with the broker"
        finally:
            stop(poller)
        assert server.served_ids() == expected
    counts = topic_key_counts(s, s.raw_topic)
    assert set(counts) == expected
    repeated = {key: n for key, n in counts.items() if n > 1}
    assert not repeated, f"{len(repeated)} items produced more than once: {repeated}"

    job = run_job(run)
    try:
        wait_until_drained(run, es, expected, job, DRAIN_TIMEOUT_S)
    finally:
        stop(job)
    assert_exact(reconcile(es, s, expected))


SECRET = "rel-Secret-7f3a9c-do-not-log"


def test_rejected_documents_go_to_dead_letters_and_the_rest_is_indexed(
        run: Run, es: Elasticsearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = run.settings
    # An index created by hand with a wrong type for `authors`: every article with an
    # author is rejected by Elasticsearch (a mapping conflict), the others are fine.
    # (The first generation behind the write alias, as `pipeline setup` would name it.)
    for index in es.indices.get(index=f"{s.es_index}*", expand_wildcards="open,closed"):
        es.indices.delete(index=index)
    es.indices.create(index=f"{s.es_index}-000001",
                      aliases={s.es_index: {"is_write_index": True}},
                      mappings={"properties": {"authors": {"type": "long"}}})
    with FeedServer(run.name, feeds=10, items_per_feed=6, author_every=4) as server:
        poll_once(run, server.write_feed_list(tmp_path / "feeds.yaml"))
        expected = server.served_ids()
        rejected = {item.id for item in server.items() if item.author}
    assert 0 < len(rejected) < len(expected)

    # The job runs with secret-bearing settings (ignored by this unsecured ES); neither its
    # log nor its dead letters may contain them.
    monkeypatch.setenv("NEWSPIPE_ES_API_KEY", SECRET)
    monkeypatch.setenv("NEWSPIPE_KIBANA_API_KEY", SECRET)
    job = run_job(run)
    try:
        wait_until_drained(run, es, expected, job, DRAIN_TIMEOUT_S, expected_dead=len(rejected))
        wait_for("every rejection dead-lettered",
                 lambda: len(reconcile(es, s, expected, rejected).dead) >= len(rejected), 60)
    finally:
        stop(job)
    result = reconcile(es, s, expected, rejected)
    assert_exact(result)
    for letter in result.dead:
        assert letter.stage == "index" and letter.error_type == "ElasticsearchRejection"
        assert "HTTP 400" in letter.reason and "authors" in letter.reason, letter.reason
        assert letter.source_topic == s.raw_topic and letter.source_offset is not None
        assert letter.key is not None and letter.key in letter.original_payload().decode()
        assert SECRET not in letter.to_json_bytes().decode()
    assert SECRET not in (run.logs / "job.log").read_text(errors="replace")


def test_article_producer_is_idempotent_with_acks_from_all_replicas(run: Run) -> None:
    """What makes the broker-restart test pass by design, not by luck."""
    from pipeline.kafka.producer import ArticlePublisher

    publisher = ArticlePublisher(run.settings.kafka_client_kwargs(), run.settings.raw_topic)
    try:
        config = publisher._producer.config
        assert config["acks"] in (-1, "all")
        assert config["enable_idempotence"] is True
        assert config["retries"] > 0 and config["max_in_flight_requests_per_connection"] <= 5
        # Long enough to ride out a broker restart (the test above takes it down for 10 s).
        assert config["delivery_timeout_ms"] >= 60_000 and config["max_block_ms"] >= 60_000
    finally:
        publisher.close()
