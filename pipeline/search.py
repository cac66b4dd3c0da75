"""Searching the article alias: pure request builders plus thin client calls.

Queries that just work:
- A free query searches title, body, summary, the canonical entity names (as text) and the
  surface forms, so "Putin" finds an article that only says "Vladimir V. Putin".
- Names in the query that the alias table knows (``seeds/aliases.yaml``, the table the
  enrichment normalises with) also match their canonical entity: "U.S." finds articles
  about the "United States", "Vladimir V. Putin" finds every article whose persons include
  "Vladimir Putin" however it was spelled there. The expansion only adds recall: the query
  as typed is always one of the alternatives.
- Entity filters (``--person`` ...) match the canonical name or any surface form,
  case-insensitively, after the same alias lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from elasticsearch import Elasticsearch

from pipeline.enrichment.entities import AliasTable, default_alias_table, loose_key

# Text fields searched by a free query, boosted by how much a hit there says.
_QUERY_FIELDS = ["title^3", "persons.text^2", "organizations.text^2", "locations.text^2",
                 "entities.surface_forms^2", "summary", "body"]
_ENTITY_FIELDS = {"person": "persons", "organization": "organizations",
                  "location": "locations"}
# simple_query_string operators: a query using them is taken as written (no expansion).
_OPERATORS = re.compile(r'[|+()~*]|(?:^|\s)-\S')
_MAX_ALIAS_TOKENS = 6
MAX_RESULT_WINDOW = 10_000  # Elasticsearch's index.max_result_window default

SortOrder = Literal["relevance", "newest", "oldest"]
SORT_ORDERS: tuple[SortOrder, ...] = ("relevance", "newest", "oldest")


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


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: SortOrder = "relevance"
    page: int = 1
    size: int = 10
    highlight: bool = True
    collapse: bool = False  # one hit per near-duplicate cluster (``cluster_id``)

    def __post_init__(self) -> None:
        if self.sort not in SORT_ORDERS:
            raise ValueError(f"sort must be one of {', '.join(SORT_ORDERS)}, got {self.sort!r}")
        if self.page < 1 or not 1 <= self.size <= 500:
            raise ValueError("page must be >= 1 and size between 1 and 500")
        if self.page * self.size > MAX_RESULT_WINDOW:
            raise ValueError(f"page {self.page} of size {self.size} is past the first "
                             f"{MAX_RESULT_WINDOW} hits; narrow the query with filters")


# --- alias expansion (pure) ----------------------------------------------------------

@dataclass(frozen=True)
class AliasMention:
    """A span of query tokens [start, end) naming an alias-table entity."""

    start: int
    end: int
    text: str
    canonical: str
    category: str


def alias_mentions(text: str, aliases: AliasTable) -> list[AliasMention]:
    """Alias-table names in ``text``, longest first, non-overlapping. Queries with search
    operators are left alone, and so are short lower-case single words ("us", "un"),
    which are far more often ordinary words than abbreviations."""
    if _OPERATORS.search(text):
        return []
    tokens = text.replace('"', " ").split()
    found: list[AliasMention] = []
    position = 0
    while position < len(tokens):
        for width in range(min(_MAX_ALIAS_TOKENS, len(tokens) - position), 0, -1):
            words = tokens[position:position + width]
            surface = " ".join(words).strip(",;:!?")
            if width == 1 and surface.islower() and len(loose_key(surface)) <= 3:
                continue
            hit = aliases.lookup(surface)
            if hit is not None and hit[1] in _ENTITY_FIELDS:
                found.append(AliasMention(position, position + width, surface, *hit))
                position += width
                break
        else:
            position += 1
    return found


def _text_query(text: str) -> dict[str, Any]:
    return {"simple_query_string": {"query": text, "fields": _QUERY_FIELDS,
                                    "default_operator": "and"}}


def _entity_clause(canonical: str, category: str) -> dict[str, Any]:
    """The entity by its canonical name (however the article spelled it), or the name
    written out in title or body."""
    return {"bool": {"should": [
        {"term": {_ENTITY_FIELDS[category]: {"value": canonical, "case_insensitive": True}}},
        {"match_phrase": {"title": canonical}},
        {"match_phrase": {"body": canonical}},
    ], "minimum_should_match": 1}}


def _free_text(text: str, aliases: AliasTable) -> dict[str, Any]:
    mentions = alias_mentions(text, aliases)
    if not mentions:
        return _text_query(text)
    tokens = text.replace('"', " ").split()
    covered = {i for m in mentions for i in range(m.start, m.end)}
    rest = " ".join(t for i, t in enumerate(tokens) if i not in covered)
    expanded: list[dict[str, Any]] = [_entity_clause(m.canonical, m.category)
                                      for m in mentions]
    if rest.strip():
        expanded.append(_text_query(rest))
    return {"bool": {"should": [_text_query(text), {"bool": {"must": expanded}}],
                     "minimum_should_match": 1}}


# --- filters (pure) ------------------------------------------------------------------

def _case_insensitive_term(name: str, value: str) -> dict[str, Any]:
    return {"term": {name: {"value": value, "case_insensitive": True}}}


def _entity_filter(field_name: str, value: str, aliases: AliasTable) -> dict[str, Any]:
    """Canonical name (after alias lookup) or any surface form, case-insensitively."""
    names = [value]
    hit = aliases.lookup(value)
    if hit is not None and hit[0] != value:
        names.append(hit[0])
    should = [_case_insensitive_term(field_name, name) for name in names]
    should.append(_case_insensitive_term("entities.surface_forms", value))
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _topic_filter(value: str) -> dict[str, Any]:
    return {"bool": {"should": [_case_insensitive_term("topic_labels", value),
                                {"term": {"topics.code": value}}],
                     "minimum_should_match": 1}}


def build_filters(filters: SearchFilters, aliases: AliasTable) -> list[dict[str, Any]]:
    # Each value is its own clause: --person A --person B means articles naming both.
    clauses: list[dict[str, Any]] = []
    for name, values in (("persons", filters.persons), ("organizations", filters.organizations),
                         ("locations", filters.locations)):
        clauses.extend(_entity_filter(name, value, aliases) for value in values)
    clauses.extend(_topic_filter(value) for value in filters.topics)
    clauses.extend(_case_insensitive_term("source", value) for value in filters.sources)
    clauses.extend(_case_insensitive_term("language", value) for value in filters.languages)
    date_range = {}
    if filters.since:
        date_range["gte"] = _utc(filters.since).isoformat()
    if filters.until:
        date_range["lte"] = _utc(filters.until).isoformat()
    if date_range:
        clauses.append({"range": {"published_at": date_range}})
    return clauses


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def build_query(text: str, filters: SearchFilters,
                aliases: AliasTable | None = None) -> dict[str, Any]:
    """Elasticsearch bool query: ``text`` scores, filters restrict."""
    aliases = aliases if aliases is not None else default_alias_table()
    must = [_free_text(text, aliases)] if text.strip() else [{"match_all": {}}]
    return {"bool": {"must": must, "filter": build_filters(filters, aliases)}}


def _sort(order: SortOrder) -> list[Any]:
    newest = {"published_at": {"order": "desc", "missing": "_last"}}
    # the id breaks ties, so paging through equal dates neither repeats nor skips
    if order == "relevance":
        return ["_score", newest, {"id": "asc"}]
    if order == "newest":
        return [newest, {"id": "asc"}]
    return [{"published_at": {"order": "asc", "missing": "_last"}}, {"id": "asc"}]


HIGHLIGHT_TAGS = ("<em>", "</em>")


def build_search_body(request: SearchRequest,
                      aliases: AliasTable | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Elasticsearch.search``."""
    body: dict[str, Any] = {
        "query": build_query(request.text, request.filters, aliases),
        "sort": _sort(request.sort),
        "from_": (request.page - 1) * request.size,
        "size": request.size,
        "track_total_hits": True,
    }
    if request.highlight and request.text.strip():
        body["highlight"] = {
            "pre_tags": [HIGHLIGHT_TAGS[0]], "post_tags": [HIGHLIGHT_TAGS[1]],
            "require_field_match": False,
            "fields": {"title": {"number_of_fragments": 0},
                       "summary": {"fragment_size": 160, "number_of_fragments": 1},
                       "body": {"fragment_size": 160, "number_of_fragments": 2}},
        }
    if request.collapse:
        body["collapse"] = {"field": "cluster_id"}
        body["aggs"] = {"clusters": {"cardinality": {"field": "cluster_id"}}}
    return body


