"""The whole job, Kafka -> Beam (Flink) -> Elasticsearch, against raw spaCy NER, same run.

    .venv/bin/python -m tests.bench.bench_job [--articles 2000] [--workers 1 2]

Needs the local stack (`pipeline stack up`). For each worker count W (1: DoFns in the job
process; W > 1: `--sdk-workers W`, parallelism W), over one 4-partition topic:

- **raw NER**: the job's spaCy model (NER only: no alias ruler, no rules after it) with
  ``nlp.pipe`` over the texts the job's NER reads, title and body of the same N articles
  (``ner_texts``), in W processes (each its share, model loaded before timing).
- **end-to-end throughput**: the job is started and warmed up (a few articles indexed,
  so JVM start-up and model loading are left out), then N articles are produced at once;
  articles/s = N / (time from the first send to the moment all N are searchable).
- **rounds** (``--rounds R``, 3 by default): raw NER and the job's bursts alternate,
  raw, burst, raw, burst, ..., raw, each burst with N articles of its own; the job is
  started (and warmed up) for each burst and stopped before the next raw run. Each burst
  is compared with the mean of the raw runs just before and just after it (a raw run reads
  the texts of the burst before it, the first those of the first burst; the sets differ
  only in which paragraphs were drawn). Why: on this virtual machine the speed of the
  same NER code drifts by 10-20 % within minutes, so one burst between two raw runs gave
  ratios from 0.65x to 0.87x for the same code; the median of R rounds is the figure.
- **latency, produce -> searchable**: with the job caught up, M more articles produced at
  a steady rate (half the measured throughput, so queueing does not dominate). For each,
  the Kafka record timestamp (set by the producer) is subtracted from the moment a search
  by id first returns it; searches run every 0.2 s and never force a refresh, so the
  index's own refresh interval (1 s) is part of the figure. Also shown: record timestamp
  -> ``indexed_at`` (stamped by the job just before the bulk request).
- **where the cores go**: in each burst, the machine's cores by role (the job's Python,
  Flink, Elasticsearch, Kafka, other, idle, steal; ``machine_cpu``), and the ratio per core
  the job's Python had: the job shares the cores with the stack, raw NER does not.
- **the enrichment alone**, once per run: ``enrich_many`` against raw ``nlp.pipe`` in one
  process on 512 of the first burst's articles, what the work after NER costs.

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
from tests.bench import machine_cpu
from tests.bench.bench_enrichment import ner_only, rates
from tests.bench.machine_cpu import ELASTICSEARCH, IDLE, JOB_PYTHON, ROLES, STEAL
from tests.support import drop_indices, varied_articles

WARM_UP_ARTICLES = 8
ENRICHMENT_SAMPLE = 512
POLL_S = 0.2


# --- raw NER baseline -------------------------------------------------------------------

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


def _enrichment_worker(items: list[tuple[str, str]], batch_size: int, results) -> None:  # type: ignore[no-untyped-def]
    results.put(rates(items, batch_size))


def enrichment_rates(articles: Sequence[Article], batch_size: int) -> tuple[float, float]:
    """Articles/s of raw ``nlp.pipe`` and of the whole enrichment (``enrich_many``, as the
    job calls it) over the same articles, in a fresh process with the machine to itself
    (``bench_enrichment.rates``): what the enrichment's own work after NER (entity rules,
    topics, keywords, fingerprint, language) costs, with no Beam, Kafka or Elasticsearch
    around it."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    items = [(a.title, a.content or a.summary or "") for a in articles]
    worker = context.Process(target=_enrichment_worker, args=(items, batch_size, results),
                             daemon=True)
    worker.start()
    rates: tuple[float, float] = results.get(timeout=3600)
    worker.join()
    return rates


# --- the job ------------------------------------------------------------------------------

@dataclass
class Burst:
    articles: int
    seconds: float  # first send to all searchable
    cores: dict[str, float]  # average cores by role during the burst (machine_cpu)
    load_before: float

    @property
    def rate(self) -> float:
        """Articles/s."""
        return self.articles / self.seconds

    def ms_per_article(self, role: str) -> float:
        """CPU milliseconds ``role`` spent per article."""
        return 1000 * self.cores.get(role, 0.0) * self.seconds / self.articles


