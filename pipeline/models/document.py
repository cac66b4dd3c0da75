"""The Elasticsearch document: an Article plus its enrichment, in the index's field names.

``deploy/elasticsearch/articles-index-template.json`` maps exactly these fields
(``dynamic: strict``), so a field added here must be added there too (a test checks).

Lineage: ``published_at`` (from the feed; null when the feed gives no date), ``fetched_at``
(poller), ``enriched_at`` (here), ``indexed_at`` (stamped by the job's index step right
before the bulk write) and ``enrichment_version`` are on every document.

``cluster_id`` starts as the article's own id; the job's cluster step
(``pipeline/beam/clusters.py``) replaces it with the cluster of a near-duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.enrichment.clean import clean_article_text, clean_inline_text
from pipeline.models.article import Article

ENTITY_TYPES = {"persons": "person", "organizations": "organization", "locations": "location"}


def build_document(article: Article, enrichment: dict[str, Any],
                   enriched_at: datetime) -> dict[str, Any]:
    places = enrichment.get("places", {})
    entities = [
        {"type": entity_type, "name": e["canonical"], "surface_forms": e["surface_forms"],
         "count": e["count"], "first_offset": e["first_offset"],
         **_geo_of(places.get(e["canonical"]) if field == "locations" else None)}
        for field, entity_type in ENTITY_TYPES.items()
        for e in enrichment.get(field, [])
    ]
    topics = enrichment.get("topics", [])
    return {
        "id": article.id,
        "schema_version": article.schema_version,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "source": article.source,
        "feed_url": article.feed_url,
        # Titles and names are publisher input too: feedparser decodes entities in them
        # but does not sanitise plain-text elements, so `&lt;script&gt;` in a <title>
        # arrives as a tag. Every stored text field is plain text, without markup.
        "feed_title": clean_inline_text(article.feed_title),
        "guid": article.guid,
        "title": clean_inline_text(article.title),
        "summary": clean_article_text(article.summary),
        "body": enrichment.get("clean_text", ""),
        "authors": [name for name in map(clean_inline_text, article.authors) if name],
        "language": enrichment.get("language"),
        "language_confidence": enrichment.get("language_confidence"),
        **{field: _names(enrichment.get(field, [])) for field in ENTITY_TYPES},
        "countries": enrichment.get("countries", []),
        "country_codes": enrichment.get("country_codes", []),
        "location_points": enrichment.get("location_points", []),
        "entities": entities,
        "topics": topics,
        "topic_labels": [t["label"] for t in topics],
        "keywords": enrichment.get("keywords", []),
        "ner_skipped_reason": enrichment.get("ner_skipped_reason"),
        # Which model read the article ("fr_core_news_sm-3.8.0"): lineage next to the
        # enrichment version, and what to select when a model upgrade calls for a reindex.
        "ner_model": enrichment.get("ner_model"),
        "simhash": enrichment.get("simhash"),
        "simhash_bands": enrichment.get("simhash_bands", []),
        "cluster_id": article.id,
        "published_at": _iso(article.published_at),
        "fetched_at": _iso(article.fetched_at),
        "enriched_at": enriched_at.isoformat(),
        "enrichment_version": enrichment.get("enrichment_version"),
    }


def _geo_of(place: dict[str, Any] | None) -> dict[str, Any]:
    if place is None:
        return {"country_code": None, "point": None}
    return {"country_code": place["country_code"], "point": place["point"]}


def _names(entities: list[dict[str, Any]]) -> list[str]:
    return [e["canonical"] for e in entities]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
