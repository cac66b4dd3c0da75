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
    week_ms = 7 * 24 * 3600 * 1000
    min_insync = str(min(2, settings.topic_replication_factor))
    return [
        TopicSpec(settings.raw_topic, settings.raw_topic_partitions,
                  {"retention.ms": str(week_ms), "compression.type": "producer",
                   "min.insync.replicas": min_insync}),
        # Dead letters wait for a human: keep them four weeks.
        TopicSpec(settings.dead_letter_topic, 1,
                  {"retention.ms": str(4 * week_ms), "min.insync.replicas": min_insync}),
        # Poller state keyed by feed URL: only the latest record per feed matters.
        # Same partition count as the feed registry (co-partitioned, see kafka/registry.py).
        TopicSpec(settings.poller_state_topic, settings.feed_topic_partitions,
                  {"cleanup.policy": "compact", "min.insync.replicas": min_insync}),
        # Feed registry (poller-scale): FeedSource JSON keyed by feed URL, tombstone = removed.
        TopicSpec(settings.feed_registry_topic, settings.feed_topic_partitions,
                  {"cleanup.policy": "compact", "min.insync.replicas": min_insync}),
    ]


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool
    partitions: int  # actual partitions on the broker
    wanted_partitions: int


def ensure_topics(settings: Settings) -> list[TopicReport]:
    """Create missing topics (idempotent) and report every project topic as it is now."""
    admin = KafkaAdminClient(**settings.kafka_client_kwargs(), client_id="newspipe-admin")
    try:
        existing = set(admin.list_topics())
        specs = _copartitioned(project_topics(settings), settings, existing, admin)
        created: set[str] = set()
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions,
                                              settings.topic_replication_factor,
                                              topic_configs=spec.config)])
                created.add(spec.name)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        described = {t["name"]: len(t["partitions"])
                     for t in admin.describe_topics([s.name for s in specs])}
        return [TopicReport(s.name, s.name in created, described.get(s.name, 0), s.partitions)
                for s in specs]
    finally:
        admin.close()


# --- poller-scale: the feed registry and the poller state stay co-partitioned ------------

def _copartitioned(specs: list[TopicSpec], settings: Settings, existing: set[str],
                   admin: KafkaAdminClient) -> list[TopicSpec]:
    """When one of the registry and state topics exists already, the other is created with
    its partition count (a feed's state lives in the partition of its registry entry)."""
    pair = {settings.feed_registry_topic, settings.poller_state_topic}
    present = sorted(pair & existing)
    if len(present) != 1:
        return specs
    [described] = admin.describe_topics(present)
    partitions = len(described["partitions"])
    return [TopicSpec(s.name, partitions, s.config) if s.name in pair else s for s in specs]