@dataclass
class JobFigures:
    startup_s: float
    bursts: list[Burst]
    raw_rates: list[float]  # raw NER before the first burst, then after each burst
    searchable_latencies: list[float]
    indexed_latencies: list[float]
    es_work: dict[str, float]  # time per kind of work on the index (all bursts)

    @property
    def rate(self) -> float:
        """The job's articles/s: the median of the bursts."""
        return statistics.median(burst.rate for burst in self.bursts)

    def ratios(self) -> list[float]:
        """Each burst against the mean of the raw runs just before and after it."""
        return [burst.rate / statistics.mean(self.raw_rates[i:i + 2])
                for i, burst in enumerate(self.bursts)]

    def ratios_per_python_core(self, raw_cores: int) -> list[float]:
        """Each ratio as if raw NER had had only the cores the job's Python got: raw NER
        had ``raw_cores`` to itself (one per process), the job shared the machine with the
        stack. What is left below 1 is the job's own cost on the cores it got."""
        return [ratio * raw_cores / burst.cores[JOB_PYTHON] if burst.cores.get(JOB_PYTHON)
                else 0.0 for ratio, burst in zip(self.ratios(), self.bursts, strict=True)]


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


def measure_burst(es: Elasticsearch, producer: KafkaProducer, settings: Settings,  # type: ignore[no-untyped-def]
                  articles: Sequence[Article], expected: int, job) -> Burst:
    load_before = os.getloadavg()[0]
    started = time.time()
    cpu_before = machine_cpu.snapshot(job.pid)
    send(producer, settings.raw_topic, articles)
    seconds = wait_count(es, settings.es_index, expected, job, 3600) - started
    return Burst(articles=len(articles), seconds=seconds,
                 cores=machine_cpu.cores_by_role(cpu_before, machine_cpu.snapshot(job.pid)),
                 load_before=load_before)


def measure_latency(es: Elasticsearch, producer: KafkaProducer, settings: Settings,  # type: ignore[no-untyped-def]
                    paced: Sequence[Article], rate: float, job
                    ) -> tuple[list[float], list[float]]:
    """Produce ``paced`` at half ``rate`` from a thread while this one watches the index;
    per article, produce -> searchable and produce -> ``indexed_at`` (seconds)."""
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
    return ([seen[i] - produced[i] for i in produced],
            [stamped[i] - produced[i] for i in produced if i in stamped])


def measure_job(settings: Settings, workers: int, batch_size: int,
                bursts: list[list[Article]], warm_ups: list[list[Article]],
                paced: list[Article], log: Path) -> JobFigures:
    """raw, burst, raw, burst, ..., raw. The job is started (and warmed up) for each burst
    and stopped before the raw run after it, so raw NER has the machine to itself: an idle
    job is not idle (Flink checkpoints every 5 s, its JIT compiler was seen using 0.05-0.10
    of a core minutes after start-up). A restart re-reads from the committed offsets; what
    it re-delivers is overwritten (same ids) during the warm-up, before the timing starts."""
    extra = [f"--batch-size={batch_size}"]
    if workers > 1:
        extra += [f"--sdk-workers={workers}"]
    es = Elasticsearch(**settings.es_client_kwargs())
    producer = KafkaProducer(**settings.kafka_client_kwargs(), acks="all", linger_ms=5)
    try:
        texts = [ner_texts(articles) for articles in bursts]
        raw_rates = [raw_ner_rate(texts[0], workers, batch_size)]
        measured: list[Burst] = []
        startups: list[float] = []
        expected = 0
        for round_no, (articles, warm_up) in enumerate(zip(bursts, warm_ups, strict=True)):
            started = time.monotonic()
            job = start_job(settings, DEFAULT_RUNNER, log, extra)
            try:
                send(producer, settings.raw_topic, warm_up)
                wait_visible(es, settings.es_index, [a.id for a in warm_up], job, 900)
                startups.append(time.monotonic() - started)
                expected += len(warm_up) + len(articles)
                measured.append(measure_burst(es, producer, settings, articles, expected, job))
                if round_no == len(bursts) - 1:
                    es_work = index_work_seconds(es, settings.es_index)
                    rate = statistics.median(burst.rate for burst in measured)
                    searchable, stamped = measure_latency(es, producer, settings, paced, rate,
                                                          job)
            finally:
                stop_job(job)
            raw_rates.append(raw_ner_rate(texts[round_no], workers, batch_size))
        return JobFigures(
            startup_s=statistics.mean(startups), bursts=measured, raw_rates=raw_rates,
            searchable_latencies=searchable, indexed_latencies=stamped, es_work=es_work)
    finally:
        producer.close()
        es.close()


