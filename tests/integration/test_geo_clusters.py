"""Geo and near-duplicate clusters through the real stack: Kafka -> Beam (Flink) -> ES."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer
from rich.console import Console

from pipeline.beam.clusters import Candidate, lookup_candidates
from pipeline.demo import DEFAULT_RUNNER, start_job, stop_job, wait_until_indexed
from pipeline.enrichment.neardup import fingerprint
from pipeline.models import Article, article_id
from pipeline.models.article import ArticleDecodeError
from pipeline.poller.poller import PollReport
from pipeline.poller.run import poll_feeds
from pipeline.poller.sample_server import SAMPLE_FEED_LIST, SampleFeedServer
from pipeline.provision import provision
from pipeline.settings import Settings
from pipeline.sinks.elasticsearch import TEMPLATE_NAME, ElasticsearchSink, ensure_index
from tests.support import delete_topics, drop_indices, produce

pytestmark = pytest.mark.integration

PUTIN_URL = "https://world.example.org/2024/06/19/putin-north-korea-visit"
PARTNER_URL = "https://partner.example.com/wire/2024/06/19/putin-arrives-in-pyongyang"
LINEAGE = ("published_at", "fetched_at", "enriched_at", "indexed_at", "enrichment_version")


def raw_articles(settings: Settings) -> dict[str, Article]:
    consumer = KafkaConsumer(settings.raw_topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    articles = {}
    for message in consumer:
        try:  # the session's raw topic also holds the end-to-end test's broken messages
            article = Article.from_json_bytes(message.value)
        except ArticleDecodeError:
            continue
        articles[article.id] = article
    consumer.close()
    return articles


def syndicated_copy(original: Article) -> Article:
    """The same wire story on a partner site: new headline, dateline and credit line."""
    return Article.create(
        url=PARTNER_URL,
        title="Russia's Putin arrives in Pyongyang, vows to deepen ties with Kim",
        feed_url="https://partner.example.com/wire/rss",
        content=f"<p>PYONGYANG (Wire) —</p>{original.content}"
                "<p>Reporting by Jane Doe; editing by John Roe.</p>",
        published_at=original.published_at,
    )


@pytest.fixture(scope="module")
def geo_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Settings]:
    """This module's own topics, index, group and poller state: it counts every document
    in its index, so the other modules' articles must not be there."""
    run = uuid.uuid4().hex[:8]
    own = settings.with_overrides(
        raw_topic=f"geo-{run}.raw", dead_letter_topic=f"geo-{run}.dlq",
        consumer_group=f"geo-{run}-enrich", es_index=f"geo-{run}-articles",
        state_dir=tmp_path_factory.mktemp("geo-state"))
    yield own
    with Elasticsearch(**own.es_client_kwargs()) as es:
        drop_indices(es, own, dead_letters=False)  # the dead-letter index is the session's
    delete_topics(own, [own.raw_topic, own.dead_letter_topic])


@pytest.fixture(scope="module")
def sent(geo_settings: Settings) -> tuple[PollReport, Article, Article]:
    provision(geo_settings)
    with SampleFeedServer() as server:
        report = poll_feeds(geo_settings, SAMPLE_FEED_LIST, server.base_url)
    original = raw_articles(geo_settings)[article_id(PUTIN_URL)]
    copy = syndicated_copy(original)
    produce(geo_settings, [copy])
    return report, original, copy


@pytest.fixture(scope="module")
def job(geo_settings: Settings, sent: tuple[PollReport, Article, Article], es: Elasticsearch
        ) -> Iterator[subprocess.Popen[bytes]]:
    report, _, copy = sent
    log_path = geo_settings.state_dir / "geo-clusters-job.log"
    process = start_job(geo_settings, DEFAULT_RUNNER, log_path)
    try:
        wait_until_indexed(geo_settings, es, [*report.sent_ids, copy.id], process, 420, Console())
        es.indices.refresh(index=geo_settings.es_index)
        yield process
    finally:
        stop_job(process)
        print(log_path.read_text(errors="replace")[-3000:])


def source(es: Elasticsearch, geo_settings: Settings, doc_id: str) -> dict[str, Any]:
    return es.get(index=geo_settings.es_index, id=doc_id)["_source"]


def all_docs(es: Elasticsearch, geo_settings: Settings) -> list[dict[str, Any]]:
    es.indices.refresh(index=geo_settings.es_index)
    hits = es.search(index=geo_settings.es_index, size=100, query={"match_all": {}})
    return [h["_source"] for h in hits["hits"]["hits"]]


def test_places_get_country_codes_and_map_points(
        job: subprocess.Popen[bytes], es: Elasticsearch, geo_settings: Settings) -> None:
    doc = source(es, geo_settings, article_id(PUTIN_URL))
    assert {"KP", "RU", "UA"} <= set(doc["country_codes"])
    assert len(doc["country_codes"]) == len(set(doc["country_codes"]))
    places = {e["name"]: e for e in doc["entities"] if e["type"] == "location"}
    assert places["Pyongyang"]["country_code"] == "KP"
    assert places["North Korea"]["country_code"] == "KP"
    assert places["Ukraine"]["country_code"] == "UA"
    pyongyang = places["Pyongyang"]["point"]
    assert abs(pyongyang["lat"] - 39.03) < 0.1 and abs(pyongyang["lon"] - 125.75) < 0.1
    assert pyongyang in doc["location_points"]
    resolved = [e for e in places.values() if e["point"] is not None]
    assert len(doc["location_points"]) == len(resolved)


