"""Driving the pipeline as an operator would (CLI processes) and checking what arrived.

Processes are started in their own session, so ``kill9`` takes down a process with every
JVM it started (the Flink job server, the expansion service), exactly like a crash of the
machine it runs on; they also get SIGTERM if the test run itself dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from elasticsearch import Elasticsearch, helpers
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import CoordinatorNotAvailableError

from pipeline.demo import DEFAULT_RUNNER, start_job, stop_job
from pipeline.kafka.dead_letter import DeadLetter, read_dead_letters
from pipeline.models import article_id
from pipeline.settings import Settings
from pipeline.stack import process as stack_process


@dataclass(frozen=True)
class Run:
    """One test's own topics, consumer group, indices and state dir on the fault stack."""

    name: str
    settings: Settings
    logs: Path
    # Poller settings a newer poller reads (unknown ones are ignored by older ones): own
    # registry/state topics, loopback allowed (the feed server), no per-host spacing but one
    # request at a time (all test feeds share one host, and a paced feed server would
    # otherwise time out queued requests), no article-page fetches, a schedule far longer
    # than a test.
    poller_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSPIPE_")}
        env.update({
            "NEWSPIPE_KAFKA_BOOTSTRAP": s.kafka_bootstrap, "NEWSPIPE_ES_URL": s.es_url,
            "NEWSPIPE_RAW_TOPIC": s.raw_topic, "NEWSPIPE_DEAD_LETTER_TOPIC": s.dead_letter_topic,
            "NEWSPIPE_POLLER_STATE_TOPIC": s.poller_state_topic,
            "NEWSPIPE_CONSUMER_GROUP": s.consumer_group, "NEWSPIPE_ES_INDEX": s.es_index,
            "NEWSPIPE_DEAD_LETTER_INDEX": s.dead_letter_index,
            "NEWSPIPE_STATE_DIR": str(s.state_dir),
            "NEWSPIPE_FEED_REGISTRY_TOPIC": f"{self.name}.feeds",
            "NEWSPIPE_FEED_HEALTH_INDEX": f"{self.name}-feed-health",
            "NEWSPIPE_POLLER_GROUP": f"{self.name}-pollers",
            "NEWSPIPE_POLLER_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
            "NEWSPIPE_POLLER_PER_HOST_INTERVAL_S": "0",
            "NEWSPIPE_POLLER_PER_HOST_CONCURRENCY": "1",
            "NEWSPIPE_POLLER_MIN_INTERVAL_S": "3600",
            "NEWSPIPE_POLLER_DEFAULT_INTERVAL_S": "3600",
            "NEWSPIPE_FULL_TEXT_DEFAULT": "never",
        })
        env.update(self.poller_env)
        return env


# --- processes -----------------------------------------------------------------------


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_cli(run: Run, args: Sequence[str], log_name: str,
              python: str | None = None) -> subprocess.Popen[bytes]:
    """``pipeline <args>`` as its own process group, output appended to logs/<log_name>."""
    run.logs.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = open(run.logs / log_name, "ab")  # noqa: SIM115 (owned by the child)
    cwd = Path(python).resolve().parents[2] if python else None  # <worktree>/.venv/bin/python
    return subprocess.Popen([python or sys.executable, "-m", "pipeline", *args], stdout=log,
                            stderr=subprocess.STDOUT, env=run.env(), start_new_session=True,
                            cwd=cwd,
                            preexec_fn=_die_with_parent)


def start_poller(run: Run, feed_list: Path, *, every_s: float | None = None,
                 log_name: str = "poller.log") -> subprocess.Popen[bytes]:
    args = ["-v", "poll", "--feeds", str(feed_list)]
    if every_s is not None:
        args += ["--every", str(every_s)]
    # Check another branch's poller against this suite before it is merged: the Python of
    # that worktree's virtualenv (run from there: `-m` puts the working dir on sys.path).
    python = os.environ.get("NEWSPIPE_RELIABILITY_POLLER_PYTHON")
    return start_cli(run, args, log_name, python=python)


