"""Create the project's topics (idempotent: existing topics are left as they are)."""

from __future__ import annotations

from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipeline.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def project_topics(settings: Settings) -> list[TopicSpec]:
    week_ms = str(7 * 24 * 3600 * 1000)
    return [
        TopicSpec(settings.raw_topic, settings.raw_topic_partitions,
                  {"retention.ms": week_ms, "compression.type": "producer"}),
        # Dead letters wait for a human: keep them four weeks.
        TopicSpec(settings.dead_letter_topic, 1, {"retention.ms": str(4 * int(week_ms))}),
    ]


def ensure_topics(settings: Settings, replication_factor: int = 1) -> list[str]:
    """Create missing topics; return the names that were created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                             client_id="newspipe-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in project_topics(settings) if t.name not in existing]
        created = []
        for spec in missing:
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, replication_factor,
                                              topic_configs=spec.config)])
                created.append(spec.name)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        return created
    finally:
        admin.close()
