"""The job's last step, ClusterAndIndex: Elasticsearch round trips on a writer thread,
results emitted in order from the bundle thread, and a bundle that only finishes once every
write is answered (stand-ins replace the cluster lookup and the bulk sink)."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.beam.messages import KafkaMessage
from pipeline.beam.transforms import DEAD, ClusterAndIndex
from pipeline.kafka.dead_letter import DeadLetter
from pipeline.sinks.backoff import OutageTimeout
from pipeline.sinks.elasticsearch import Rejection

FETCHED = "2025-03-01T10:00:00+00:00"


class RecordingSink:
    """Stands in for ElasticsearchSink: records each bulk request; may reject some ids,
    fail, or hold a write until released."""

    def __init__(self, rejected: frozenset[str] = frozenset(),
                 error: Exception | None = None, gate: threading.Event | None = None):
        self.rejected = rejected
        self.error = error
        self.gate = gate
        self.requests: list[list[dict[str, Any]]] = []
        self.threads: set[str] = set()

    def write(self, documents: list[dict[str, Any]]) -> list[Rejection]:
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.error is not None:
            raise self.error
        self.requests.append(documents)
        return [Rejection(d["id"], 400, "document_parsing_exception: failed to parse [authors]")
                for d in documents if d["id"] in self.rejected]


class FixedClusters:
    """Stands in for ClusterAssigner: every doc in a cluster named after the first doc."""

    def assign(self, docs: list[dict[str, Any]]) -> tuple[list[str], bool]:
        return [docs[0]["id"]] * len(docs), False


def step(sink: RecordingSink, in_flight: int = 1) -> ClusterAndIndex:
    fn = ClusterAndIndex({}, "articles", outage_timeout_s=1.0, in_flight=in_flight)
    # What setup() builds around a real client:
    fn._sink = sink  # type: ignore[assignment]
    fn._clusters = FixedClusters()  # type: ignore[assignment]
    fn._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="es-writer")
    fn._pending = deque()
    return fn


def batch(*ids: str) -> list[tuple[KafkaMessage, dict[str, Any]]]:
    return [(KafkaMessage("raw", 0, n, i.encode(), f'{{"id": "{i}"}}'.encode()),
             {"id": i, "fetched_at": FETCHED}) for n, i in enumerate(ids)]


def received(items: list[tuple[KafkaMessage, dict[str, Any]]], at: int) -> WindowedValue:
    return WindowedValue(items, Timestamp(at), [GlobalWindow()])


def ids(outputs: list[Any]) -> list[str]:
    return [o.value for o in outputs if not isinstance(o, TaggedOutput)]


def dead(outputs: list[Any]) -> list[DeadLetter]:
    return [o.value.value for o in outputs if isinstance(o, TaggedOutput) and o.tag == DEAD]


def test_every_document_is_clustered_stamped_and_written_on_the_writer_thread() -> None:
    sink = RecordingSink()
    fn = step(sink)
    items = batch("a", "b")
    before = datetime.now(UTC)
    outputs = list(fn.process(items, received(items, 5))) + list(fn.finish_bundle())
    assert ids(outputs) == ["a", "b"] and not dead(outputs)
    [written] = sink.requests
    assert [d["cluster_id"] for d in written] == ["a", "a"]
    assert before <= datetime.fromisoformat(written[0]["indexed_at"]) <= datetime.now(UTC)
    assert written[0]["indexed_at"] >= written[0]["fetched_at"]
    assert all(name.startswith("es-writer") for name in sink.threads)
    # Outputs keep the window and timestamp of the batch they came from.
    assert {(o.timestamp, tuple(o.windows)) for o in outputs} == {(Timestamp(5),
                                                                    (GlobalWindow(),))}


def test_process_returns_before_the_write_and_the_bundle_waits_for_it() -> None:
    gate = threading.Event()
    sink = RecordingSink(gate=gate)
    fn = step(sink)
    items = batch("a")
    assert list(fn.process(items, received(items, 1))) == []  # the write is still running
    assert sink.requests == []
    threading.Timer(0.2, gate.set).start()
    assert ids(list(fn.finish_bundle())) == ["a"]  # blocked until Elasticsearch answered
    assert len(sink.requests) == 1


def test_at_most_in_flight_batches_wait_unemitted() -> None:
    gate = threading.Event()
    fn = step(RecordingSink(gate=gate), in_flight=1)
    first, second = batch("a"), batch("b")
    assert list(fn.process(first, received(first, 1))) == []
    gate.set()
    # A second batch: the first must be answered and emitted before this call returns.
    emitted = list(fn.process(second, received(second, 2)))
    assert ids(emitted)[:1] == ["a"] and emitted[0].timestamp == Timestamp(1)
    assert ids(emitted + list(fn.finish_bundle())) == ["a", "b"]


def test_rejected_document_is_an_index_dead_letter_and_the_rest_is_indexed() -> None:
    fn = step(RecordingSink(rejected=frozenset({"b"})))
    items = batch("a", "b")
    outputs = list(fn.process(items, received(items, 1))) + list(fn.finish_bundle())
    assert ids(outputs) == ["a"]
    [letter] = dead(outputs)
    assert (letter.stage, letter.error_type) == ("index", "ElasticsearchRejection")
    assert letter.reason.startswith("HTTP 400: document_parsing_exception")
    assert letter.original_payload() == items[1][0].value and letter.source_offset == 1


def test_a_write_that_gives_up_fails_the_bundle() -> None:
    fn = step(RecordingSink(error=OutageTimeout("64 documents not indexed after 1s")))
    items = batch("a")
    with pytest.raises(OutageTimeout, match="not indexed"):  # from process or finish_bundle
        list(fn.process(items, received(items, 1)))
        list(fn.finish_bundle())
    fn.start_bundle()  # the failed bundle is redone from Kafka: nothing is left pending
    assert list(fn.finish_bundle()) == []
