"""The whole job, Kafka -> Beam (Flink) -> Elasticsearch, against raw spaCy NER, same run.

    .venv/bin/python -m tests.bench.bench_job [--articles 2000] [--workers 1 2]

Needs the local stack (`pipeline stack up`). For each worker count W (1: DoFns in the job
process; W > 1: `--sdk-workers W`, parallelism W), over one 4-partition topic:

- **raw NER**: the job's spaCy model (NER only: no alias ruler, no rules after it) with
  ``nlp.pipe`` over the texts the job's NER reads, title and body of the same N articles
  (``ner_texts``), in W processes (each its share, model loaded before timing), run just
  before and just after the job; the mean is the baseline.
- **end-to-end throughput**: the job is started and warmed up (a few articles indexed,
  so JVM start-up and model loading are left out), then N articles are produced at once;
  articles/s = N / (time from the first send to the moment all N are searchable).
- **latency, produce -> searchable**: with the job caught up, M more articles produced at
  a steady rate (half the measured throughput, so queueing does not dominate). For each,
  the Kafka record timestamp (set by the producer) is subtracted from the moment a search
  by id first returns it; searches run every 0.2 s and never force a refresh, so the
  index's own refresh interval (1 s) is part of the figure. Also shown: record timestamp
  -> ``indexed_at`` (stamped by the job just before the bulk request).

Each run gets its own topics, consumer groups and indices, deleted at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from elasticsearch import ApiError, Elasticsearch
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from pipeline.demo import DEFAULT_RUNNER, start_job, stop_job
from pipeline.enrichment.enricher import TITLE_BREAK
from pipeline.kafka.topics import ensure_topics
from pipeline.models import Article
from pipeline.settings import Settings
from tests.support import drop_indices, varied_articles

WARM_UP_ARTICLES = 8
POLL_S = 0.2


# --- raw NER baseline -------------------------------------------------------------------

def ner_only(nlp):  # type: ignore[no-untyped-def]
    """The job's pipeline reduced to the NER model (and its tok2vec, if separate)."""
    extra = [name for name in nlp.pipe_names if name not in ("tok2vec", "ner")]
    if extra:
        nlp.select_pipes(disable=extra)
    return nlp


def ner_texts(articles: Sequence[Article]) -> list[str]:
    """What the job's NER reads per article: title, a blank line, body (see
    ``Enricher.enrich_many``). Bodies alone would leave the titles' share of the model's
    work (~5 % on these texts) out of the baseline."""
    return [f"{a.title}{TITLE_BREAK}{a.content or ''}" for a in articles]


