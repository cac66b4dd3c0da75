"""Beam's own Kafka source (``ReadFromKafka``, a cross-language Java transform).

The expansion service runs from the jar ``pipeline stack fetch`` assembled; started with
an EMBEDDED environment and ``use_deprecated_read``, KafkaIO's reader runs natively inside
the Flink runner's JVM, so no Docker image is needed. Offsets are committed when Flink
finalizes a checkpoint, i.e. after the Python stages (Elasticsearch writes included)
finished the bundles it covers: at-least-once, with idempotent writes downstream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka
from apache_beam.transforms.external import JavaJarExpansionService

from pipeline.beam.messages import KafkaMessage


def expansion_service(jar: Path) -> JavaJarExpansionService:
    return JavaJarExpansionService(
        str(jar),
        extra_args=["{{PORT}}", "--defaultEnvironmentType=EMBEDDED",
                    "--experiments=use_deprecated_read"],
    )


def row_to_message(row: Any) -> KafkaMessage:
    return KafkaMessage(row.topic, int(row.partition), int(row.offset),
                        bytes(row.key) if row.key is not None else None, bytes(row.value))


class ReadFromKafkaJava(beam.PTransform):
    def __init__(self, consumer_properties: dict[str, str], topic: str, group_id: str,
                 expansion_jar: Path | None):
        super().__init__()
        self.consumer_properties = consumer_properties
        self.topic = topic
        self.group_id = group_id
        self.expansion_jar = expansion_jar

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[KafkaMessage]:
        return (
            pbegin
            | "ReadFromKafka" >> ReadFromKafka(
                consumer_config={**self.consumer_properties,
                                 "group.id": self.group_id,
                                 "auto.offset.reset": "earliest",
                                 "enable.auto.commit": "false"},
                topics=[self.topic],
                commit_offset_in_finalize=True,
                with_metadata=True,
                **({"expansion_service": expansion_service(self.expansion_jar)}
                   if self.expansion_jar else {}),
            )
            | "ToKafkaMessage" >> beam.Map(row_to_message)
        )