def run_job(run: Run, log_name: str = "job.log",
            extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """``pipeline job run`` on Flink [local]; NEWSPIPE_RELIABILITY_JOB_ARGS adds flags."""
    more = os.environ.get("NEWSPIPE_RELIABILITY_JOB_ARGS", "").split()
    return start_job(run.settings, DEFAULT_RUNNER, run.logs / log_name, [*extra, *more])


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its group (no handler, no shutdown hook)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    deadline = time.monotonic() + 15
    while stack_process.group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stack_process.group_members(proc.pid), "processes survived SIGKILL"


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_job(proc)  # SIGTERM to the group, SIGKILL after a grace period


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float,
             procs: Sequence[subprocess.Popen[bytes]] = (), every_s: float = 0.5) -> Any:
    """Poll ``predicate`` until truthy; fail early if one of ``procs`` died."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"waiting for {what}: {proc.args!r} exited with "
                                     f"{proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# --- what is where ---------------------------------------------------------------------


def indexed_ids(es: Elasticsearch, index: str) -> list[str]:
    """Every document ``_id`` in the index (an id twice would mean two indices/aliases)."""
    if not es.indices.exists(index=index):
        return []
    es.indices.refresh(index=index)
    return [hit["_id"] for hit in helpers.scan(es, index=index, _source=False,
                                               query={"query": {"match_all": {}}})]


def indexed_count(es: Elasticsearch, index: str) -> int:
    if not es.indices.exists(index=index):
        return 0
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def mismatched_documents(es: Elasticsearch, index: str,
                         dead_lettered: set[str] | None = None) -> list[str]:
    """Documents whose ``id`` field or URL does not match their ``_id``, or whose
    near-duplicate ``cluster_id`` (when enrichment sets one) names no article of the run:
    neither an indexed one nor one that was dead-lettered on purpose (a rejected article
    can found a cluster: clustering runs before the index step)."""
    bad, clusters, ids = [], {}, set()
    for hit in helpers.scan(es, index=index, _source=["id", "url", "cluster_id"]):
        source = hit["_source"]
        ids.add(hit["_id"])
        if source.get("id") != hit["_id"] or article_id(source.get("url", "")) != hit["_id"]:
            bad.append(hit["_id"])
        if source.get("cluster_id"):
            clusters[hit["_id"]] = source["cluster_id"]
    known = ids | (dead_lettered or set())
    bad.extend(doc for doc, cluster in clusters.items() if cluster not in known)
    return bad


def topic_key_counts(settings: Settings, topic: str) -> Counter[str]:
    """How many records each key has on ``topic`` (read to the end, nothing committed)."""
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        counts: Counter[str] = Counter()
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                counts.update(r.key.decode() if r.key is not None else "<none>"
                              for r in records)
        return counts
    finally:
        consumer.close()


def committed_total(settings: Settings) -> int:
    """Sum of the job's committed offsets on the raw topic (0 where none)."""
    admin = KafkaAdminClient(**settings.kafka_client_kwargs())
    try:
        partitions = [TopicPartition(settings.raw_topic, p)
                      for p in range(settings.raw_topic_partitions)]
        offsets = admin.list_group_offsets({settings.consumer_group: partitions})
    except CoordinatorNotAvailableError:
        # A fresh broker creates __consumer_offsets on the first group lookup: until its
        # coordinator is up, no group can have committed anything.
        return 0
    finally:
        admin.close()
    return sum(max(0, meta.offset) for meta in offsets.get(settings.consumer_group, {}).values()
               if meta is not None)


def dead_letters(settings: Settings) -> list[DeadLetter]:
    return read_dead_letters(settings.kafka_client_kwargs(), settings.dead_letter_topic,
                             idle_timeout_s=2)


