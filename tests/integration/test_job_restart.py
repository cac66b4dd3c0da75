"""Restart mid-stream: the job is SIGKILLed while it indexes, then started again with the
same consumer group. Every produced article ends up in Elasticsearch exactly once, none
in the dead-letter topic, and the offsets committed before the kill never ran ahead of
what Elasticsearch had accepted (at-least-once, see README "Delivery guarantees")."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from rich.console import Console

from pipeline.demo import DEFAULT_RUNNER, count_indexed, start_job, stop_job, wait_until_indexed
from pipeline.kafka.dead_letter import read_dead_letters
from pipeline.kafka.lag import committed_offsets
from pipeline.kafka.topics import ensure_topics
from pipeline.models import Article
from pipeline.settings import Settings
from tests.support import drop_indices, produce, synthetic_articles

pytestmark = pytest.mark.integration

ARTICLES = 300
# Produced before the job starts; the rest follow at PACE_PER_S once the job indexes,
# slower than it indexes. So the stream is still running when the kill lands: with all
# articles produced up front, a first checkpoint late enough (260 of 300 committed, seen
# once on a loaded machine) let the job index everything before the kill.
UP_FRONT = 60
PACE_PER_S = 8.0
# Small batches and bundles (4 batches each, see job.py) so that checkpoints, and with
# them offset commits, happen every few dozen articles: the kill lands between commits.
JOB_FLAGS = ["--batch-size=16"]


@pytest.fixture()
def restart_settings(settings: Settings, es: Elasticsearch) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:6]
    ours = settings.with_overrides(
        raw_topic=f"restart-{run}.raw", raw_topic_partitions=2,
        dead_letter_topic=f"restart-{run}.dlq", consumer_group=f"restart-{run}",
        es_index=f"restart-{run}", dead_letter_index=f"dl-restart-{run}")
    ensure_topics(ours)
    yield ours
    drop_indices(es, ours)
    admin = KafkaAdminClient(**ours.kafka_client_kwargs())
    admin.delete_topics([ours.raw_topic, ours.dead_letter_topic])
    admin.close()


def wait_until_mid_stream(settings: Settings, es: Elasticsearch, ids: list[str],
                          job: subprocess.Popen[bytes], timeout_s: float = 600) -> None:
    """Until some offsets are committed and more articles than that are indexed: the
    state in which a crash must lead to re-delivery (of the indexed but uncommitted)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert job.poll() is None, "the job exited before it could be killed"
        indexed = count_indexed(es, settings.es_index, ids)
        assert indexed < len(ids), "the job indexed everything before the kill"
        committed = committed_count(settings)
        if 0 < committed < indexed:
            return
        time.sleep(0.3)
    raise TimeoutError("the job did not get going")


def committed_count(settings: Settings) -> int:
    """Messages below the group's committed offsets (the topic is new: offsets start at 0).
    Not "produced minus lag": with the stream still being produced that overcounts."""
    committed = committed_offsets(settings.kafka_client_kwargs(), settings.consumer_group)
    return sum(meta.offset for meta in (committed or {}).values() if meta.offset > 0)


def kill_process_group(job: subprocess.Popen[bytes]) -> None:
    """SIGKILL the job and everything in its process group (Flink and expansion-service
    JVMs): no shutdown hook, no last flush, no last commit."""
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(job.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError("processes of the killed job are still running")


def committed_keys(settings: Settings) -> set[str]:
    """Keys of the raw messages below the group's committed offsets."""
    committed = committed_offsets(settings.kafka_client_kwargs(), settings.consumer_group)
    assert committed is not None, "Kafka could not list the group's offsets"
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    partitions = [TopicPartition(settings.raw_topic, p)
                  for p in consumer.partitions_for_topic(settings.raw_topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    keys: set[str] = set()
    for message in consumer:
        meta = committed.get(TopicPartition(message.topic, message.partition))
        if meta is not None and message.offset < meta.offset:
            keys.add(message.key.decode())
    consumer.close()
    return keys


def indexed_at(es: Elasticsearch, index: str) -> dict[str, str]:
    """``indexed_at`` of every document by ``_id`` (asserting no ``_id`` twice)."""
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=10_000, query={"match_all": {}},
                     source=["indexed_at"])["hits"]["hits"]
    stamps = {hit["_id"]: hit["_source"]["indexed_at"] for hit in hits}
    assert len(stamps) == len(hits), "an _id is in the index twice"
    return stamps


@contextmanager
def paced_rest(settings: Settings, es: Elasticsearch, articles: list[Article]
               ) -> Iterator[threading.Thread]:
    """Produce ``articles[UP_FRONT:]`` from a thread, at ``PACE_PER_S``, once the job has
    indexed one of the first ``UP_FRONT``; stopped early if the test ends first."""
    stop = threading.Event()

    def run() -> None:
        first_ids = [a.id for a in articles[:UP_FRONT]]
        while not stop.is_set() and count_indexed(es, settings.es_index, first_ids) == 0:
            stop.wait(0.3)
        producer = KafkaProducer(**settings.kafka_client_kwargs(), acks="all")
        try:
            for article in articles[UP_FRONT:]:
                if stop.wait(1 / PACE_PER_S):
                    return
                producer.send(settings.raw_topic, key=article.key,
                              value=article.to_json_bytes()).get(timeout=60)
        finally:
            producer.close()

    sender = threading.Thread(target=run, name="paced-producer", daemon=True)
    sender.start()
    try:
        yield sender
    finally:
        stop.set()
        sender.join()


def test_killed_job_resumes_without_loss_or_duplicates(
        restart_settings: Settings, es: Elasticsearch, tmp_path: Path) -> None:
    settings = restart_settings
    articles = synthetic_articles(ARTICLES, settings.consumer_group)
    produce(settings, articles[:UP_FRONT])
    ids = [a.id for a in articles]

    with paced_rest(settings, es, articles) as sender:
        first = start_job(settings, DEFAULT_RUNNER, tmp_path / "job-1.log", JOB_FLAGS)
        try:
            wait_until_mid_stream(settings, es, ids, first)
            kill_process_group(first)
        finally:
            stop_job(first)
        sender.join(timeout=ARTICLES / PACE_PER_S + 60)  # the rest, while no job runs
        assert not sender.is_alive(), "the paced producer did not finish"
    stamps_at_kill = indexed_at(es, settings.es_index)
    committed = committed_keys(settings)
    redelivered = stamps_at_kill.keys() - committed
    print(f"at the kill: {len(stamps_at_kill)} indexed, {len(committed)} committed")
    assert 0 < len(stamps_at_kill) < ARTICLES
    # Offsets are committed only for what Elasticsearch already accepted.
    assert committed and committed <= stamps_at_kill.keys()

    second = start_job(settings, DEFAULT_RUNNER, tmp_path / "job-2.log", JOB_FLAGS)
    try:
        wait_until_indexed(settings, es, ids, second, 600, Console())
    finally:
        stop_job(second)

    stamps = indexed_at(es, settings.es_index)
    assert set(stamps) == set(ids)
    # Indexed but not committed at the kill: read again and overwritten in place.
    assert all(stamps[i] > stamps_at_kill[i] for i in redelivered), redelivered
    print(f"re-delivered and overwritten: {len(redelivered)}")
    assert es.count(index=settings.es_index)["count"] == ARTICLES
    assert read_dead_letters(settings.kafka_client_kwargs(), settings.dead_letter_topic,
                             idle_timeout_s=2) == []
