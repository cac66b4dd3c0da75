"""Reindex cost on the local stack: re-enriching vs copying, in one run.

    .venv/bin/python -m tests.bench.bench_reindex [--articles 500] [--batch 64]

Setup: N synthetic articles on a fresh raw topic, indexed behind a fresh alias as the job
would. Baseline: ``pipeline reindex --from copy`` (no enrichment: the floor cost of a new
generation, count check and alias swap). Measured: ``--from topic`` (replay and re-enrich
every article in-process) and ``--from index`` (re-enrich the stored text). Prints
articles/s for each and the ratio to the baseline. Everything it creates is deleted.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from pipeline.enrichment import Enricher
from pipeline.kafka.topics import ensure_topics
from pipeline.reindex import Reindexer, enrich_articles
from pipeline.rollover import drop_generations
from pipeline.settings import Settings
from pipeline.sinks.elasticsearch import TEMPLATE_NAME, ElasticsearchSink, ensure_write_alias
from tests.support import produce, synthetic_articles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    settings = Settings().with_overrides(raw_topic=f"bench-reindex-{run}.raw",
                                         es_index=f"bench-reindex-{run}")
    ensure_topics(settings)
    es = Elasticsearch(**settings.es_client_kwargs())
    enricher = Enricher.load()
    try:
        ensure_write_alias(es, settings.es_index)
        articles = synthetic_articles(args.articles, run)
        produce(settings, articles)
        sink = ElasticsearchSink(es, settings.es_index, require_alias=True)
        for start in range(0, len(articles), args.batch):
            documents, _ = enrich_articles(enricher, articles[start:start + args.batch])
            stamp = datetime.now(UTC).isoformat()
            sink.write([{**d, "indexed_at": stamp} for d in documents])

        rates = {}
        for source in ("copy", "topic", "index"):
            reindexer = Reindexer(es, settings.es_index, source,  # type: ignore[arg-type]
                                  kafka=settings.kafka_client_kwargs(),
                                  raw_topic=settings.raw_topic,
                                  enricher_factory=lambda: enricher, batch_size=args.batch,
                                  progress=lambda _line: None,
                                  # one machine, one clock: catch-ups need no margin
                                  clock_skew=timedelta(0))
            started = time.perf_counter()
            report = reindexer.run(delete_old=True)
            elapsed = time.perf_counter() - started
            assert report.count_before == report.count_after == len(articles), report
            rates[source] = len(articles) / elapsed
            print(f"--from {source:5}: {elapsed:6.1f}s, {rates[source]:7.1f} articles/s "
                  f"(-> {report.target})")
        for source in ("topic", "index"):
            print(f"ratio copy / {source}: {rates['copy'] / rates[source]:.1f}x "
                  f"(re-enrichment cost, {args.articles} articles)")
    finally:
        drop_generations(es, settings.es_index)
        es.options(ignore_status=404).indices.delete_index_template(
            name=f"{TEMPLATE_NAME}.{settings.es_index}")
        es.close()
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(**settings.kafka_client_kwargs())
        admin.delete_topics([settings.raw_topic])
        admin.close()


if __name__ == "__main__":
    main()