def test_points_are_searchable_as_geo_points(
        job: subprocess.Popen[bytes], es: Elasticsearch, geo_settings: Settings) -> None:
    near_pyongyang = es.search(index=geo_settings.es_index, query={"geo_distance": {
        "distance": "50km", "location_points": {"lat": 39.0, "lon": 125.7}}})
    ids = {h["_id"] for h in near_pyongyang["hits"]["hits"]}
    assert article_id(PUTIN_URL) in ids
    assert article_id(PARTNER_URL) in ids
    by_code = es.search(index=geo_settings.es_index, query={"term": {"country_codes": "PK"}})
    titles = [h["_source"]["title"] for h in by_code["hits"]["hits"]]
    assert titles == ["Flash floods kill dozens in northern Pakistan"]


def test_syndicated_copies_share_a_cluster_and_other_stories_do_not(
        job: subprocess.Popen[bytes], es: Elasticsearch, geo_settings: Settings) -> None:
    original = source(es, geo_settings, article_id(PUTIN_URL))
    copy = source(es, geo_settings, article_id(PARTNER_URL))
    assert original["simhash"] != copy["simhash"]  # a near, not an exact, duplicate
    assert original["cluster_id"] == copy["cluster_id"]
    # The first of the two to be processed founded the cluster.
    assert original["cluster_id"] in {original["id"], copy["id"]}
    docs = all_docs(es, geo_settings)
    assert len(docs) == 7  # 6 sample stories (one syndicated under the same URL) + copy
    for doc in docs:
        if doc["id"] not in {original["id"], copy["id"]}:
            assert doc["cluster_id"] == doc["id"], doc["title"]


def test_every_document_has_its_lineage(
        job: subprocess.Popen[bytes], es: Elasticsearch, geo_settings: Settings) -> None:
    for doc in all_docs(es, geo_settings):
        for field in LINEAGE:
            assert doc[field], (doc["title"], field)
        assert doc["fetched_at"] <= doc["enriched_at"] <= doc["indexed_at"]


def test_redelivery_keeps_the_cluster_and_adds_no_document(
        job: subprocess.Popen[bytes], es: Elasticsearch, geo_settings: Settings,
        sent: tuple[PollReport, Article, Article]) -> None:
    _, original, copy = sent
    before = {d["id"]: d for d in all_docs(es, geo_settings)}
    produce(geo_settings, [copy, original])  # e.g. a replay after a crash
    deadline = time.monotonic() + 180
    while True:
        after = {d["id"]: d for d in all_docs(es, geo_settings)}
        if all(after[i]["indexed_at"] > before[i]["indexed_at"] for i in (copy.id, original.id)):
            break
        assert time.monotonic() < deadline, "the re-delivered articles were not re-indexed"
        time.sleep(2)
    assert after.keys() == before.keys()
    for doc_id in (copy.id, original.id):
        assert after[doc_id]["cluster_id"] == before[doc_id]["cluster_id"]


def test_lookup_finds_stored_near_duplicates_by_band(es: Elasticsearch,
                                                     geo_settings: Settings) -> None:
    """The index side of clustering, on its own index: what a fresh worker (empty memory)
    finds for a new copy."""
    # Not under the session index's name: index templates must not overlap.
    index = geo_settings.es_index.replace("-articles", "-neardup-lookup")
    ensure_index(es, index)
    try:
        text = ("The European Central Bank left its key interest rates unchanged on Thursday, "
                "as policymakers in Frankfurt weighed slowing inflation against signs that "
                "the eurozone economy is losing momentum, President Christine Lagarde said.")
        stored_fp = fingerprint("ECB holds rates", text)
        other_fp = fingerprint("Kipyegon wins Berlin Marathon", "Faith Kipyegon won the "
                               "Berlin Marathon on Sunday in a course record, pulling away "
                               "from the field after 30 kilometres in cool conditions.")
        new_fp = fingerprint("ECB keeps rates on hold", f"FRANKFURT (Wire) - {text}")
        assert stored_fp and other_fp and new_fp
        docs = [{"id": "stored", "simhash": stored_fp.simhash,
                 "simhash_bands": stored_fp.bands, "cluster_id": "cluster-1"},
                {"id": "other", "simhash": other_fp.simhash,
                 "simhash_bands": other_fp.bands, "cluster_id": "other"}]
        assert ElasticsearchSink(es, index).write(
            [{**d, "title": d["id"]} for d in docs]) == []
        es.indices.refresh(index=index)
        new = {"id": "new", "simhash": new_fp.simhash, "simhash_bands": new_fp.bands}
        stored = Candidate("stored", stored_fp.simhash, "cluster-1")
        assert lookup_candidates(es, index, [new]) == [stored]
        # A re-delivered article finds its own record whatever its text became.
        again = {"id": "other", "simhash": new_fp.simhash, "simhash_bands": []}
        assert lookup_candidates(es, index, [again]) == [
            Candidate("other", other_fp.simhash, "other")]
        assert lookup_candidates(es, f"{index}-missing", [new]) == []
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.indices.delete_index_template(name=f"{TEMPLATE_NAME}.{index}")