def _ner_worker(texts: list[str], batch_size: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    from pipeline.enrichment.entities import load_ner_model

    nlp = ner_only(load_ner_model())
    list(nlp.pipe(texts[:8], batch_size=batch_size))  # warm-up
    barrier.wait()
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    results.put(time.perf_counter() - started)


def raw_ner_rate(texts: Sequence[str], processes: int, batch_size: int) -> float:
    """Articles/s of ``nlp.pipe`` over ``texts`` split between ``processes`` processes."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=_ner_worker,
                               args=(list(texts[i::processes]), batch_size, barrier, results),
                               daemon=True)
               for i in range(processes)]
    for worker in workers:
        worker.start()
    slowest = max(results.get(timeout=3600) for _ in workers)
    for worker in workers:
        worker.join()
    return len(texts) / slowest


# --- the job ------------------------------------------------------------------------------

@dataclass
class JobFigures:
    startup_s: float
    rate: float
    load_before: float
    searchable_latencies: list[float]
    indexed_latencies: list[float]
    es_cpu_s: float  # Elasticsearch CPU time during the burst
    es_work: dict[str, float]  # time per kind of work on the index (warm-up and burst)
    burst_s: float


def send(producer: KafkaProducer, topic: str, articles: Sequence[Article]) -> dict[str, float]:
    """Send and wait for the acks; each id's Kafka record timestamp (epoch seconds)."""
    futures = {a.id: producer.send(topic, key=a.key, value=a.to_json_bytes()) for a in articles}
    producer.flush()
    return {doc_id: future.get(timeout=60).timestamp / 1000 for doc_id, future in futures.items()}


def visible(es: Elasticsearch, index: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` a search returns now (no refresh forced)."""
    found: set[str] = set()
    for i in range(0, len(ids), 1000):
        chunk = list(ids[i:i + 1000])
        hits = es.search(index=index, query={"ids": {"values": chunk}}, size=len(chunk),
                         source=False)["hits"]["hits"]
        found.update(hit["_id"] for hit in hits)
    return found


def poll_until(done: Callable[[], bool], job, timeout_s: float,  # type: ignore[no-untyped-def]
               missing: Callable[[], str]) -> None:
    """Call ``done`` every ``POLL_S`` until it returns True; fail if the job exits first or
    ``timeout_s`` passes (``missing`` says what was not seen)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if job.poll() is not None:
            raise RuntimeError(f"the job exited with code {job.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(missing())
        if done():
            return
        time.sleep(POLL_S)


def wait_visible(es: Elasticsearch, index: str, ids: Sequence[str], job, timeout_s: float  # type: ignore[no-untyped-def]
                 ) -> dict[str, float]:
    """Poll until every id is searchable; the wall-clock time each was first seen."""
    seen: dict[str, float] = {}
    pending = list(ids)

    def all_seen() -> bool:
        nonlocal pending
        if not pending:
            return True
        try:
            found = visible(es, index, pending) if es.indices.exists(index=index) else set()
        except ApiError as exc:  # a new index's shards not allocated yet
            if exc.meta.status != 503:
                raise
            found = set()
        if found:  # stamped after the search returned: errs on the late side
            seen.update(dict.fromkeys(found, time.time()))
            pending = [doc_id for doc_id in pending if doc_id not in seen]
        return not pending

    poll_until(all_seen, job, timeout_s,
               lambda: f"{len(pending)} of {len(ids)} articles not searchable")
    return seen


def wait_count(es: Elasticsearch, index: str, expected: int, job, timeout_s: float  # type: ignore[no-untyped-def]
               ) -> float:
    """Poll until ``expected`` documents are searchable; the wall-clock time they were.

    A count is nearly free for Elasticsearch; an ids query over the thousands of ids still
    missing, five times a second, cost it a sizeable share of a core the job competes for
    on a 2-core machine (the latency phase, 200 ids, still uses :func:`wait_visible`)."""
    def counted() -> bool:
        return es.count(index=index)["count"] >= expected

    poll_until(counted, job, timeout_s,
               lambda: f"fewer than {expected} articles searchable in {index}")
    return time.time()  # taken after the count returned: errs on the late side


def es_cpu_seconds(es: Elasticsearch) -> float:
    """CPU time the Elasticsearch node(s) have used so far (node stats)."""
    nodes = es.nodes.stats(metric="process")["nodes"].values()
    return sum(node["process"]["cpu"]["total_in_millis"] for node in nodes) / 1000


def index_work_seconds(es: Elasticsearch, index: str) -> dict[str, float]:
    """Time Elasticsearch spent on the index so far, per kind of work (index stats)."""
    totals = es.indices.stats(index=index, metric=["indexing", "search", "refresh", "merge"]
                              )["_all"]["total"]
    return {"indexing": totals["indexing"]["index_time_in_millis"] / 1000,
            "search": (totals["search"]["query_time_in_millis"]
                       + totals["search"]["fetch_time_in_millis"]) / 1000,
            "refresh": totals["refresh"]["total_time_in_millis"] / 1000,
            "merge": totals["merges"]["total_time_in_millis"] / 1000}


def indexed_at(es: Elasticsearch, index: str, ids: Sequence[str]) -> dict[str, float]:
    docs = es.mget(index=index, ids=list(ids), source=["indexed_at"])["docs"]
    return {d["_id"]: datetime.fromisoformat(d["_source"]["indexed_at"]).timestamp()
            for d in docs if d.get("found")}


def measure_job(settings: Settings, workers: int, batch_size: int, articles: list[Article],
                warm_up: list[Article], paced: list[Article], log: Path) -> JobFigures:
    extra = [f"--batch-size={batch_size}"]
    if workers > 1:
        extra += [f"--sdk-workers={workers}"]
    load_before = os.getloadavg()[0]
    es = Elasticsearch(**settings.es_client_kwargs())
    producer = KafkaProducer(**settings.kafka_client_kwargs(), acks="all", linger_ms=5)
    started = time.monotonic()
    job = start_job(settings, DEFAULT_RUNNER, log, extra)
    try:
        send(producer, settings.raw_topic, warm_up)
        wait_visible(es, settings.es_index, [a.id for a in warm_up], job, 900)
        startup_s = time.monotonic() - started

        burst_started = time.time()
        es_cpu_before = es_cpu_seconds(es)
        send(producer, settings.raw_topic, articles)
        all_seen = wait_count(es, settings.es_index, len(warm_up) + len(articles), job, 3600)
        burst_s = all_seen - burst_started
        rate = len(articles) / burst_s
        es_cpu = es_cpu_seconds(es) - es_cpu_before
        es_work = index_work_seconds(es, settings.es_index)

        # Produce at a steady pace from a thread while this one watches the index.
        produced: dict[str, float] = {}

        def pace() -> None:
            for article in paced:
                produced.update(send(producer, settings.raw_topic, [article]))
                time.sleep(2 / rate)

        sender = threading.Thread(target=pace, daemon=True)
        sender.start()
        seen = wait_visible(es, settings.es_index, [a.id for a in paced], job, 900)
        sender.join()
        stamped = indexed_at(es, settings.es_index, list(produced))
        return JobFigures(
            startup_s=startup_s, rate=rate, load_before=load_before,
            searchable_latencies=[seen[i] - produced[i] for i in produced],
            indexed_latencies=[stamped[i] - produced[i] for i in produced if i in stamped],
            es_cpu_s=es_cpu, es_work=es_work, burst_s=burst_s)
    finally:
        stop_job(job)
        producer.close()
        es.close()


def percentile(values: Sequence[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def report(workers: int, figures: JobFigures, raw_runs: tuple[float, float]) -> None:
    raw = statistics.mean(raw_runs)
    searchable, stamped = figures.searchable_latencies, figures.indexed_latencies
    print(f"--- {workers} worker{'s' if workers > 1 else ''} "
          f"({'--sdk-workers ' + str(workers) if workers > 1 else 'LOOPBACK'}) ---")
    print(f"raw NER, nlp.pipe x{workers} process{'es' if workers > 1 else ''}: "
          f"{raw:7.1f} articles/s  (before {raw_runs[0]:.1f}, after {raw_runs[1]:.1f})")
    print(f"job end-to-end            : {figures.rate:7.1f} articles/s  "
          f"(start-up {figures.startup_s:.0f}s, not counted)")
    print(f"ratio job / raw NER       : {figures.rate / raw:7.2f}x  (load average "
          f"{figures.load_before:.1f} before the job, {os.getloadavg()[0]:.1f} now: other "
          f"work on the machine skews both sides)")
    print(f"Elasticsearch CPU in the burst: {figures.es_cpu_s:.1f}s "
          f"({1000 * figures.es_cpu_s / (figures.rate * figures.burst_s):.1f} ms per article, "
          f"{figures.es_cpu_s / figures.burst_s:.2f} of a core on average; on the index: "
          + ", ".join(f"{kind} {s:.1f}s" for kind, s in figures.es_work.items()) + ")")
    print(f"latency produce -> searchable ({len(searchable)} articles at "
          f"{figures.rate / 2:.1f}/s): p50 {percentile(searchable, 50):.2f}s, "
          f"p95 {percentile(searchable, 95):.2f}s, max {max(searchable):.2f}s")
    print(f"latency produce -> bulk request (indexed_at): p50 {percentile(stamped, 50):.2f}s, "
          f"p95 {percentile(stamped, 95):.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64,
                        help="the job's --batch-size; raw NER pipes batches of the same size")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    every = varied_articles(WARM_UP_ARTICLES + args.articles + args.latency_articles, run)
    warm_up = every[:WARM_UP_ARTICLES]
    burst = every[WARM_UP_ARTICLES:WARM_UP_ARTICLES + args.articles]
    paced = every[WARM_UP_ARTICLES + args.articles:]
    texts = ner_texts(burst)
    print(f"{len(burst)} articles ({sum(len(t.split()) for t in texts) / len(texts):.0f} "
          f"words each on average, title and body), job batch size {args.batch_size}, "
          "4 partitions",
          flush=True)

    base = Settings()
    es = Elasticsearch(**base.es_client_kwargs())
    admin = KafkaAdminClient(**base.kafka_client_kwargs())
    try:
        for workers in args.workers:
            # Everything of its own per worker count: topic, consumer group, indices.
            name = f"bench-job-{run}-w{workers}"
            settings = base.with_overrides(
                raw_topic=f"{name}.raw", raw_topic_partitions=4,
                dead_letter_topic=f"{name}.dlq", consumer_group=name, es_index=name,
                dead_letter_index=f"dl-{name}")
            ensure_topics(settings)
            try:
                raw_before = raw_ner_rate(texts, workers, args.batch_size)
                figures = measure_job(settings, workers, args.batch_size, burst, warm_up,
                                      paced, base.state_dir / "logs" / f"{name}.log")
            finally:
                drop_indices(es, settings)
                admin.delete_topics([settings.raw_topic, settings.dead_letter_topic])
            raw_after = raw_ner_rate(texts, workers, args.batch_size)
            report(workers, figures, (raw_before, raw_after))
    finally:
        admin.close()
        es.close()


if __name__ == "__main__":
    main()
