"""``pipeline reindex``: a new article index generation, filled without downtime, then the
alias moved to it in one atomic ``_aliases`` call.

Sources (``--from``):
- ``topic`` (default): replay every article retained on the raw Kafka topic through the
  current :class:`~pipeline.enrichment.Enricher`, in-process, in batches. Use it after a
  model or enrichment change. Needs the raw topic to still hold every article the index
  has (raise ``retention.ms`` on it if re-enrichment from raw matters to you); otherwise
  the count check fails and says so.
- ``index``: re-enrich the text stored in the index (title, summary, cleaned body): for
  when the raw topic no longer holds everything. HTML-level cleaning is not redone.
- ``copy``: plain ``_reindex`` of the stored documents, no enrichment: for mapping or
  settings changes only.

Articles arriving meanwhile: the streaming job keeps writing through the alias to the
old write index while the new generation fills. Before the swap the new generation
catches up (topic: from the offsets where the replay stopped to the current end;
index/copy: documents indexed since the copy started), the counts are compared, the alias
moves, and a final catch-up covers the moments around the swap. Document ids are the
article ids, so catching up twice only overwrites. After the swap the job writes to the
new generation. The old generations leave the alias (readers stop seeing them at the
swap) and are kept unless ``--delete-old``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from elasticsearch import Elasticsearch, helpers

from pipeline.models import Article, ArticleDecodeError
from pipeline.models.document import build_document
from pipeline.rollover import (
    alias_indices,
    copy_documents,
    generation_number,
    next_generation,
    write_index,
)
from pipeline.sinks.elasticsearch import ElasticsearchSink, Rejection

if TYPE_CHECKING:
    from kafka import KafkaConsumer

    from pipeline.enrichment import Enricher

log = logging.getLogger(__name__)

Source = Literal["topic", "index", "copy"]
SOURCES: tuple[Source, ...] = ("topic", "index", "copy")
Offsets = dict[int, int]


class ReindexError(RuntimeError):
    """The reindex cannot start, or its result does not match; the alias was not moved."""


@dataclass
class ReindexReport:
    alias: str
    source: Source
    old_indices: list[str]
    target: str
    read: int = 0            # articles read (topic messages or stored documents)
    undecodable: int = 0     # topic messages that are not Articles (dead letters already)
    enrich_failures: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    count_before: int = 0    # documents behind the alias, just before the swap
    count_after: int = 0     # documents in the new generation, just before the swap
    missing: list[str] = field(default_factory=list)  # in the old, not in the new (sample)
    extra: list[str] = field(default_factory=list)    # in the new, not in the old (sample)
    swapped: bool = False
    caught_up_after_swap: int = 0
    deleted_old: bool = False


def plan_target(alias: str, existing: Iterable[str]) -> str:
    """The new generation's name: after every generation that exists (in the alias or
    not, e.g. left over from an aborted reindex)."""
    return next_generation(alias, [i for i in existing
                                   if generation_number(alias, i) is not None])


def swap_actions(alias: str, old_indices: Sequence[str], target: str) -> list[dict[str, Any]]:
    """One ``_aliases`` request: the alias leaves every old generation and lands on the
    target as its write index. Elasticsearch applies the actions atomically."""
    actions: list[dict[str, Any]] = [{"remove": {"index": index, "alias": alias}}
                                     for index in old_indices]
    actions.append({"add": {"index": target, "alias": alias, "is_write_index": True}})
    return actions


def article_from_document(doc: dict[str, Any]) -> Article:
    """The Article a stored document was made from, as far as the index kept it (the body
    is the cleaned text)."""
    return Article(
        id=doc["id"], url=doc["url"], canonical_url=doc["canonical_url"], title=doc["title"],
        summary=doc.get("summary") or "", content=doc.get("body") or "",
        authors=doc.get("authors") or [], published_at=doc.get("published_at"),
        fetched_at=doc["fetched_at"], feed_url=doc["feed_url"],
        feed_title=doc.get("feed_title") or "", source=doc.get("source") or "",
        guid=doc.get("guid"), **({"schema_version": doc["schema_version"]}
                                 if doc.get("schema_version") else {}))


def enrich_articles(enricher: Enricher, articles: Sequence[Article]
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """Documents for ``articles`` exactly as the job builds them; ids that failed. A batch
    failure falls back to one by one, as in the job."""
    now = datetime.now(UTC)
    items = [(a.title, a.content or a.summary) for a in articles]
    try:
        results = enricher.enrich_many(items)
    except Exception:
        log.exception("batch enrichment failed; enriching %d articles singly", len(items))
        documents, failed = [], []
        for article, item in zip(articles, items, strict=True):
            try:
                [single] = enricher.enrich_many([item])
            except Exception:
                failed.append(article.id)
                continue
            documents.append(build_document(article, single.to_dict(), now))
        return documents, failed
    return [build_document(a, r.to_dict(), now)
            for a, r in zip(articles, results, strict=True)], []


def carry_over_clusters(documents: list[dict[str, Any]], previous: dict[str, str]) -> None:
    """Keep the near-duplicate cluster an article already had: re-enrichment starts every
    document in its own cluster (``cluster_id`` = its id), and the job's cluster step is
    not part of a reindex. Documents without the field are left alone."""
    for doc in documents:
        if "cluster_id" in doc and doc["id"] in previous:
            doc["cluster_id"] = previous[doc["id"]]


def previous_clusters(client: Elasticsearch, indices: Sequence[str],
                      ids: Sequence[str]) -> dict[str, str]:
    response = client.search(index=",".join(indices), query={"ids": {"values": list(ids)}},
                             source_includes=["cluster_id"], size=len(ids))
    return {hit["_id"]: hit["_source"]["cluster_id"] for hit in response["hits"]["hits"]
            if hit.get("_source", {}).get("cluster_id")}


# --- reading the raw topic -----------------------------------------------------------

def _topic_consumer(kafka: dict[str, Any], topic: str) -> KafkaConsumer:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**kafka, group_id=None, enable_auto_commit=False,
                             client_id="newspipe-reindex")
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        consumer.close()
        raise ReindexError(f"raw topic {topic} does not exist or has no partitions")
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    return consumer


def end_offsets(consumer: KafkaConsumer, topic: str) -> Offsets:
    return {tp.partition: offset for tp, offset in
            consumer.end_offsets(list(consumer.assignment())).items() if tp.topic == topic}


def read_topic(consumer: KafkaConsumer, topic: str, start: Offsets | None, stop: Offsets,
               batch_size: int, idle_timeout_s: float = 60.0) -> Iterator[list[bytes]]:
    """Message values from ``start`` (None: the beginning) up to ``stop`` (exclusive), in
    batches. Fails when the topic yields nothing for ``idle_timeout_s`` before the stop
    offsets (broker gone)."""
    import time

    from kafka import TopicPartition

    pending: dict[int, TopicPartition] = {}
    for partition, end in stop.items():
        tp = TopicPartition(topic, partition)
        if start is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start.get(partition, 0))
        if consumer.position(tp) < end:
            pending[partition] = tp
    batch: list[bytes] = []
    last_progress = time.monotonic()
    while pending:
        for tp, records in consumer.poll(timeout_ms=1000, max_records=batch_size).items():
            batch.extend(r.value for r in records
                         if tp.partition in pending and r.offset < stop[tp.partition])
            last_progress = time.monotonic()
        # positions also move past gaps (transaction markers, deleted segments)
        for partition, tp in list(pending.items()):
            if consumer.position(tp) >= stop[partition]:
                del pending[partition]
        if pending and time.monotonic() - last_progress > idle_timeout_s:
            raise ReindexError(f"{topic}: no messages for {idle_timeout_s:.0f}s before the "
                               f"end offsets {stop} (is Kafka reachable?)")
        if len(batch) >= batch_size or (not pending and batch):
            yield batch
            batch = []


# --- the command ---------------------------------------------------------------------

class Reindexer:
    """One reindex run; see the module docstring for the sequence."""

    def __init__(self, client: Elasticsearch, alias: str, source: Source, *,
                 kafka: dict[str, Any] | None = None, raw_topic: str | None = None,
                 enricher_factory: Callable[[], Enricher] | None = None,
                 batch_size: int = 64, progress: Callable[[str], None] = log.info,
                 clock_skew: timedelta = timedelta(minutes=1)) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}")
        if source == "topic" and (kafka is None or raw_topic is None):
            raise ValueError("reindexing from the topic needs Kafka settings and the topic")
        self.client = client
        self.alias = alias
        self.source = source
        self.kafka = kafka or {}
        self.raw_topic = raw_topic or ""
        self.batch_size = batch_size
        self.progress = progress
        # index/copy catch-ups look back this much further: the job's workers stamp
        # indexed_at with their own clocks
        self.clock_skew = clock_skew
        self._enricher_factory = enricher_factory
        self._enricher: Enricher | None = None

    @property
    def enricher(self) -> Enricher:
        if self._enricher is None:
            if self._enricher_factory is None:
                from pipeline.enrichment import Enricher

                self._enricher = Enricher.load()
            else:
                self._enricher = self._enricher_factory()
        return self._enricher

    def run(self, *, force: bool = False, delete_old: bool = False,
            before_catch_up: Callable[[], None] | None = None) -> ReindexReport:
        """``before_catch_up`` runs after the bulk fill, before the first catch-up (tests
        use it to make articles arrive mid-reindex)."""
        old = alias_indices(self.client, self.alias)
        if not old or write_index(self.client, self.alias) is None:
            raise ReindexError(f"{self.alias} is not an alias with a write index; run "
                               "`pipeline setup` first (it migrates an index of the old "
                               "layout)")
        existing = self.client.indices.get(index=f"{self.alias}-*", allow_no_indices=True,
                                           expand_wildcards="open,closed")
        report = ReindexReport(self.alias, self.source, sorted(old),
                               plan_target(self.alias, [*old, *existing]))
        self.client.indices.create(index=report.target)  # the template applies
        self.progress(f"new generation {report.target} (from {self.source}); "
                      f"old: {', '.join(report.old_indices)}")
        sink = ElasticsearchSink(self.client, report.target)
        consumer = _topic_consumer(self.kafka, self.raw_topic) if self.source == "topic" \
            else None
        try:
            position, since = self._fill(report, sink, consumer)
            if before_catch_up is not None:
                before_catch_up()
            position, since = self._catch_up(report, sink, consumer, position, since)
            # a rollover meanwhile added a generation: it leaves the alias at the swap too
            report.old_indices = sorted(set(alias_indices(self.client, self.alias))
                                        - {report.target})
            self._compare(report)
            if report.count_before != report.count_after and not force:
                raise ReindexError(self._mismatch_text(report))
            self.client.indices.update_aliases(
                actions=swap_actions(self.alias, report.old_indices, report.target))
            report.swapped = True
            self.progress(f"alias {self.alias} now on {report.target}")
            read_before = report.read
            self._catch_up(report, sink, consumer, position, since)
            report.caught_up_after_swap = report.read - read_before
        finally:
            if consumer is not None:
                consumer.close()
        if delete_old:
            self.client.indices.delete(index=",".join(report.old_indices))
            report.deleted_old = True
        return report

    # filling and catching up; each returns where the next catch-up starts

    def _fill(self, report: ReindexReport, sink: ElasticsearchSink,
              consumer: KafkaConsumer | None) -> tuple[Offsets | None, datetime]:
        started = datetime.now(UTC)
        if consumer is not None:
            stop = end_offsets(consumer, self.raw_topic)
            self._replay_topic(report, sink, consumer, None, stop)
            return stop, started
        # Documents written within the last refresh interval are not searchable yet; the
        # scroll below would miss them (the count check at the end would then refuse).
        self.client.indices.refresh(index=",".join(report.old_indices))
        if self.source == "copy":
            self._copy(report, None)
        else:
            self._reenrich_stored(report, sink, None)
        return None, started

    def _catch_up(self, report: ReindexReport, sink: ElasticsearchSink,
                  consumer: KafkaConsumer | None, position: Offsets | None,
                  since: datetime) -> tuple[Offsets | None, datetime]:
        started = datetime.now(UTC)
        if consumer is not None:
            stop = end_offsets(consumer, self.raw_topic)
            self._replay_topic(report, sink, consumer, position, stop)
            return stop, started
        window_start = since - self.clock_skew
        self.client.indices.refresh(index=",".join(report.old_indices))
        if self.source == "copy":
            self._copy(report, window_start)
        else:
            self._reenrich_stored(report, sink, window_start)
        return None, started

    def _replay_topic(self, report: ReindexReport, sink: ElasticsearchSink,
                      consumer: KafkaConsumer, start: Offsets | None, stop: Offsets) -> None:
        for values in read_topic(consumer, self.raw_topic, start, stop, self.batch_size):
            articles = []
            for value in values:
                try:
                    articles.append(Article.from_json_bytes(value))
                except ArticleDecodeError:
                    report.undecodable += 1
            report.read += len(values)
            self._write(report, sink, articles)

    def _reenrich_stored(self, report: ReindexReport, sink: ElasticsearchSink,
                         since: datetime | None) -> None:
        batch: list[Article] = []
        for hit in helpers.scan(self.client, index=",".join(report.old_indices),
                                query={"query": _indexed_since(since)}, size=500):
            batch.append(article_from_document(hit["_source"]))
            report.read += 1
            if len(batch) >= self.batch_size:
                self._write(report, sink, batch)
                batch = []
        if batch:
            self._write(report, sink, batch)

    def _copy(self, report: ReindexReport, since: datetime | None) -> None:
        read, failures = copy_documents(self.client, ",".join(report.old_indices),
                                        report.target, _indexed_since(since))
        report.read += read
        for failure in failures:
            report.rejected.append(Rejection(str(failure.get("id")),
                                             int(failure.get("status", 0)),
                                             str(failure.get("cause"))))

    def _write(self, report: ReindexReport, sink: ElasticsearchSink,
               articles: list[Article]) -> None:
        if not articles:
            return
        documents, failed = enrich_articles(self.enricher, articles)
        report.enrich_failures.extend(failed)
        if any("cluster_id" in d for d in documents):
            carry_over_clusters(documents, previous_clusters(
                self.client, report.old_indices, [d["id"] for d in documents]))
        now = datetime.now(UTC).isoformat()
        report.rejected.extend(sink.write([{**d, "indexed_at": now} for d in documents]))
        self.progress(f"{report.read} read, {len(documents)} indexed in this batch")

    # checking

    def _compare(self, report: ReindexReport) -> None:
        self.client.indices.refresh(index=",".join([*report.old_indices, report.target]))
        report.count_before = int(self.client.count(index=self.alias)["count"])
        report.count_after = int(self.client.count(index=report.target)["count"])
        if report.count_before != report.count_after:
            old_ids = set(_ids(self.client, ",".join(report.old_indices)))
            new_ids = set(_ids(self.client, report.target))
            report.missing = sorted(old_ids - new_ids)[:20]
            report.extra = sorted(new_ids - old_ids)[:20]

    def _mismatch_text(self, report: ReindexReport) -> str:
        text = (f"counts differ: {report.count_before} documents behind {self.alias}, "
                f"{report.count_after} in {report.target}; the alias was NOT moved")
        if report.missing:
            text += (f"\n  not in the new generation (first {len(report.missing)}): "
                     + ", ".join(report.missing))
            if self.source == "topic":
                text += ("\n  the raw topic no longer holds them (retention)? try "
                         "--from index")
        if report.extra:
            text += (f"\n  only in the new generation (first {len(report.extra)}): "
                     + ", ".join(report.extra)
                     + "\n  the job has not indexed them yet (consumer lag) or they were "
                       "dead letters before")
        return text + (f"\n  inspect {report.target}, then delete it or rerun with --force")


def _indexed_since(since: datetime | None) -> dict[str, Any]:
    if since is None:
        return {"match_all": {}}
    return {"range": {"indexed_at": {"gte": since.isoformat()}}}


def _ids(client: Elasticsearch, index: str) -> Iterator[str]:
    for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}},
                            _source=False, size=1000):
        yield str(hit["_id"])
