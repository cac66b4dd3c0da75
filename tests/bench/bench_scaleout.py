"""Throughput of the Beam job on Flink with 1 vs 2 workers (parallelism), same run.

    .venv/bin/python -m tests.bench.bench_scaleout [--articles 600]

Needs the local stack (`pipeline stack up`). Each run gets its own consumer group and
index over one 4-partition topic holding N synthetic articles. Job start-up (JVMs, Flink
mini-cluster, model load) is reported apart from throughput, which is measured from the
first indexed document to the last.
"""

from __future__ import annotations

import argparse
import time
import uuid

from elasticsearch import Elasticsearch

from pipeline.demo import DEFAULT_RUNNER, count_indexed, start_job, stop_job
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from tests.support import produce, synthetic_articles


def measure(settings: Settings, es: Elasticsearch, ids: list[str], parallelism: int,
            timeout_s: float = 900) -> tuple[float, float]:
    """(seconds from start to first document, documents/s after the first)."""
    log = settings.state_dir / "logs" / f"bench-p{parallelism}.log"
    started = time.monotonic()
    job = start_job(settings, DEFAULT_RUNNER, log, [f"--parallelism={parallelism}"])
    first_at = None
    first_count = 0
    try:
        while time.monotonic() - started < timeout_s:
            done = count_indexed(es, settings.es_index, ids)
            now = time.monotonic()
            if done and first_at is None:
                first_at, first_count = now, done
            if done >= len(ids):
                assert first_at is not None
                rate = (done - first_count) / max(now - first_at, 1e-9)
                return first_at - started, rate
            time.sleep(0.5)
        raise TimeoutError(f"parallelism {parallelism}: not all indexed, see {log}")
    finally:
        stop_job(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=600)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    base = Settings().with_overrides(raw_topic=f"bench-{run}.raw", raw_topic_partitions=4,
                                     dead_letter_topic=f"bench-{run}.dlq")
    ensure_topics(base)
    articles = synthetic_articles(args.articles, run)
    produce(base, articles)
    ids = [a.id for a in articles]
    es = Elasticsearch(**base.es_client_kwargs())
    results = {}
    for parallelism in (1, 2):
        settings = base.with_overrides(consumer_group=f"bench-{run}-p{parallelism}",
                                       es_index=f"bench-{run}-p{parallelism}")
        results[parallelism] = measure(settings, es, ids, parallelism)
        es.indices.delete(index=settings.es_index, ignore_unavailable=True)
        startup, rate = results[parallelism]
        print(f"parallelism {parallelism}: start-up {startup:5.1f}s, "
              f"{rate:6.1f} articles/s after the first document")
    print(f"ratio 2 workers / 1 worker: {results[2][1] / results[1][1]:.2f}x "
          f"({args.articles} articles, {len(ids)} ids, 4 partitions)")


if __name__ == "__main__":
    main()
