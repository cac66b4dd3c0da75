from datetime import UTC, datetime

from pipeline.search import SearchFilters, build_query


def test_free_text_only() -> None:
    query = build_query("Putin", SearchFilters())
    [must] = query["bool"]["must"]
    assert must["simple_query_string"]["query"] == "Putin"
    assert "persons.text^2" in must["simple_query_string"]["fields"]
    assert query["bool"]["filter"] == []


def test_empty_text_matches_all_within_filters() -> None:
    query = build_query(" ", SearchFilters(persons=["Vladimir Putin", "Kim Jong-un"],
                                           locations=["North Korea"], topics=["politics"],
                                           since=datetime(2024, 1, 1, tzinfo=UTC)))
    assert query["bool"]["must"] == [{"match_all": {}}]
    assert query["bool"]["filter"] == [
        {"term": {"persons": "Vladimir Putin"}},
        {"term": {"persons": "Kim Jong-un"}},
        {"term": {"locations": "North Korea"}},
        {"term": {"topic_labels": "politics"}},
        {"range": {"published_at": {"gte": "2024-01-01T00:00:00+00:00"}}},
    ]
