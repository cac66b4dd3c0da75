"""Scale-out: the job on Flink with parallelism 2 and two Python worker processes over a
4-partition topic produces the same index as a single-worker run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from rich.console import Console

from pipeline.demo import DEFAULT_RUNNER, start_job, stop_job, wait_until_indexed
from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from tests.support import drop_indices, produce, synthetic_articles

pytestmark = pytest.mark.integration

# The synthetic articles are near-duplicates of each other (a few seed texts); a cluster
# takes the id of whichever copy the job saw first, which depends on scheduling.
VOLATILE = {"enriched_at", "indexed_at", "cluster_id"}


def run_job(settings: Settings, es: Elasticsearch, ids: list[str], parallelism: int) -> None:
    extra = [f"--parallelism={parallelism}", f"--sdk-workers={parallelism}"]
    job = start_job(settings, DEFAULT_RUNNER, settings.state_dir / f"job-p{parallelism}.log",
                    extra)
    try:
        wait_until_indexed(settings, es, ids, job, 300, Console())
    finally:
        stop_job(job)


def index_contents(es: Elasticsearch, index: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: {k: v for k, v in h["_source"].items() if k not in VOLATILE}
            for h in hits}


def test_parallel_run_matches_single_worker(settings: Settings, es: Elasticsearch,
                                            own_prefix: Callable[[str], str]) -> None:
    run = own_prefix("par")
    base = settings.with_overrides(raw_topic=f"{run}.raw", raw_topic_partitions=4,
                                   dead_letter_topic=f"{run}.dlq")
    ensure_topics(base)
    articles = synthetic_articles(60, run)
    produce(base, articles)
    ids = [a.id for a in articles]

    single = base.with_overrides(consumer_group=f"{run}-p1", es_index=f"{run}-p1")
    parallel = base.with_overrides(consumer_group=f"{run}-p2", es_index=f"{run}-p2")
    try:
        run_job(single, es, ids, parallelism=1)
        run_job(parallel, es, ids, parallelism=2)
        one, two = index_contents(es, single.es_index), index_contents(es, parallel.es_index)
        assert len(one) == len(two) == 60
        assert one == two
        assert all(doc["persons"] for doc in one.values() if "Putin" in doc["body"])
    finally:
        for own in (single, parallel):  # the dead-letter index is the session's
            drop_indices(es, own, dead_letters=False)