# --- running a search ----------------------------------------------------------------

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
    cluster_id: str | None = None
    highlights: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    total: int  # matching articles
    hits: list[Hit]
    page: int
    size: int
    clusters: int | None = None  # distinct clusters among them, when collapsed


def run_search(client: Elasticsearch, index: str, request: SearchRequest,
               aliases: AliasTable | None = None) -> SearchResult:
    response = client.search(index=index, **build_search_body(request, aliases))
    clusters = response.get("aggregations", {}).get("clusters", {}).get("value")
    return SearchResult(total=int(response["hits"]["total"]["value"]),
                        hits=[_to_hit(h) for h in response["hits"]["hits"]],
                        page=request.page, size=request.size,
                        clusters=int(clusters) if clusters is not None else None)


def search(client: Elasticsearch, index: str, text: str, filters: SearchFilters,
           limit: int = 10) -> tuple[int, list[Hit]]:
    """The first ``limit`` hits by relevance, and the total."""
    result = run_search(client, index, SearchRequest(text, filters, size=limit))
    return result.total, result.hits


def _to_hit(raw: dict[str, Any]) -> Hit:
    doc = raw["_source"]
    return Hit(
        id=raw["_id"], score=raw.get("_score"), title=doc.get("title", ""),
        source=doc.get("source", ""), published_at=doc.get("published_at"),
        language=doc.get("language"), persons=doc.get("persons", []),
        locations=doc.get("locations", []), organizations=doc.get("organizations", []),
        topics=doc.get("topic_labels", []), url=doc.get("url", ""),
        cluster_id=doc.get("cluster_id"), highlights=dict(raw.get("highlight", {})),
    )


