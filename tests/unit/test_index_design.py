"""Decision logic of the index layout: generation names, rollover conditions and ILM,
what ensure_write_alias does in each state, the reindex swap. Pure: no Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from pipeline.models import Article
from pipeline.models.document import build_document
from pipeline.reindex import (
    article_from_document,
    carry_over_clusters,
    plan_target,
    swap_actions,
)
from pipeline.rollover import (
    ILM_POLICY_NAME,
    RolloverConditions,
    detect_lifecycle_mode,
    generation_name,
    generation_number,
    ilm_policy,
    next_generation,
)
from pipeline.sinks.elasticsearch import articles_template, plan_alias_setup


def test_generation_names_follow_the_rollover_api_scheme() -> None:
    assert generation_name("news-articles", 1) == "news-articles-000001"
    assert generation_number("news-articles", "news-articles-000042") == 42
    assert generation_number("news-articles", "news-articles") is None
    assert generation_number("news-articles", "news-articles-eu-000001") is None
    assert generation_number("news", "news-articles-000001") is None
    assert next_generation("a", []) == "a-000001"
    assert next_generation("a", ["a-000001", "a-000007", "other-000009"]) == "a-000008"


def test_reindex_target_skips_leftovers_of_an_aborted_run() -> None:
    # -000003 exists outside the alias (a refused attempt): the next is -000004
    assert plan_target("a", ["a-000001", "a-000002", "a-000003"]) == "a-000004"


def test_swap_is_one_atomic_request() -> None:
    assert swap_actions("a", ["a-000001", "a-000002"], "a-000003") == [
        {"remove": {"index": "a-000001", "alias": "a"}},
        {"remove": {"index": "a-000002", "alias": "a"}},
        {"add": {"index": "a-000003", "alias": "a", "is_write_index": True}},
    ]


def test_rollover_conditions() -> None:
    assert RolloverConditions().as_api() == {"max_age": "30d",
                                             "max_primary_shard_size": "50gb"}
    custom = RolloverConditions(max_age="1d", max_docs=1000, max_primary_shard_size=None)
    assert custom.as_api() == {"max_age": "1d", "max_docs": 1000}
    assert custom.describe() == "max_age=1d, max_docs=1000"
    assert RolloverConditions(None, None, None).as_api() == {}


def test_ilm_policy_rolls_over_in_the_hot_phase() -> None:
    policy = ilm_policy(RolloverConditions(max_age="7d", max_docs=None,
                                           max_primary_shard_size="10gb"))
    assert policy["phases"]["hot"]["actions"] == {
        "rollover": {"max_age": "7d", "max_primary_shard_size": "10gb"}}
    assert "delete" not in policy["phases"]  # retention is the operator's decision
    with pytest.raises(ValueError, match="at least one condition"):
        ilm_policy(RolloverConditions(None, None, None))


@pytest.mark.parametrize(("mode", "ilm"), [("ilm", True), ("rollover-api", False)])
def test_template_covers_every_generation(mode: Any, ilm: bool) -> None:
    template = articles_template(object(), "news-articles",  # type: ignore[arg-type]
                                 language_analysis=True, lifecycle=mode)
    assert template["index_patterns"] == ["news-articles-*"]
    settings = template["template"]["settings"]
    assert (settings.get("index.lifecycle.name") == ILM_POLICY_NAME) is ilm
    assert (settings.get("index.lifecycle.rollover_alias") == "news-articles") is ilm
    assert template["template"]["mappings"]["properties"]["body"]["analyzer"] == "english"


@pytest.mark.parametrize(("alias_exists", "writer", "index_exists", "state"), [
    (False, None, False, "missing"),
    (True, "a-000002", False, "alias"),
    (True, None, False, "alias-without-writer"),
    (False, None, True, "legacy-index"),
])
def test_what_ensure_write_alias_finds(alias_exists: bool, writer: str | None,
                                       index_exists: bool, state: str) -> None:
    assert plan_alias_setup(alias_exists, writer, index_exists) == state


class _Ilm:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get_status(self) -> dict[str, Any]:
        if self.error:
            raise self.error
        return {"operation_mode": "RUNNING"}


class _Client:
    def __init__(self, error: Exception | None = None) -> None:
        self.ilm = _Ilm(error)


def test_lifecycle_mode_detection() -> None:
    meta = ApiResponseMeta(400, "1.1", HttpHeaders(), 0.0,
                           NodeConfig("http", "localhost", 9200))
    no_handler = ApiError("no handler found for uri [/_ilm/status]", meta, {})
    assert detect_lifecycle_mode(_Client()) == "ilm"  # type: ignore[arg-type]
    assert detect_lifecycle_mode(_Client(no_handler)) == "rollover-api"  # type: ignore[arg-type]


def test_a_stored_document_gives_back_its_article() -> None:
    article = Article.create(url="https://example.org/a?utm_source=x", title="T",
                             feed_url="https://example.org/feed", summary="S",
                             content="<p>Body</p>", authors=["Ann"],
                             published_at=datetime(2024, 1, 2, tzinfo=UTC), guid="g1")
    doc = build_document(article, {"clean_text": "Body"}, datetime.now(UTC))
    again = article_from_document(doc)
    assert (again.id, again.url, again.canonical_url, again.title, again.summary,
            again.content, again.authors, again.published_at, again.fetched_at,
            again.guid, again.source) == (
        article.id, article.url, article.canonical_url, "T", "S", "Body", ["Ann"],
        article.published_at, article.fetched_at, "g1", article.source)


def test_reindex_keeps_the_cluster_an_article_had() -> None:
    documents = [{"id": "a", "cluster_id": "a"}, {"id": "b", "cluster_id": "b"},
                 {"id": "c"}]
    carry_over_clusters(documents, {"a": "x", "c": "y"})
    # a: its old cluster; b: new to the index, its own; c: no such field in this schema
    assert documents == [{"id": "a", "cluster_id": "x"}, {"id": "b", "cluster_id": "b"},
                         {"id": "c"}]
