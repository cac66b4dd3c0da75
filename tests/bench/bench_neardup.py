"""Cost of the near-duplicate step next to the enrichment it follows, in one run.

    .venv/bin/python -m tests.bench.bench_neardup [--stored 20000] [--batches 5]

Needs the local Elasticsearch (`pipeline stack up`). Fills a temporary index with
``--stored`` fingerprints (random ones, plus near-copies of the sample stories), then for
``--batches`` batches of 64 synthetic articles measures ``Enricher.enrich_many`` (the
baseline) and the near-duplicate step (one lookup ``msearch`` + ``assign_clusters``), and
prints the step's time as a share of the enrichment time. The index and its template are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid

from elasticsearch import Elasticsearch

from pipeline.beam.clusters import RecentFingerprints, assign_clusters, lookup_candidates
from pipeline.enrichment import Enricher
from pipeline.enrichment.neardup import band_keys
from pipeline.settings import get_settings
from pipeline.sinks.elasticsearch import TEMPLATE_NAME, ElasticsearchSink, ensure_index
from tests.support import synthetic_articles

BATCH = 64


def fill(es: Elasticsearch, index: str, stored: int) -> None:
    rng = random.Random(5)
    sink = ElasticsearchSink(es, index)
    docs = []
    for i in range(stored):
        value = rng.getrandbits(64)
        docs.append({"id": f"stored-{i}", "simhash": f"{value:016x}",
                     "simhash_bands": band_keys(value), "cluster_id": f"stored-{i}",
                     "fetched_at": "2025-01-01T00:00:00+00:00"})
        if len(docs) == 1000:
            sink.write(docs)
            docs = []
    sink.write(docs)
    es.indices.refresh(index=index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()

    settings = get_settings()
    es = Elasticsearch(**settings.es_client_kwargs())
    index = f"bench-{uuid.uuid4().hex[:8]}-neardup"
    ensure_index(es, index)
    try:
        fill(es, index, args.stored)
        enricher = Enricher.load()
        articles = synthetic_articles(BATCH * args.batches, uuid.uuid4().hex[:6])
        recent = RecentFingerprints()
        enrich_s = step_s = 0.0
        joined = 0
        for start in range(0, len(articles), BATCH):
            batch = articles[start:start + BATCH]
            began = time.perf_counter()
            results = enricher.enrich_many([(a.title, a.content) for a in batch])
            enrich_s += time.perf_counter() - began
            docs = [{"id": a.id, **{k: r.to_dict()[k] for k in ("simhash", "simhash_bands")}}
                    for a, r in zip(batch, results, strict=True)]
            began = time.perf_counter()
            clusters = assign_clusters(docs, lookup_candidates(es, index, docs), recent)
            step_s += time.perf_counter() - began
            joined += sum(c != d["id"] for c, d in zip(clusters, docs, strict=True))
        n = len(articles)
        print(f"{n} articles in batches of {BATCH}, {args.stored} stored fingerprints")
        print(f"enrich_many (baseline) : {n / enrich_s:8.1f} articles/s")
        print(f"near-duplicate step    : {n / step_s:8.1f} articles/s "
              f"({joined} joined a cluster: the synthetic stories are near-copies)")
        print(f"step time / enrichment time: {step_s / enrich_s:.1%}")
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.indices.delete_index_template(name=f"{TEMPLATE_NAME}.{index}")
        es.close()


if __name__ == "__main__":
    main()
