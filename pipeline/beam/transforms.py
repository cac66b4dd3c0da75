"""The job's DoFns: each a few lines around the pure stage functions.

Every failure becomes a dead letter with its stage and reason (tagged output), so no
message is dropped silently; ``Metrics`` counters make the flow visible on any runner.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.beam.messages import KafkaMessage
from pipeline.kafka.dead_letter import DeadLetter
from pipeline.models import Article, ArticleDecodeError
from pipeline.models.document import build_document
from pipeline.observability import (
    DEAD_LETTERS,
    DECODED,
    END_TO_END_SECONDS,
    ENRICHED,
    INDEXED,
)
from pipeline.sinks.elasticsearch import Rejection

log = logging.getLogger(__name__)

DEAD = "dead_letters"
NAMESPACE = "newspipe"


def _dead_letter(message: KafkaMessage, stage: str, exc: BaseException | str,
                 error_type: str | None = None) -> DeadLetter:
    return DeadLetter.build(
        stage=stage, reason=str(exc), error_type=error_type or type(exc).__name__,
        payload=message.value, key=message.key, source_topic=message.topic,
        source_partition=message.partition, source_offset=message.offset,
    )


class DecodeArticle(beam.DoFn):
    """bytes -> (KafkaMessage, Article); undecodable messages -> dead letters."""

    def __init__(self) -> None:
        self.decoded = Metrics.counter(NAMESPACE, "messages_decoded")
        self.invalid = Metrics.counter(NAMESPACE, "messages_invalid")

    def process(self, message: KafkaMessage) -> Iterator[Any]:
        try:
            article = Article.from_json_bytes(message.value)
        except ArticleDecodeError as exc:
            self.invalid.inc()
            yield TaggedOutput(DEAD, _dead_letter(message, "decode", exc))
            return
        self.decoded.inc()
        DECODED.inc()
        yield message, article


class EnrichArticles(beam.DoFn):
    """Batches of (message, article) -> (message, ES document). Models load in ``setup``.

    ``nlp_batch_size``: texts per ``nlp.pipe`` batch; each article is one text (title and
    body), so the job's batch size runs one job batch as one spaCy batch.
    """

    def __init__(self, nlp_batch_size: int = 64) -> None:
        self.nlp_batch_size = nlp_batch_size
        self.enriched = Metrics.counter(NAMESPACE, "articles_enriched")
        self.failed = Metrics.counter(NAMESPACE, "articles_enrich_failed")

    def setup(self) -> None:
        from pipeline.enrichment import Enricher  # heavy import: workers only

        self._enricher = Enricher.load(batch_size=self.nlp_batch_size)

    def process(self, batch: list[tuple[KafkaMessage, Article]]) -> Iterator[Any]:
        items = [(article.title, article.content or article.summary) for _, article in batch]
        try:
            results = self._enricher.enrich_many(items)
        except Exception:  # one bad text must not sink the batch: retry one by one
            log.exception("batch enrichment failed; enriching %d articles singly", len(batch))
            yield from self._one_by_one(batch)
            return
        now = datetime.now(UTC)
        for (message, article), enrichment in zip(batch, results, strict=True):
            self.enriched.inc()
            ENRICHED.inc()
            yield message, build_document(article, enrichment.to_dict(), now)

    def _one_by_one(self, batch: list[tuple[KafkaMessage, Article]]) -> Iterator[Any]:
        for message, article in batch:
            try:
                [enrichment] = self._enricher.enrich_many(
                    [(article.title, article.content or article.summary)])
            except Exception as exc:
                self.failed.inc()
                yield TaggedOutput(DEAD, _dead_letter(message, "enrich", exc))
                continue
            self.enriched.inc()
            ENRICHED.inc()
            yield message, build_document(article, enrichment.to_dict(), datetime.now(UTC))


@dataclass
class _Written:
    """What the writer thread did with one batch: documents as sent (with their cluster),
    the permanent rejections by id, and whether the cluster lookup was given up."""

    documents: list[dict[str, Any]]
    rejections: dict[str, Rejection]
    lookup_failed: bool
    at: datetime


@dataclass
class _InFlight:
    batch: list[tuple[KafkaMessage, dict[str, Any]]]
    received: WindowedValue  # the batch as received: its window and timestamp go to outputs
    written: Future[_Written]


class ClusterAndIndex(beam.DoFn):
    """Batches of (message, document) -> near-duplicate ``cluster_id``, then bulk index;
    yields the indexed ids; permanent rejections -> dead letters.

    Both Elasticsearch round trips (candidate lookup, bulk write) run on one writer thread
    while the bundle thread goes on with the next batch's NER: profiled, the job spent ~4 %
    of its time waiting on them. Only the waits overlap (Python work holds the GIL either
    way), so ``in_flight`` = 1 batch ahead is enough. One thread keeps the batches in order,
    which the clusters need (each batch is a candidate for the next).

    Delivery is unchanged: ``finish_bundle`` waits for every write, and the bundle finishes
    before each checkpoint barrier, so a checkpoint (and the Kafka offsets it commits) never
    covers a document Elasticsearch has not answered. Outages are waited out on the writer
    thread (backoff); if one outlasts ``outage_timeout_s`` the error is raised here and fails
    the bundle. Outputs and Beam counters are emitted from the bundle thread (Beam's metric
    containers are per bundle thread), with the window and timestamp of their own batch.
    """

    def __init__(self, es_kwargs: dict[str, Any], index: str, outage_timeout_s: float,
                 in_flight: int = 1):
        self.es_kwargs = es_kwargs
        self.index = index
        self.outage_timeout_s = outage_timeout_s
        self.in_flight = in_flight
        self.indexed = Metrics.counter(NAMESPACE, "documents_indexed")
        self.rejected = Metrics.counter(NAMESPACE, "documents_rejected")
        self.joined = Metrics.counter(NAMESPACE, "articles_joined_cluster")
        self.lookup_failed = Metrics.counter(NAMESPACE, "cluster_lookups_failed")

    def setup(self) -> None:
        from elasticsearch import Elasticsearch

        from pipeline.beam.clusters import ClusterAssigner
        from pipeline.sinks.elasticsearch import ElasticsearchSink

        self._client = Elasticsearch(**self.es_kwargs)
        self._clusters = ClusterAssigner(self._client, self.index,
                                         outage_timeout_s=self.outage_timeout_s)
        # require_alias: a deleted alias must not silently become a plain index (the
        # writes are refused and dead-lettered, replayable once `pipeline setup` ran).
        self._sink = ElasticsearchSink(self._client, self.index,
                                       outage_timeout_s=self.outage_timeout_s,
                                       require_alias=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="es-writer")
        self._pending: deque[_InFlight] = deque()

    def start_bundle(self) -> None:
        self._pending = deque()  # a failed bundle's leftovers are redone from Kafka

    def process(self, batch: list[tuple[KafkaMessage, dict[str, Any]]],
                received: Any = beam.DoFn.WindowedValueParam) -> Iterator[Any]:
        docs = [doc for _, doc in batch]
        self._pending.append(_InFlight(batch, received, self._writer.submit(self._write, docs)))
        while self._pending and (len(self._pending) > self.in_flight
                                 or self._pending[0].written.done()):
            yield from self._emit(self._pending.popleft())

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            yield from self._emit(self._pending.popleft())

    def _write(self, docs: list[dict[str, Any]]) -> _Written:
        """On the writer thread: Elasticsearch I/O and pure work only."""
        clusters, lookup_failed = self._clusters.assign(docs)
        now = datetime.now(UTC)
        documents = [{**doc, "cluster_id": cluster, "indexed_at": now.isoformat()}
                     for doc, cluster in zip(docs, clusters, strict=True)]
        rejections = {r.doc_id: r for r in self._sink.write(documents)}
        return _Written(documents, rejections, lookup_failed, now)

    def _emit(self, pending: _InFlight) -> Iterator[Any]:
        written = pending.written.result()  # re-raises the writer's error in the bundle
        if written.lookup_failed:
            self.lookup_failed.inc()
        for (message, _), doc in zip(pending.batch, written.documents, strict=True):
            if doc["cluster_id"] != doc["id"]:
                self.joined.inc()
            rejection = written.rejections.get(doc["id"])
            if rejection is None:
                self.indexed.inc()
                INDEXED.inc()
                fetched = datetime.fromisoformat(doc["fetched_at"])
                END_TO_END_SECONDS.observe((written.at - fetched).total_seconds())
                yield pending.received.with_value(doc["id"])
            else:
                self.rejected.inc()
                yield TaggedOutput(DEAD, pending.received.with_value(_dead_letter(
                    message, "index", f"HTTP {rejection.status}: {rejection.reason}",
                    error_type="ElasticsearchRejection")))

    def teardown(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.shutdown(wait=False, cancel_futures=True)
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()


class PublishDeadLetters(beam.DoFn):
    """Dead letters -> the dead-letter topic (acked before the bundle may finish), and a
    best-effort copy in Elasticsearch for the operators' dashboard."""

    def __init__(self, kafka: dict[str, Any], topic: str, es_kwargs: dict[str, Any],
                 es_index: str):
        self.kafka = kafka
        self.topic = topic
        self.es_kwargs = es_kwargs
        self.es_index = es_index
        self.published = Metrics.counter(NAMESPACE, "dead_letters")

    def setup(self) -> None:
        from elasticsearch import Elasticsearch
        from kafka import KafkaProducer

        self._producer = KafkaProducer(**self.kafka, acks="all",
                                       enable_idempotence=True, client_id="newspipe-dlq")
        self._es = Elasticsearch(**self.es_kwargs)
        self._pending: list[DeadLetter] = []

    def start_bundle(self) -> None:
        self._pending = []

    def process(self, letter: DeadLetter) -> Iterable[None]:
        log.warning("dead letter (%s): %s", letter.stage, letter.reason,
                    extra={"article_key": letter.key, "stage": letter.stage})
        DEAD_LETTERS.labels(letter.stage).inc()
        key = letter.key.encode("utf-8") if letter.key is not None else None
        self._producer.send(self.topic, key=key, value=letter.to_json_bytes())
        self._pending.append(letter)
        self.published.inc()
        return ()

    def finish_bundle(self) -> None:
        # Flushing here ties the bundle's success (and so the source's offset commit)
        # to Kafka having the dead letters: a failing message is never just forgotten.
        self._producer.flush()
        if self._pending:
            self._index_copies(self._pending)

    def _index_copies(self, letters: list[DeadLetter]) -> None:
        from dataclasses import asdict

        from elasticsearch import helpers

        actions = [{"_index": self.es_index, "_source": asdict(letter),
                    # One document per failure of one message: replays add new ones.
                    "_id": f"{letter.source_topic}/{letter.source_partition}/"
                           f"{letter.source_offset}/{letter.stage}"} for letter in letters]
        try:
            helpers.bulk(self._es, actions, raise_on_error=False, max_retries=2)
        except Exception:  # the topic has them; the dashboard copy must not fail the job
            log.warning("could not index %d dead letters for the dashboard", len(actions),
                        exc_info=True)

    def teardown(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.close()
        es = getattr(self, "_es", None)
        if es is not None:
            es.close()
