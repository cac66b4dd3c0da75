"""The element every Kafka source in this job produces, whatever reads it."""

from __future__ import annotations

from typing import NamedTuple


class KafkaMessage(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