# --- trending ------------------------------------------------------------------------

TRENDING_FIELDS = {"persons": "persons", "organizations": "organizations",
                   "locations": "locations", "topics": "topic_labels"}
_WINDOW = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` -> timedelta."""
    match = _WINDOW.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r}: expected a positive number and m, h, d or w, "
                         "e.g. 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _window_query(filters: SearchFilters | None, aliases: AliasTable | None,
                  date_range: dict[str, str]) -> dict[str, Any]:
    query = build_query("", filters or SearchFilters(), aliases)
    query["bool"]["filter"].append({"range": {"published_at": date_range}})
    return query


def build_trending_body(field_name: str, window: timedelta, top: int, now: datetime,
                        filters: SearchFilters | None = None,
                        aliases: AliasTable | None = None) -> dict[str, Any]:
    """Top ``top`` values of ``field_name`` (persons, organizations, locations, topics)
    among articles published in the window ending ``now``."""
    if field_name not in TRENDING_FIELDS:
        raise ValueError(f"field must be one of {', '.join(TRENDING_FIELDS)}")
    if top < 1:
        raise ValueError("top must be at least 1")
    now = _utc(now)
    query = _window_query(filters, aliases, {"gte": (now - window).isoformat(),
                                             "lte": now.isoformat()})
    return {"query": query, "size": 0, "track_total_hits": True,
            "aggs": {"top": {"terms": {"field": TRENDING_FIELDS[field_name], "size": top}}}}


def build_previous_window_body(field_name: str, window: timedelta, now: datetime,
                               values: list[str], filters: SearchFilters | None = None,
                               aliases: AliasTable | None = None) -> dict[str, Any]:
    """Counts of ``values`` in the window just before the trending window, to show what
    is rising."""
    now = _utc(now)
    query = _window_query(filters, aliases, {"gte": (now - 2 * window).isoformat(),
                                             "lt": (now - window).isoformat()})
    es_field = TRENDING_FIELDS[field_name]
    return {"query": query, "size": 0,
            "aggs": {"top": {"terms": {"field": es_field, "size": max(1, len(values)),
                                       "include": values}}}}


@dataclass(frozen=True)
class TrendingRow:
    value: str
    count: int
    previous: int

    @property
    def change(self) -> float | None:
        """Relative change vs the previous window; None when it was absent then."""
        return None if self.previous == 0 else (self.count - self.previous) / self.previous


@dataclass(frozen=True)
class Trending:
    field: str
    window: timedelta
    since: datetime
    until: datetime
    articles: int
    rows: list[TrendingRow]


def trending(client: Elasticsearch, index: str, field_name: str, window: timedelta,
             top: int = 10, now: datetime | None = None,
             filters: SearchFilters | None = None) -> Trending:
    now = _utc(now or datetime.now(UTC))
    aliases = default_alias_table()
    response = client.search(index=index, **build_trending_body(field_name, window, top, now,
                                                                filters, aliases))
    buckets = response["aggregations"]["top"]["buckets"]
    before: dict[str, int] = {}
    if buckets:
        earlier = client.search(index=index, **build_previous_window_body(
            field_name, window, now, [b["key"] for b in buckets], filters, aliases))
        before = {b["key"]: b["doc_count"] for b in earlier["aggregations"]["top"]["buckets"]}
    rows = [TrendingRow(b["key"], b["doc_count"], before.get(b["key"], 0)) for b in buckets]
    return Trending(field_name, window, now - window, now,
                    int(response["hits"]["total"]["value"]), rows)
