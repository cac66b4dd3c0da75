"""The ES document built for an article matches the index template (dynamic: strict)."""

import json
from datetime import UTC, datetime

from pipeline.models import Article
from pipeline.models.document import build_document
from pipeline.sinks.elasticsearch import TEMPLATE_PATH

ENRICHMENT = {
    "enrichment_version": "1.0.0",
    "language": "en",
    "language_confidence": 0.97,
    "clean_text": "President Vladimir V. Putin of Russia ...",
    "persons": [{"canonical": "Vladimir Putin", "surface_forms": ["Putin", "Vladimir V. Putin"],
                 "count": 7, "first_offset": 10}],
    "organizations": [],
    "locations": [{"canonical": "North Korea", "surface_forms": ["North Korea"], "count": 9,
                   "first_offset": 60}],
    "countries": ["Russia"],
    "topics": [{"code": "medtop:16000000", "label": "conflict, war and peace", "score": 0.4}],
    "keywords": ["north korea"],
    "ner_skipped_reason": None,
}


def build() -> dict:
    article = Article.create(url="https://e.com/a", title="T", feed_url="https://e.com/f",
                             summary="<p>Sum &amp; more</p><p>Share.</p>")
    return build_document(article, ENRICHMENT, datetime(2026, 1, 1, tzinfo=UTC))


def test_every_document_field_is_mapped() -> None:
    mapped = json.loads(TEMPLATE_PATH.read_text())["template"]["mappings"]["properties"]
    doc = {**build(), "indexed_at": "2026-01-01T00:00:00+00:00"}
    assert set(doc) == set(mapped)
    for entity in doc["entities"]:
        assert set(entity) == set(mapped["entities"]["properties"])
    for topic in doc["topics"]:
        assert set(topic) == set(mapped["topics"]["properties"])


def test_entities_are_flattened_for_aggregation() -> None:
    doc = build()
    assert doc["persons"] == ["Vladimir Putin"]
    assert doc["locations"] == ["North Korea"]
    assert doc["topic_labels"] == ["conflict, war and peace"]
    assert doc["entities"][0] == {"type": "person", "name": "Vladimir Putin",
                                  "surface_forms": ["Putin", "Vladimir V. Putin"],
                                  "count": 7, "first_offset": 10}
    assert doc["summary"] == "Sum & more"
    assert doc["id"] == doc["id"].lower() and len(doc["id"]) == 64