@dataclass
class Reconciliation:
    """Served ids vs indexed ids vs dead letters, and everything that does not add up."""

    expected: set[str]
    indexed: list[str]
    dead: list[DeadLetter]
    expected_dead: set[str]
    mismatched: list[str]

    @property
    def missing(self) -> set[str]:
        return self.expected - self.expected_dead - set(self.indexed)

    @property
    def extra(self) -> set[str]:
        return set(self.indexed) - self.expected

    @property
    def duplicate_ids(self) -> list[str]:
        return [i for i, n in Counter(self.indexed).items() if n > 1]

    @property
    def dead_keys(self) -> set[str]:
        return {d.key or "" for d in self.dead}

    def problems(self) -> list[str]:
        found = []
        for label, ids in (("missing from Elasticsearch", self.missing),
                           ("in Elasticsearch but never served", self.extra),
                           ("indexed more than once", self.duplicate_ids),
                           ("documents whose id/url/cluster_id do not match", self.mismatched),
                           ("dead letters not expected", self.dead_keys - self.expected_dead),
                           ("expected dead letters missing", self.expected_dead - self.dead_keys),
                           ("expected dead letters that were indexed anyway",
                            self.expected_dead & set(self.indexed))):
            if ids:
                found.append(f"{len(ids)} {label}, e.g. {sorted(ids)[:3]}")
        return found

    def summary(self) -> str:
        return (f"served {len(self.expected)}, indexed {len(self.indexed)} "
                f"(distinct {len(set(self.indexed))}), dead letters {len(self.dead)} "
                f"(expected {len(self.expected_dead)})")


def reconcile(es: Elasticsearch, settings: Settings, expected: set[str],
              expected_dead: set[str] | None = None) -> Reconciliation:
    return Reconciliation(expected=set(expected),
                          indexed=indexed_ids(es, settings.es_index),
                          dead=dead_letters(settings),
                          expected_dead=set(expected_dead or ()),
                          mismatched=mismatched_documents(es, settings.es_index,
                                                     set(expected_dead or ())))


def assert_exact(result: Reconciliation) -> None:
    problems = result.problems()
    assert not problems, result.summary() + "\n" + "\n".join(problems)
    assert len(result.indexed) == len(result.expected) - len(result.expected_dead)
    print(f"reconciled exactly: {result.summary()}")


def wait_until_drained(run: Run, es: Elasticsearch, expected: set[str],
                       job: subprocess.Popen[bytes], timeout_s: float,
                       expected_dead: int = 0, stall_s: float = 90.0) -> float:
    """Until the job committed the whole raw topic and every expected id is indexed (or
    dead-lettered); returns the seconds it took. Progress is printed as it changes.

    Also returns when everything is committed but the index has not grown for ``stall_s``:
    whatever is missing then is lost, and the reconciliation that follows says what.
    """
    from pipeline.kafka.lag import consumer_lag

    started = time.monotonic()
    last, last_change, last_indexed = "", started, -1

    def done() -> bool:
        nonlocal last, last_change, last_indexed
        indexed = indexed_count(es, run.settings.es_index)
        lag = consumer_lag(run.settings.kafka_client_kwargs(), run.settings.consumer_group,
                           run.settings.raw_topic)
        line = f"indexed {indexed}/{len(expected) - expected_dead}, uncommitted {lag}"
        if line != last:
            print(f"  [{time.monotonic() - started:5.0f}s] {line}")
            last = line
        if indexed != last_indexed:
            last_indexed, last_change = indexed, time.monotonic()
        if lag == 0 and time.monotonic() - last_change > stall_s:
            print(f"  all committed, nothing indexed for {stall_s:.0f}s: stopped waiting")
            return True
        return lag == 0 and indexed >= len(expected) - expected_dead

    try:
        wait_for("the job to index everything", done, timeout_s, [job], every_s=2)
    except AssertionError:
        print(tail(run.logs / "job.log"))
        raise
    return time.monotonic() - started
