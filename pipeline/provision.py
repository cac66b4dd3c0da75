"""Provisioning that every entry point needs: topics, the article alias with its first
generation, the dead-letter index (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from elasticsearch import Elasticsearch

from pipeline.kafka.topics import ensure_topics
from pipeline.poller.health import ensure_feed_health_index
from pipeline.rollover import RolloverConditions
from pipeline.settings import Settings
from pipeline.sinks.elasticsearch import (
    DEAD_LETTER_TEMPLATE_NAME,
    DEAD_LETTER_TEMPLATE_PATH,
    AliasSetup,
    ensure_index,
    ensure_write_alias,
    has_language_analyzers,
)


@dataclass(frozen=True)
class Provisioned:
    created_topics: list[str]
    articles: AliasSetup


def rollover_conditions(settings: Settings) -> RolloverConditions:
    return RolloverConditions(max_age=settings.es_rollover_max_age,
                              max_docs=settings.es_rollover_max_docs,
                              max_primary_shard_size=settings.es_rollover_max_primary_shard_size)


def provision_report(settings: Settings) -> Provisioned:
    """Create missing Kafka topics, install the templates, make sure the article alias has
    a write index (migrating an index of the previous layout); say what was done."""
    created = [t.name for t in ensure_topics(settings) if t.created]
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        language_analysis = has_language_analyzers(client)
        articles = ensure_write_alias(client, settings.es_index,
                                      language_analysis=language_analysis,
                                      conditions=rollover_conditions(settings))
        ensure_index(client, settings.dead_letter_index, DEAD_LETTER_TEMPLATE_PATH,
                     DEAD_LETTER_TEMPLATE_NAME, language_analysis=language_analysis)
        ensure_feed_health_index(client, settings.feed_health_index,
                                 language_analysis=language_analysis)
    return Provisioned(created, articles)


def provision(settings: Settings) -> list[str]:
    """:func:`provision_report`, returning the created topics."""
    return provision_report(settings).created_topics
