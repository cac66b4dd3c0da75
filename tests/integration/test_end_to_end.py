"""feeds -> poller -> Kafka -> Beam job -> Elasticsearch, on the real local stack."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from rich.console import Console

from pipeline.demo import DEFAULT_RUNNER, start_job, stop_job, wait_until_indexed
from pipeline.kafka.dead_letter import DeadLetter, read_dead_letters, replay
from pipeline.models import article_id
from pipeline.poller.poller import PollReport
from pipeline.poller.run import poll_feeds
from pipeline.poller.sample_server import SAMPLE_FEED_LIST, SampleFeedServer
from pipeline.provision import provision
from pipeline.search import SearchFilters, search
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

PUTIN_URL = "https://world.example.org/2024/06/19/putin-north-korea-visit"
METRICS_PORT = 19464


@pytest.fixture(scope="module")
def first_poll(settings: Settings) -> PollReport:
    provision(settings)
    with SampleFeedServer() as server:
        return poll_feeds(settings, SAMPLE_FEED_LIST, server.base_url)


@pytest.fixture(scope="module")
def job(settings: Settings, first_poll: PollReport, es: Elasticsearch
        ) -> Iterator[subprocess.Popen[bytes]]:
    process = start_job(settings, DEFAULT_RUNNER, settings.state_dir / "job.log",
                        [f"--metrics-port={METRICS_PORT}"])
    try:
        wait_until_indexed(settings, es, first_poll.sent_ids, process, 300, Console())
        yield process
    finally:
        stop_job(process)
        print((settings.state_dir / "job.log").read_text(errors="replace")[-3000:])


def get_doc(es: Elasticsearch, settings: Settings, url: str) -> dict[str, Any]:
    return es.get(index=settings.es_index, id=article_id(url))["_source"]


def test_poll_publishes_each_story_once(first_poll: PollReport) -> None:
    assert [o.status for o in first_poll.outcomes] == ["ok", "ok", "ok"]
    # 3 + 3 + 1 items; the Putin story is syndicated in two feeds under one canonical URL.
    assert first_poll.articles_sent == 6
    assert article_id(PUTIN_URL) in first_poll.sent_ids


def test_sample_article_is_indexed_once_and_enriched(
        job: subprocess.Popen[bytes], es: Elasticsearch, settings: Settings) -> None:
    es.indices.refresh(index=settings.es_index)
    hits = es.search(index=settings.es_index, query={"term": {"canonical_url": PUTIN_URL}})
    assert hits["hits"]["total"]["value"] == 1
    doc = get_doc(es, settings, PUTIN_URL)
    assert "Exit mobile version" not in doc["body"]
    assert not doc["body"].rstrip().endswith("Share.")
    assert doc["body"].startswith("President Vladimir V. Putin of Russia")
    assert {"Vladimir Putin", "Kim Jong-un"} <= set(doc["persons"])
    assert not {"Putin", "Kim"} & set(doc["persons"])
    assert {"North Korea", "Russia", "Ukraine"} <= set(doc["locations"])
    labels = set(doc["topic_labels"])
    assert any("politic" in label for label in labels), labels
    assert any("conflict" in label for label in labels), labels
    assert doc["language"] == "en"
    assert doc["enrichment_version"]
    assert doc["indexed_at"] >= doc["enriched_at"] >= doc["fetched_at"]
    putin = next(e for e in doc["entities"] if e["name"] == "Vladimir Putin")
    assert putin["count"] >= 5
    assert "Putin" in putin["surface_forms"] or "putin" in putin["surface_forms"]


def test_french_article_gets_french_ner_not_english(
        job: subprocess.Popen[bytes], es: Elasticsearch, settings: Settings) -> None:
    doc = get_doc(es, settings,
                  "https://sante.example.fr/actualites/campagne-vaccination-grippe")
    assert doc["language"] == "fr"
    assert doc["ner_skipped_reason"] is None and doc["ner_model"].startswith("fr_core_news")
    # French NER: French names of French bodies (the English model would not find the
    # lower-case "ministère de la Santé"), places on the map.
    assert {"Paris", "France"} <= set(doc["locations"])
    assert {"ministère de la Santé", "Santé publique France"} <= set(doc["organizations"])
    assert "FR" in doc["country_codes"] and doc["location_points"]


def test_search_finds_the_sample_by_name_and_filters(
        job: subprocess.Popen[bytes], es: Elasticsearch, settings: Settings) -> None:
    total, hits = search(es, settings.es_index, "Putin", SearchFilters())
    assert hits[0].id == article_id(PUTIN_URL)
    total, hits = search(es, settings.es_index, "", SearchFilters(
        persons=["Kim Jong-un"], locations=["North Korea"]))
    assert [h.id for h in hits] == [article_id(PUTIN_URL)]
    total, hits = search(es, settings.es_index, "", SearchFilters(persons=["Faith Kipyegon"]))
    assert total == 1 and "Berlin Marathon" in hits[0].title


def test_second_poll_adds_no_documents(
        job: subprocess.Popen[bytes], es: Elasticsearch, settings: Settings) -> None:
    es.indices.refresh(index=settings.es_index)
    before = es.count(index=settings.es_index)["count"]
    with SampleFeedServer() as server:
        again = poll_feeds(settings, SAMPLE_FEED_LIST, server.base_url)
    assert again.articles_sent == 0
    time.sleep(3)  # the job is still running: give it the chance to (wrongly) add something
    es.indices.refresh(index=settings.es_index)
    assert es.count(index=settings.es_index)["count"] == before == 6


def _dead_letters_for(settings: Settings, key: bytes) -> list[DeadLetter]:
    return [d for d in read_dead_letters(settings.kafka_client_kwargs(), settings.dead_letter_topic,
                                         idle_timeout_s=1) if d.key == key.decode()]


def _wait_for(predicate: Any, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("condition not met in time")


def test_malformed_message_goes_to_dead_letters_and_replays(
        job: subprocess.Popen[bytes], es: Elasticsearch, settings: Settings) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(settings.raw_topic, key=b"broken-1", value=b'{"title": "no id, no url"')
    producer.send(settings.raw_topic, key=b"broken-2", value=b"\xff\xfe binary junk")
    producer.flush()
    producer.close()
    [letter] = _wait_for(lambda: _dead_letters_for(settings, b"broken-1"))
    assert letter.stage == "decode"
    assert "invalid Article message" in letter.reason
    assert letter.original_payload() == b'{"title": "no id, no url"'
    assert letter.source_topic == settings.raw_topic and letter.source_offset is not None
    [binary] = _wait_for(lambda: _dead_letters_for(settings, b"broken-2"))
    assert binary.payload_encoding == "base64"
    assert binary.original_payload() == b"\xff\xfe binary junk"
    # A copy of each is searchable for the operators' dashboard.
    es.indices.refresh(index=settings.dead_letter_index)
    copies = es.search(index=settings.dead_letter_index, query={"term": {"key": "broken-1"}})
    assert copies["hits"]["hits"][0]["_source"]["stage"] == "decode"

    # Replay puts the originals back on the raw topic; still broken, they come back as
    # dead letters again (nothing is lost either way), and a second replay is a no-op.
    assert replay(settings.kafka_client_kwargs(), settings.dead_letter_topic,
                  settings.raw_topic) == 2
    _wait_for(lambda: len(_dead_letters_for(settings, b"broken-1")) == 2)
    assert replay(settings.kafka_client_kwargs(), settings.dead_letter_topic, settings.raw_topic,
                  select=lambda d: d.key == "broken-1") == 1


def test_raw_messages_are_versioned_json(settings: Settings, first_poll: PollReport) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(settings.raw_topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    messages = [m for m in consumer if m.key and not m.key.startswith(b"broken")]
    consumer.close()
    assert messages
    for message in messages:
        body = json.loads(message.value)
        assert body["schema_version"] == 1
        assert message.key.decode() == body["id"] == article_id(body["url"])


def _metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    assert values, f"{name} not exported"
    return sum(values)


def test_job_exports_prometheus_metrics(job: subprocess.Popen[bytes]) -> None:
    import httpx

    def scrape() -> str:
        return httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text

    text = scrape()
    assert _metric(text, "newspipe_documents_indexed_total") >= 6
    assert _metric(text, "newspipe_articles_enriched_total") >= 6
    assert _metric(text, "newspipe_end_to_end_latency_seconds_count") >= 6
    # The lag gauge is refreshed every 15 s by a background probe.
    _wait_for(lambda: "newspipe_consumer_lag " in scrape(), timeout_s=40)
