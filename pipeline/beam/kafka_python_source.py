"""A Kafka source for Beam written on kafka-python, for runners without Java.

``PeriodicImpulse`` ticks (an unbounded source every Python runner can run in streaming
mode); on each tick a consumer created once per worker drains what is available. Offsets
are committed through Beam's *bundle finalization*: only after the runner has durably
finished the bundle, i.e. after the Elasticsearch writes downstream in the same fused
stage succeeded. A crash before that re-delivers, and the id-keyed sink absorbs repeats.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

from pipeline.beam.messages import KafkaMessage

log = logging.getLogger(__name__)


class _PollKafka(beam.DoFn):
    def __init__(self, kafka: dict[str, Any], topic: str, group_id: str, max_records: int,
                 poll_timeout_ms: int):
        self.kafka = kafka
        self.topic = topic
        self.group_id = group_id
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms

    def setup(self) -> None:
        self._consumer = KafkaConsumer(
            self.topic, **self.kafka, group_id=self.group_id,
            client_id="newspipe-job", enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            # An Elasticsearch outage holds a bundle for its whole backoff: stay in the
            # group rather than trigger a rebalance that re-delivers everything in flight.
            max_poll_interval_ms=3_600_000,
        )
        self._lock = threading.Lock()
        self._finalized: dict[TopicPartition, OffsetAndMetadata] = {}

    def process(self, _tick: Any,
                finalizer: Any = beam.DoFn.BundleFinalizerParam) -> Iterator[KafkaMessage]:
        self._commit_finalized()
        batch = self._consumer.poll(timeout_ms=self.poll_timeout_ms,
                                    max_records=self.max_records)
        log.info("polled %d records", sum(len(r) for r in batch.values()))
        next_offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                        for tp, records in batch.items() if records}
        if next_offsets:
            finalizer.register(lambda: self._mark_finalized(next_offsets))
        for records in batch.values():
            for record in records:
                yield KafkaMessage(record.topic, record.partition, record.offset,
                                   record.key, record.value)

    def _mark_finalized(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        # Called by the runner, possibly on another thread; the consumer is not
        # thread-safe, so the commit itself happens on the next poll's thread.
        with self._lock:
            self._finalized.update(offsets)

    def _commit_finalized(self) -> None:
        with self._lock:
            offsets, self._finalized = self._finalized, {}
        if offsets:
            log.info("committing %s", offsets)
            self._consumer.commit(offsets)

    def teardown(self) -> None:
        consumer = getattr(self, "_consumer", None)
        if consumer is not None:
            self._commit_finalized()
            consumer.close()


class ReadFromKafkaPython(beam.PTransform):
    def __init__(self, kafka: dict[str, Any], topic: str, group_id: str, *,
                 poll_interval_s: float = 0.5, max_records: int = 500):
        super().__init__()
        self.kafka = kafka
        self.topic = topic
        self.group_id = group_id
        self.poll_interval_s = poll_interval_s
        self.max_records = max_records

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[KafkaMessage]:
        poll_timeout_ms = int(self.poll_interval_s * 1000)
        return (
            pbegin
            | "Tick" >> PeriodicImpulse(fire_interval=self.poll_interval_s)
            | "PollKafka" >> beam.ParDo(_PollKafka(self.kafka, self.topic, self.group_id,
                                                   self.max_records, poll_timeout_ms))
        )
