"""Searching the article index: a pure query builder plus a thin client call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

# Text fields searched by a free query, boosted by how much a hit there says.
_QUERY_FIELDS = ["title^3", "persons.text^2", "organizations.text^2", "locations.text^2",
                 "entities.surface_forms^2", "summary", "body"]


@dataclass(frozen=True)
class SearchFilters:
    persons: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None


def build_query(text: str, filters: SearchFilters) -> dict[str, Any]:
    """Elasticsearch bool query: ``text`` scores, filters restrict (exact canonical names)."""
    must: list[dict[str, Any]] = []
    if text.strip():
        must.append({"simple_query_string": {"query": text, "fields": _QUERY_FIELDS,
                                             "default_operator": "and"}})
    clauses = [
        ("persons", filters.persons), ("organizations", filters.organizations),
        ("locations", filters.locations), ("topic_labels", filters.topics),
        ("source", filters.sources), ("language", filters.languages),
    ]
    # Each value is its own clause: --person A --person B means articles naming both.
    filter_clauses: list[dict[str, Any]] = [
        {"term": {name: value}} for name, values in clauses for value in values
    ]
    date_range = {}
    if filters.since:
        date_range["gte"] = filters.since.isoformat()
    if filters.until:
        date_range["lte"] = filters.until.isoformat()
    if date_range:
        filter_clauses.append({"range": {"published_at": date_range}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filter_clauses}}


@dataclass(frozen=True)
class Hit:
    id: str
    score: float | None
    title: str
    source: str
    published_at: str | None
    language: str | None
    persons: list[str]
    locations: list[str]
    organizations: list[str]
    topics: list[str]
    url: str


def search(client: Elasticsearch, index: str, text: str, filters: SearchFilters,
           limit: int = 10) -> tuple[int, list[Hit]]:
    response = client.search(
        index=index, query=build_query(text, filters), size=limit, track_total_hits=True,
        sort=["_score", {"published_at": {"order": "desc", "missing": "_last"}}],
    )
    total = int(response["hits"]["total"]["value"])
    return total, [_to_hit(h) for h in response["hits"]["hits"]]


def _to_hit(raw: dict[str, Any]) -> Hit:
    doc = raw["_source"]
    return Hit(
        id=raw["_id"], score=raw.get("_score"), title=doc.get("title", ""),
        source=doc.get("source", ""), published_at=doc.get("published_at"),
        language=doc.get("language"), persons=doc.get("persons", []),
        locations=doc.get("locations", []), organizations=doc.get("organizations", []),
        topics=doc.get("topic_labels", []), url=doc.get("url", ""),
    )
