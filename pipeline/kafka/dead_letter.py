"""Dead letters: messages the job could not process, kept with the reason, replayable.

A dead letter carries the original message bytes untouched (text when it is UTF-8,
base64 otherwise), where it came from, which stage failed and why. ``replay`` puts the
original payloads back on the raw topic with their original keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

DEAD_LETTER_VERSION = 1


@dataclass(frozen=True)
class DeadLetter:
    stage: str  # "decode" | "enrich" | "index"
    reason: str
    error_type: str
    payload: str
    payload_encoding: str  # "utf-8" | "base64"
    key: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at: str = ""
    dead_letter_version: int = DEAD_LETTER_VERSION

    @classmethod
    def build(cls, *, stage: str, reason: str, error_type: str, payload: bytes,
              key: bytes | None = None, source_topic: str | None = None,
              source_partition: int | None = None,
              source_offset: int | None = None) -> DeadLetter:
        text, encoding = _encode_payload(payload)
        return cls(
            stage=stage,
            reason=reason[:2000],  # a traceback's last line is enough; keep records small
            error_type=error_type,
            payload=text,
            payload_encoding=encoding,
            key=key.decode("utf-8", "replace") if key is not None else None,
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            failed_at=datetime.now(UTC).isoformat(),
        )

    def original_payload(self) -> bytes:
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")

    def to_json_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> DeadLetter:
        data: dict[str, Any] = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _encode_payload(payload: bytes) -> tuple[str, str]:
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


REPLAY_GROUP = "newspipe-dlq-replay"


def _consumer(kafka: dict[str, Any], topic: str, group_id: str | None,
              idle_timeout_s: float) -> KafkaConsumer:
    return KafkaConsumer(topic, **kafka, group_id=group_id,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         consumer_timeout_ms=int(idle_timeout_s * 1000))


def read_dead_letters(kafka: dict[str, Any], topic: str, *, idle_timeout_s: float = 3.0,
                      limit: int | None = None) -> list[DeadLetter]:
    """Dead letters on the topic, oldest first (read from the start, commits nothing)."""
    consumer = _consumer(kafka, topic, None, idle_timeout_s)
    letters: list[DeadLetter] = []
    try:
        for message in consumer:
            letters.append(DeadLetter.from_json_bytes(message.value))
            if limit is not None and len(letters) >= limit:
                break
    finally:
        consumer.close()
    return letters


def replay(kafka: dict[str, Any], dead_letter_topic: str, target_topic: str, *,
           select: Callable[[DeadLetter], bool] = lambda _: True,
           idle_timeout_s: float = 3.0) -> int:
    """Re-publish the original payload of each selected dead letter not replayed before.

    A consumer group remembers how far replay got. Its offsets are committed only after
    the producer flushed, and never past a letter that ``select`` passed over (so a
    filtered replay leaves the others for later); a crash mid-replay repeats rather than
    skips. Repeats are harmless: the payload keeps its article id, and Elasticsearch
    overwrites in place.
    """
    consumer = _consumer(kafka, dead_letter_topic, REPLAY_GROUP, idle_timeout_s)
    producer = KafkaProducer(**kafka, acks="all", enable_idempotence=True)
    replayed = 0
    cursor: dict[TopicPartition, int] = {}
    passed_over: set[TopicPartition] = set()
    try:
        # Stop at the end offsets seen now: a replayed message that fails again comes back
        # as a new dead letter, and replaying that too would loop for ever.
        partitions = [TopicPartition(dead_letter_topic, p)
                      for p in consumer.partitions_for_topic(dead_letter_topic) or ()]
        stop_at = consumer.end_offsets(partitions)
        for message in consumer:
            partition = TopicPartition(message.topic, message.partition)
            if message.offset >= stop_at.get(partition, 0):
                if all(consumer.position(tp) >= end for tp, end in stop_at.items()
                       if tp in consumer.assignment()):
                    break
                continue
            letter = DeadLetter.from_json_bytes(message.value)
            if not select(letter):
                passed_over.add(partition)
                continue
            key = letter.key.encode("utf-8") if letter.key is not None else None
            producer.send(target_topic, key=key, value=letter.original_payload(),
                          headers=[("newspipe-replay-of", letter.failed_at.encode())])
            replayed += 1
            if partition not in passed_over:
                cursor[partition] = message.offset + 1
        producer.flush()
        if cursor:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1)
                             for tp, offset in cursor.items()})
    finally:
        producer.close()
        consumer.close()
    return replayed
