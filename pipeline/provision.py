"""Provisioning that every entry point needs: topics and the index (idempotent)."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from pipeline.sinks.elasticsearch import (
    DEAD_LETTER_TEMPLATE_NAME,
    DEAD_LETTER_TEMPLATE_PATH,
    ensure_index,
    has_language_analyzers,
)


def provision(settings: Settings) -> list[str]:
    """Create missing Kafka topics and install the index template; return created topics."""
    created = [t.name for t in ensure_topics(settings) if t.created]
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        language_analysis = has_language_analyzers(client)
        ensure_index(client, settings.es_index, language_analysis=language_analysis)
        ensure_index(client, settings.dead_letter_index, DEAD_LETTER_TEMPLATE_PATH,
                     DEAD_LETTER_TEMPLATE_NAME, language_analysis=language_analysis)
    return created
