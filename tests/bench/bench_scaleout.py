"""Throughput of the Beam job on Flink with 1 vs 2 workers, same run.

1 worker: parallelism 1, DoFns in the job process (LOOPBACK). 2 workers: parallelism 2 and
two Python SDK worker processes (``--sdk-workers 2``, a Beam worker pool). A third line
shows parallelism 2 with one Python process, to separate Flink's share from Python's.

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
from pipeline.rollover import drop_generations
from pipeline.settings import Settings
from tests.support import produce, synthetic_articles


def measure(settings: Settings, es: Elasticsearch, ids: list[str], parallelism: int,
            sdk_workers: int = 1, timeout_s: float = 900) -> tuple[float, float]:
    """(seconds from start to first document, documents/s after the first)."""
    log = settings.state_dir / "logs" / f"bench-p{parallelism}.log"
    started = time.monotonic()
    extra = [f"--parallelism={parallelism}"] + (
        [f"--sdk-workers={sdk_workers}"] if sdk_workers > 1 else [])
    job = start_job(settings, DEFAULT_RUNNER, log, extra)
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
    for name, parallelism, workers in (("1 worker", 1, 1), ("2 workers", 2, 2),
                                       ("parallelism 2, 1 Python process", 2, 1)):
        settings = base.with_overrides(consumer_group=f"bench-{run}-{parallelism}-{workers}",
                                       es_index=f"bench-{run}-{parallelism}-{workers}")
        results[name] = measure(settings, es, ids, parallelism, workers)
        drop_generations(es, settings.es_index)
        startup, rate = results[name]
        print(f"{name:32}: start-up {startup:5.1f}s, {rate:6.1f} articles/s after the "
              f"first document")
    print(f"ratio 2 workers / 1 worker: {results['2 workers'][1] / results['1 worker'][1]:.2f}x"
          f" ({args.articles} articles, 4 partitions)")


if __name__ == "__main__":
    main()