def chunks(items: list[Article], size: int) -> list[list[Article]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def percentile(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def report(workers: int, figures: JobFigures, cores: int) -> None:
    """``cores``: the machine's; raw NER ran ``workers`` processes, a core each."""
    searchable, stamped = figures.searchable_latencies, figures.indexed_latencies
    ratios = figures.ratios()
    processes = f"nlp.pipe x{workers} process{'es' if workers > 1 else ''}"
    print(f"--- {workers} worker{'s' if workers > 1 else ''} "
          f"({'--sdk-workers ' + str(workers) if workers > 1 else 'LOOPBACK'}; "
          f"start-up {figures.startup_s:.0f}s on average, not counted) ---")
    raw_cores = min(workers, cores)
    per_core = figures.ratios_per_python_core(raw_cores)
    for i, (burst, ratio) in enumerate(zip(figures.bursts, ratios, strict=True), start=1):
        before, after = figures.raw_rates[i - 1:i + 1]
        print(f"round {i}: job {burst.rate:5.1f} articles/s, raw NER ({processes}) "
              f"{before:5.1f} before / {after:5.1f} after -> {ratio:.2f}x "
              f"({per_core[i - 1]:.2f}x per core the job's Python had); "
              f"load average {burst.load_before:.1f} before the burst")
        print(f"         cores of {cores}: " + ", ".join(
            f"{role} {burst.cores.get(role, 0.0):.2f}" for role in (*ROLES, IDLE, STEAL))
            + f"; Elasticsearch {burst.ms_per_article(ELASTICSEARCH):.1f} ms per article")
    print(f"job end-to-end            : {figures.rate:7.1f} articles/s (median of "
          f"{len(ratios)} bursts)")
    print(f"raw NER                   : {statistics.median(figures.raw_rates):7.1f} articles/s "
          f"(median of {len(figures.raw_rates)} runs)")
    print(f"ratio job / raw NER       : {statistics.median(ratios):7.2f}x median "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    python_cores = statistics.median(burst.cores.get(JOB_PYTHON, 0.0) for burst in figures.bursts)
    print(f"per core the job's Python had: {statistics.median(per_core):4.2f}x median (its "
          f"Python had {python_cores:.2f} of {cores} cores; raw NER had {raw_cores} to itself)")
    print("Elasticsearch on the index, all bursts: "
          + ", ".join(f"{kind} {s:.1f}s" for kind, s in figures.es_work.items()))
    print(f"latency produce -> searchable ({len(searchable)} articles at "
          f"{figures.rate / 2:.1f}/s): "
          f"p50 {percentile(searchable, 50):.2f}s, "
          f"p95 {percentile(searchable, 95):.2f}s, max {max(searchable):.2f}s")
    print(f"latency produce -> bulk request (indexed_at): p50 {percentile(stamped, 50):.2f}s, "
          f"p95 {percentile(stamped, 95):.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="bursts of --articles each, every one between two raw NER runs")
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64,
                        help="the job's --batch-size; raw NER pipes batches of the same size")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    burst_total = args.rounds * args.articles
    warm_total = args.rounds * WARM_UP_ARTICLES
    every = varied_articles(warm_total + burst_total + args.latency_articles, run)
    warm_ups = chunks(every[:warm_total], WARM_UP_ARTICLES)
    bursts = chunks(every[warm_total:warm_total + burst_total], args.articles)
    paced = every[warm_total + burst_total:]
    words = [statistics.mean(len(text.split()) for text in ner_texts(burst)) for burst in bursts]
    print(f"{args.rounds} bursts of {args.articles} articles (words each on average, title and "
          f"body: {', '.join(f'{w:.0f}' for w in words)}), job batch size {args.batch_size}, "
          "4 partitions", flush=True)

    sample = bursts[0][:ENRICHMENT_SAMPLE]
    raw, enriched = enrichment_rates(sample, args.batch_size)
    print(f"in process, one core, {len(sample)} articles: nlp.pipe {raw:.1f} articles/s, "
          f"enrich_many {enriched:.1f} -> {enriched / raw:.2f}x (the enrichment's own work "
          "after NER)", flush=True)

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
                figures = measure_job(settings, workers, args.batch_size, bursts, warm_ups,
                                      paced, base.state_dir / "logs" / f"{name}.log")
            finally:
                drop_indices(es, settings)
                admin.delete_topics([settings.raw_topic, settings.dead_letter_topic])
            report(workers, figures, os.cpu_count() or 1)
    finally:
        admin.close()
        es.close()


if __name__ == "__main__":
    main()
