"""The search request builders: free text, alias expansion, every filter, sort, paging,
highlights, collapse, trending windows. Pure: no Elasticsearch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.enrichment.entities import AliasTable
from pipeline.search import (
    SearchFilters,
    SearchRequest,
    alias_mentions,
    build_previous_window_body,
    build_query,
    build_search_body,
    build_trending_body,
    parse_window,
)

ALIASES = AliasTable.from_mapping({
    "persons": {"Vladimir Putin": ["Vladimir V. Putin"], "Kim Jong-un": ["Kim Jong Un"]},
    "organizations": {"United Nations": ["UN", "U.N."]},
    "locations": {"United States": ["U.S.", "US", "USA"], "North Korea": ["DPRK"]},
})


def terms_in(query: Any) -> list[tuple[str, str]]:
    """Every (field, value) of the term clauses anywhere in ``query``."""
    found: list[tuple[str, str]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "term":
                    [(name, spec)] = value.items()
                    found.append((name, spec["value"] if isinstance(spec, dict) else spec))
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(query)
    return found


def test_free_text_without_known_names_is_one_simple_query() -> None:
    query = build_query("Putin", SearchFilters(), ALIASES)
    [must] = query["bool"]["must"]
    sqs = must["simple_query_string"]
    assert sqs["query"] == "Putin" and sqs["default_operator"] == "and"
    # the canonical names and the surface forms are searched as well as the text
    assert {"persons.text^2", "entities.surface_forms^2", "body", "title^3"} <= set(
        sqs["fields"])
    assert query["bool"]["filter"] == []


def test_empty_text_matches_all_within_filters() -> None:
    query = build_query(" ", SearchFilters(), ALIASES)
    assert query["bool"]["must"] == [{"match_all": {}}]


def test_abbreviation_expands_to_its_canonical_entity() -> None:
    query = build_query("U.S. sanctions", SearchFilters(), ALIASES)
    [must] = query["bool"]["must"]
    as_typed, expanded = must["bool"]["should"]
    assert must["bool"]["minimum_should_match"] == 1
    assert as_typed["simple_query_string"]["query"] == "U.S. sanctions"
    entity, rest = expanded["bool"]["must"]
    assert ("locations", "United States") in terms_in(entity)
    assert {"match_phrase": {"body": "United States"}} in entity["bool"]["should"]
    assert rest["simple_query_string"]["query"] == "sanctions"


def test_full_name_variant_expands_to_the_canonical_person() -> None:
    [must] = build_query('"Vladimir V. Putin"', SearchFilters(), ALIASES)["bool"]["must"]
    _, expanded = must["bool"]["should"]
    [entity] = expanded["bool"]["must"]
    assert ("persons", "Vladimir Putin") in terms_in(entity)


def test_alias_mentions_longest_first_and_cautious() -> None:
    found = alias_mentions("Kim Jong Un meets U.N. envoy in DPRK", ALIASES)
    assert [(m.text, m.canonical, m.category) for m in found] == [
        ("Kim Jong Un", "Kim Jong-un", "person"), ("U.N.", "United Nations", "organization"),
        ("DPRK", "North Korea", "location")]
    # "us" in lower case is a pronoun far more often than the country
    assert alias_mentions("tell us more", ALIASES) == []
    assert [m.canonical for m in alias_mentions("US trade", ALIASES)] == ["United States"]
    # queries with search operators are taken as written
    assert alias_mentions("U.S. | DPRK", ALIASES) == []
    assert alias_mentions("DPRK -sanctions", ALIASES) == []


@pytest.mark.parametrize(("filters", "field", "values"), [
    (SearchFilters(persons=["Vladimir V. Putin"]), "persons", ["Vladimir V. Putin",
                                                               "Vladimir Putin"]),
    (SearchFilters(organizations=["UN"]), "organizations", ["UN", "United Nations"]),
    (SearchFilters(locations=["North Korea"]), "locations", ["North Korea"]),
])
def test_entity_filters_match_canonical_or_surface_form(filters: SearchFilters, field: str,
                                                        values: list[str]) -> None:
    [clause] = build_query("", filters, ALIASES)["bool"]["filter"]
    should = clause["bool"]["should"]
    assert clause["bool"]["minimum_should_match"] == 1
    assert [t for t in terms_in(should) if t[0] == field] == [(field, v) for v in values]
    assert ("entities.surface_forms", values[0]) in terms_in(should)
    assert all(c["term"][n]["case_insensitive"] for c in should for n in c["term"])


def test_each_filter_value_is_its_own_clause() -> None:
    filters = SearchFilters(persons=["Vladimir Putin", "Kim Jong-un"], topics=["politics"],
                            sources=["world.example.org"], languages=["en"])
    clauses = build_query("", filters, ALIASES)["bool"]["filter"]
    assert len(clauses) == 5
    assert ("topic_labels", "politics") in terms_in(clauses[2])
    assert ("topics.code", "politics") in terms_in(clauses[2])
    assert terms_in(clauses[3]) == [("source", "world.example.org")]
    assert terms_in(clauses[4]) == [("language", "en")]


def test_date_range_since_until_naive_means_utc() -> None:
    filters = SearchFilters(since=datetime(2024, 1, 1), until=datetime(2024, 2, 1, 12,
                                                                      tzinfo=UTC))
    [clause] = build_query("", filters, ALIASES)["bool"]["filter"]
    assert clause == {"range": {"published_at": {"gte": "2024-01-01T00:00:00+00:00",
                                                  "lte": "2024-02-01T12:00:00+00:00"}}}


@pytest.mark.parametrize(("order", "first"), [
    ("relevance", "_score"),
    ("newest", {"published_at": {"order": "desc", "missing": "_last"}}),
    ("oldest", {"published_at": {"order": "asc", "missing": "_last"}}),
])
def test_sort_orders_end_with_a_stable_tie_breaker(order: Any, first: Any) -> None:
    sort = build_search_body(SearchRequest("x", sort=order), ALIASES)["sort"]
    assert sort[0] == first and sort[-1] == {"id": "asc"}


def test_paging_and_its_limits() -> None:
    body = build_search_body(SearchRequest("x", page=3, size=20), ALIASES)
    assert (body["from_"], body["size"], body["track_total_hits"]) == (40, 20, True)
    with pytest.raises(ValueError, match="past the first 10000"):
        SearchRequest("x", page=101, size=100)
    with pytest.raises(ValueError, match="page must be"):
        SearchRequest("x", page=0)
    with pytest.raises(ValueError, match="sort must be"):
        SearchRequest("x", sort="random")  # type: ignore[arg-type]


def test_highlights_only_for_a_text_query() -> None:
    body = build_search_body(SearchRequest("Putin"), ALIASES)
    assert set(body["highlight"]["fields"]) == {"title", "summary", "body"}
    assert body["highlight"]["require_field_match"] is False
    assert "highlight" not in build_search_body(SearchRequest(""), ALIASES)
    assert "highlight" not in build_search_body(SearchRequest("x", highlight=False), ALIASES)


def test_collapse_on_cluster_id_counts_distinct_stories() -> None:
    body = build_search_body(SearchRequest("x", collapse=True), ALIASES)
    assert body["collapse"] == {"field": "cluster_id"}
    assert body["aggs"]["clusters"] == {"cardinality": {"field": "cluster_id"}}
    plain = build_search_body(SearchRequest("x"), ALIASES)
    assert "collapse" not in plain and "aggs" not in plain


def test_bodies_are_json() -> None:
    body = build_search_body(SearchRequest("U.S.", SearchFilters(
        persons=["Putin"], since=datetime(2024, 1, 1, tzinfo=UTC)), collapse=True), ALIASES)
    assert json.loads(json.dumps(body)) == body


@pytest.mark.parametrize(("text", "span"), [("24h", timedelta(hours=24)),
                                            ("7d", timedelta(days=7)),
                                            ("90m", timedelta(minutes=90)),
                                            ("2w", timedelta(weeks=2))])
def test_parse_window(text: str, span: timedelta) -> None:
    assert parse_window(text) == span


@pytest.mark.parametrize("text", ["", "0h", "h", "24", "3y", "-1d"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


def test_trending_windows() -> None:
    now = datetime(2024, 6, 20, 12, tzinfo=UTC)
    body = build_trending_body("topics", timedelta(hours=24), 5, now,
                               SearchFilters(languages=["en"]), ALIASES)
    assert body["size"] == 0
    assert body["aggs"]["top"]["terms"] == {"field": "topic_labels", "size": 5}
    ranges = [c["range"] for c in body["query"]["bool"]["filter"] if "range" in c]
    assert ranges == [{"published_at": {"gte": "2024-06-19T12:00:00+00:00",
                                        "lte": "2024-06-20T12:00:00+00:00"}}]
    assert ("language", "en") in terms_in(body["query"])
    before = build_previous_window_body("topics", timedelta(hours=24), now,
                                        ["politics", "sport"], aliases=ALIASES)
    assert before["aggs"]["top"]["terms"]["include"] == ["politics", "sport"]
    [window] = [c["range"] for c in before["query"]["bool"]["filter"] if "range" in c]
    assert window == {"published_at": {"gte": "2024-06-18T12:00:00+00:00",
                                       "lt": "2024-06-19T12:00:00+00:00"}}
    with pytest.raises(ValueError, match="field must be"):
        build_trending_body("keywords", timedelta(hours=1), 5, now, aliases=ALIASES)


def test_rendering_escapes_text_and_marks_matches() -> None:
    from pipeline.display import console, print_search_result, print_trending
    from pipeline.search import Hit, SearchResult, Trending, TrendingRow

    hit = Hit(id="1", score=1.0, title="[red]not markup[/red]", source="s.example",
              published_at="2024-06-19T08:00:00+00:00", language="en", persons=["A"],
              locations=[], organizations=[], topics=["politics"], url="https://s/1",
              highlights={"body": ["said <em>Putin</em> on [Monday]"]})
    with console.capture() as captured:
        print_search_result(SearchResult(total=31, hits=[hit], page=2, size=1, clusters=7))
    text = captured.get()
    assert "[red]not markup[/red]" in text and "Putin" in text and "[Monday]" in text
    assert "<em>" not in text
    assert "31 matching articles; showing 2-2 (page 2); 7 distinct stories" in text

    trend = Trending("persons", timedelta(hours=24), datetime(2024, 6, 20, tzinfo=UTC),
                     datetime(2024, 6, 21, tzinfo=UTC), 12,
                     [TrendingRow("A", 4, 2), TrendingRow("B", 3, 0), TrendingRow("C", 1, 2)])
    with console.capture() as captured:
        print_trending(trend)
    text = captured.get()
    assert "+100%" in text and "new" in text and "-50%" in text
    assert "12 articles published in the window" in text
