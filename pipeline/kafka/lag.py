"""Consumer-group lag: how much of a topic a group has not committed yet."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError


def committed_offsets(kafka: dict[str, Any], group_id: str,
                      partitions: list[TopicPartition] | None = None
                      ) -> dict[TopicPartition, OffsetAndMetadata] | None:
    """The group's committed offsets (of ``partitions``, or all it has committed).

    ``None`` when Kafka cannot tell yet: on a new broker the group coordinator (and its
    ``__consumer_offsets`` topic) only comes up with the first group, a retriable state.
    """
    admin = KafkaAdminClient(**kafka)
    try:
        offsets: dict[TopicPartition, OffsetAndMetadata] = admin.list_group_offsets(
            {group_id: partitions}).get(group_id, {})
        return offsets
    except KafkaError as exc:
        if getattr(exc, "retriable", False):
            return None
        raise
    finally:
        admin.close()


def consumer_lag(kafka: dict[str, Any], group_id: str, topic: str) -> int | None:
    """Messages on ``topic`` past the group's committed offsets (all of them if none);
    ``None`` when Kafka cannot tell yet (see :func:`committed_offsets`)."""
    consumer = KafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(partitions)
        committed = committed_offsets(kafka, group_id, partitions)
        if committed is None:
            return None

        def position(tp: TopicPartition) -> int:
            meta = committed.get(tp)
            return meta.offset if meta is not None and meta.offset >= 0 else 0

        return sum(max(0, ends[tp] - position(tp)) for tp in partitions)
    finally:
        consumer.close()
