"""The analysts' side against the real local Elasticsearch (and Kafka for reindex): the
write alias over generations, rollover, the legacy-index migration, every search filter,
trending, and reindex with an atomic alias swap (no loss, no duplicates)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient

from pipeline.cli import cli
from pipeline.enrichment import Enricher
from pipeline.kafka.topics import ensure_topics
from pipeline.models import Article
from pipeline.models.document import build_document
from pipeline.reindex import Reindexer, ReindexError, enrich_articles
from pipeline.rollover import (
    RolloverConditions,
    alias_indices,
    drop_generations,
    generation_name,
    rollover,
)
from pipeline.search import (
    SearchFilters,
    SearchRequest,
    parse_window,
    run_search,
    trending,
)
from pipeline.settings import Settings
from pipeline.sinks.elasticsearch import (
    TEMPLATE_NAME,
    TEMPLATE_PATH,
    ElasticsearchSink,
    ensure_write_alias,
)
from tests.support import produce, synthetic_articles

pytestmark = pytest.mark.integration


@pytest.fixture()
def alias(es: Elasticsearch) -> Iterator[str]:
    """A fresh alias name whose template pattern overlaps no other test's."""
    name = f"an-{uuid.uuid4().hex[:8]}"
    yield name
    drop_generations(es, name)
    es.options(ignore_status=404).indices.delete_index_template(name=f"{TEMPLATE_NAME}.{name}")


def ids_behind(es: Elasticsearch, index: str) -> list[str]:
    es.indices.refresh(index=index)
    response = es.search(index=index, query={"match_all": {}}, size=1000, _source=False)
    return [hit["_id"] for hit in response["hits"]["hits"]]


# --- index design ----------------------------------------------------------------------

def test_write_alias_rollover_and_template_on_every_generation(
        es: Elasticsearch, alias: str, settings: Settings) -> None:
    setup = ensure_write_alias(es, alias)
    assert setup.created and setup.write_index == generation_name(alias, 1)
    assert setup.lifecycle == "rollover-api"  # the integ-test node has no ILM
    assert "rollover API" in setup.describe()
    again = ensure_write_alias(es, alias)  # idempotent
    assert not again.created and again.generations == [generation_name(alias, 1)]

    sink = ElasticsearchSink(es, alias, require_alias=True)
    assert sink.write([{"id": "a", "title": "first"}, {"id": "b", "title": "second"}]) == []
    not_yet = rollover(es, alias, RolloverConditions(max_age=None, max_docs=5,
                                                     max_primary_shard_size=None))
    assert not not_yet.rolled_over
    done = rollover(es, alias, RolloverConditions(max_age=None, max_docs=2,
                                                  max_primary_shard_size=None))
    assert done.rolled_over and done.new_index == generation_name(alias, 2)
    assert alias_indices(es, alias) == {generation_name(alias, 1): False,
                                        generation_name(alias, 2): True}

    assert sink.write([{"id": "c", "title": "third"}]) == []
    assert es.get(index=generation_name(alias, 2), id="c")["found"]
    assert sorted(ids_behind(es, alias)) == ["a", "b", "c"]  # reads see both generations
    for generation in (1, 2):
        name = generation_name(alias, generation)
        mapping = es.indices.get_mapping(index=name)[name]["mappings"]
        assert mapping["dynamic"] == "strict"
        assert mapping["properties"]["persons"]["type"] == "keyword"
        assert mapping["properties"]["entities"]["properties"]["surface_forms"][
            "normalizer"] == "lowercase"
    # a strict mapping rejects an unknown field in the new generation too
    [rejected] = sink.write([{"id": "d", "no_such_field": 1}])
    assert rejected.status == 400 and "strict" in rejected.reason

    # the CLI: dry run, then a forced rollover
    env = {"NEWSPIPE_ES_URL": settings.es_url, "NEWSPIPE_ES_INDEX": alias}
    result = CliRunner().invoke(cli, ["rollover", "--max-docs", "1000"], env=env)
    assert result.exit_code == 0, result.output
    assert "no rollover" in result.output and generation_name(alias, 3) in result.output
    result = CliRunner().invoke(cli, ["rollover", "--now"], env=env)
    assert result.exit_code == 0 and generation_name(alias, 3) in result.output
    assert es.indices.get_alias(name=alias)[generation_name(alias, 3)]["aliases"][alias][
        "is_write_index"]


def test_an_upgraded_template_reaches_existing_generations(
        es: Elasticsearch, alias: str, tmp_path: Path) -> None:
    ensure_write_alias(es, alias)
    template = json.loads(TEMPLATE_PATH.read_text())
    properties = template["template"]["mappings"]["properties"]
    properties["added_by_upgrade"] = {"type": "keyword"}
    upgraded = tmp_path / "articles-index-template.json"
    upgraded.write_text(json.dumps(template))
    setup = ensure_write_alias(es, alias, upgraded)
    assert setup.mapping_conflicts == ()
    first = generation_name(alias, 1)
    assert "added_by_upgrade" in es.indices.get_mapping(index=first)[first]["mappings"][
        "properties"]
    # the strict write index now takes the new field
    assert ElasticsearchSink(es, alias).write([{"id": "n", "added_by_upgrade": "x"}]) == []

    properties["source"] = {"type": "text"}  # a type change: only a reindex applies it
    upgraded.write_text(json.dumps(template))
    conflicted = ensure_write_alias(es, alias, upgraded)
    assert conflicted.mapping_conflicts == (first,)
    assert "pipeline reindex --from copy" in conflicted.describe()


def test_sink_requiring_an_alias_does_not_create_an_index(es: Elasticsearch,
                                                          alias: str) -> None:
    [rejection] = ElasticsearchSink(es, alias, require_alias=True).write([{"id": "x"}])
    assert rejection.status == 404
    assert not es.indices.exists(index=alias)


def test_an_index_of_the_old_layout_is_migrated_behind_the_alias(
        es: Elasticsearch, alias: str) -> None:
    es.indices.create(index=alias)  # version 0.1: a concrete index named like the alias
    for number in range(5):
        es.index(index=alias, id=f"old-{number}", document={"id": f"old-{number}",
                                                            "title": f"story {number}"})
    setup = ensure_write_alias(es, alias)
    assert setup.migrated_documents == 5
    assert alias_indices(es, alias) == {generation_name(alias, 1): True}
    assert sorted(ids_behind(es, alias)) == [f"old-{n}" for n in range(5)]
    assert "migrated 5 documents" in setup.describe()


# --- search ------------------------------------------------------------------------------

def _document(slug: str, title: str, body: str, published: str, *,
              persons: list[tuple[str, list[str]]] = (),  # type: ignore[assignment]
              organizations: list[tuple[str, list[str]]] = (),  # type: ignore[assignment]
              locations: list[tuple[str, list[str]]] = (),  # type: ignore[assignment]
              topics: list[str] = (),  # type: ignore[assignment]
              language: str = "en", host: str = "world.example.org",
              cluster: str | None = None) -> dict[str, Any]:
    article = Article.create(url=f"https://{host}/{slug}", title=title,
                             feed_url=f"https://{host}/feed.xml",
                             published_at=datetime.fromisoformat(published))

    def records(entries: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
        return [{"canonical": name, "surface_forms": forms, "count": len(forms),
                 "first_offset": 0} for name, forms in entries]

    enrichment = {"clean_text": body, "language": language, "language_confidence": 0.99,
                  "persons": records(list(persons)),
                  "organizations": records(list(organizations)),
                  "locations": records(list(locations)),
                  "topics": [{"code": f"medtop:{n}", "label": label, "score": 1.0}
                             for n, label in enumerate(topics)],
                  "enrichment_version": "test"}
    doc = build_document(article, enrichment, datetime.now(UTC))
    doc["cluster_id"] = cluster or doc["id"]
    return doc


CORPUS = {
    "full-name": _document(
        "full-name", "Vladimir V. Putin lands in Pyongyang",
        "Vladimir V. Putin arrived in North Korea for talks with Kim Jong Un.",
        "2024-06-19T08:00:00+00:00",
        persons=[("Vladimir Putin", ["Vladimir V. Putin"]), ("Kim Jong-un", ["Kim Jong Un"])],
        locations=[("North Korea", ["North Korea"])], topics=["politics"], cluster="visit"),
    "surname": _document(
        "surname", "Kremlin leader signs pact", "Putin said the pact was a breakthrough.",
        "2024-06-20T09:00:00+00:00", persons=[("Vladimir Putin", ["Putin"])],
        locations=[("North Korea", ["Pyongyang"])], topics=["politics"],
        host="other.example.com", cluster="visit"),
    "abbreviation": _document(
        "abbreviation", "Treasury widens sanctions",
        "The U.S. Treasury added ten companies to its list.", "2024-06-20T12:00:00+00:00",
        organizations=[("U.S. Treasury", ["U.S. Treasury"])],
        locations=[("United States", ["U.S."])], topics=["economy"]),
    "spelled-out": _document(
        "spelled-out", "Washington répond", "Les United States ont répondu lundi.",
        "2024-06-21T07:00:00+00:00", locations=[("United States", ["United States"])],
        topics=["politics"], language="fr", host="monde.example.fr"),
    "sport": _document(
        "sport", "Kipyegon wins again", "Faith Kipyegon won the 1500m in Paris.",
        "2024-06-25T18:00:00+00:00", persons=[("Faith Kipyegon", ["Faith Kipyegon"])],
        locations=[("Paris", ["Paris"])], topics=["sport"]),
}
NOW = datetime(2024, 6, 21, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus(es: Elasticsearch) -> Iterator[str]:
    name = f"an-search-{uuid.uuid4().hex[:6]}"
    ensure_write_alias(es, name)
    es.indices.put_mapping(index=name, properties={"cluster_id": {"type": "keyword"}})
    assert ElasticsearchSink(es, name, require_alias=True).write(list(CORPUS.values())) == []
    es.indices.refresh(index=name)
    yield name
    drop_generations(es, name)
    es.options(ignore_status=404).indices.delete_index_template(name=f"{TEMPLATE_NAME}.{name}")


def found(es: Elasticsearch, index: str, text: str = "", **options: Any) -> list[str]:
    filters = SearchFilters(**{k: v for k, v in options.items()
                               if k in SearchFilters.__dataclass_fields__})
    request = SearchRequest(text, filters, **{k: v for k, v in options.items()
                                              if k in ("sort", "page", "size", "collapse")})
    by_id = {doc["id"]: slug for slug, doc in CORPUS.items()}
    return [by_id[hit.id] for hit in run_search(es, index, request).hits]


def test_names_match_under_any_spelling(es: Elasticsearch, corpus: str) -> None:
    assert set(found(es, corpus, "Putin")) == {"full-name", "surname"}
    assert set(found(es, corpus, "Vladimir V. Putin")) == {"full-name", "surname"}
    assert set(found(es, corpus, "U.S.")) == {"abbreviation", "spelled-out"}
    assert set(found(es, corpus, "United States")) == {"abbreviation", "spelled-out"}
    assert set(found(es, corpus, "DPRK")) == {"full-name", "surname"}


def test_every_filter(es: Elasticsearch, corpus: str) -> None:
    assert set(found(es, corpus, persons=["vladimir putin"])) == {"full-name", "surname"}
    assert set(found(es, corpus, persons=["Vladimir V. Putin"])) == {"full-name", "surname"}
    assert found(es, corpus, persons=["putin"]) == ["surname"]  # a surface form
    assert found(es, corpus, persons=["Vladimir Putin", "Kim Jong-un"]) == ["full-name"]
    assert found(es, corpus, organizations=["u.s. treasury"]) == ["abbreviation"]
    assert set(found(es, corpus, locations=["U.S."])) == {"abbreviation", "spelled-out"}
    assert set(found(es, corpus, locations=["pyongyang"])) == {"surname"}
    assert found(es, corpus, topics=["Sport"]) == ["sport"]
    assert found(es, corpus, topics=["medtop:0"], persons=["Faith Kipyegon"]) == ["sport"]
    assert found(es, corpus, sources=["other.example.com"]) == ["surname"]
    assert found(es, corpus, languages=["fr"]) == ["spelled-out"]
    assert set(found(es, corpus, since=datetime(2024, 6, 20, 10), sort="oldest")) == {
        "abbreviation", "spelled-out", "sport"}
    assert found(es, corpus, since=datetime(2024, 6, 20), until=datetime(2024, 6, 20, 23),
                 sort="oldest") == ["surname", "abbreviation"]
    assert found(es, corpus, "Putin", sources=["world.example.org"]) == ["full-name"]


def test_sort_paging_highlight_collapse(es: Elasticsearch, corpus: str) -> None:
    newest = found(es, corpus, sort="newest", size=10)
    assert newest == ["sport", "spelled-out", "abbreviation", "surname", "full-name"]
    assert found(es, corpus, sort="oldest") == list(reversed(newest))
    pages = [found(es, corpus, sort="newest", page=page, size=2) for page in (1, 2, 3)]
    assert pages == [newest[0:2], newest[2:4], newest[4:5]]

    result = run_search(es, corpus, SearchRequest("Putin"))
    marked = [f for hit in result.hits for f in hit.highlights.get("body", [])]
    assert any("<em>Putin</em>" in fragment for fragment in marked)

    collapsed = run_search(es, corpus, SearchRequest("", SearchFilters(
        persons=["Vladimir Putin"]), collapse=True))
    assert collapsed.total == 2 and len(collapsed.hits) == 1 and collapsed.clusters == 1


def test_trending_counts_the_window_and_the_one_before(es: Elasticsearch,
                                                       corpus: str) -> None:
    trend = trending(es, corpus, "locations", parse_window("2d"), top=5, now=NOW)
    counts = {row.value: (row.count, row.previous) for row in trend.rows}
    # window 2024-06-19T12 .. 06-21T12: surname, abbreviation, spelled-out
    assert trend.articles == 3
    assert counts == {"United States": (2, 0), "North Korea": (1, 1)}
    topics = trending(es, corpus, "topics", parse_window("2d"), top=1, now=NOW)
    assert [(r.value, r.count) for r in topics.rows] == [("politics", 2)]


def test_search_and_trending_commands(es: Elasticsearch, corpus: str,
                                      settings: Settings) -> None:
    env = {"NEWSPIPE_ES_URL": settings.es_url, "NEWSPIPE_ES_INDEX": corpus}
    result = CliRunner().invoke(cli, ["search", "U.S.", "--sort", "newest", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"Washington répond"' in result.output.splitlines()[0]
    result = CliRunner().invoke(cli, ["search", "Putin", "--collapse"], env=env)
    assert result.exit_code == 0 and "1 distinct stories" in result.output
    result = CliRunner().invoke(cli, ["trending", "--window", "3650d", "--field", "persons"],
                                env=env)
    assert result.exit_code == 0 and "Vladimir Putin" in result.output
    result = CliRunner().invoke(cli, ["trending", "--window", "soon"], env=env)
    assert result.exit_code == 2 and "window" in result.output


# --- reindex -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher.load()


def _index_like_the_job(es: Elasticsearch, index: str, enricher: Enricher,
                        articles: list[Article]) -> None:
    documents, failed = enrich_articles(enricher, articles)
    assert not failed
    stamped = [{**d, "indexed_at": datetime.now(UTC).isoformat()} for d in documents]
    assert ElasticsearchSink(es, index, require_alias=True).write(stamped) == []


@pytest.fixture()
def reindex_settings(settings: Settings, alias: str) -> Iterator[Settings]:
    own = settings.with_overrides(raw_topic=f"an-{uuid.uuid4().hex[:6]}.raw", es_index=alias)
    ensure_topics(own)
    yield own
    admin = KafkaAdminClient(**own.kafka_client_kwargs())
    try:
        admin.delete_topics([own.raw_topic])
    finally:
        admin.close()


def test_reindex_from_the_topic_swaps_the_alias_without_loss_or_duplicates(
        es: Elasticsearch, reindex_settings: Settings, enricher: Enricher) -> None:
    alias = reindex_settings.es_index
    ensure_write_alias(es, alias)
    articles = synthetic_articles(12, uuid.uuid4().hex[:6])
    produce(reindex_settings, articles[:8])
    _index_like_the_job(es, alias, enricher, articles[:5])
    rollover(es, alias, RolloverConditions(None, None, None))  # two old generations
    _index_like_the_job(es, alias, enricher, articles[5:8])
    # an article re-polled with an update: two messages, one document
    produce(reindex_settings, [articles[0]])

    def meanwhile() -> None:  # the job keeps working while the new generation fills
        produce(reindex_settings, articles[8:])
        _index_like_the_job(es, alias, enricher, articles[8:])

    reindexer = Reindexer(es, alias, "topic", kafka=reindex_settings.kafka_client_kwargs(),
                          raw_topic=reindex_settings.raw_topic,
                          enricher_factory=lambda: enricher, batch_size=4)
    report = reindexer.run(before_catch_up=meanwhile)
    assert report.swapped and report.target == generation_name(alias, 3)
    assert report.old_indices == [generation_name(alias, 1), generation_name(alias, 2)]
    assert report.count_before == report.count_after == 12
    assert report.read == 13 and not report.rejected and not report.enrich_failures
    assert alias_indices(es, alias) == {report.target: True}
    ids = ids_behind(es, alias)
    assert sorted(ids) == sorted(a.id for a in articles)  # nothing lost, nothing twice
    assert es.indices.exists(index=generation_name(alias, 1))  # kept, outside the alias
    # the job writes through the alias: now into the new generation
    extra = synthetic_articles(1, uuid.uuid4().hex[:6])
    _index_like_the_job(es, alias, enricher, extra)
    assert es.get(index=report.target, id=extra[0].id)["found"]


def test_reindex_refuses_to_swap_on_a_count_mismatch(
        es: Elasticsearch, reindex_settings: Settings, enricher: Enricher) -> None:
    alias = reindex_settings.es_index
    ensure_write_alias(es, alias)
    articles = synthetic_articles(4, uuid.uuid4().hex[:6])
    produce(reindex_settings, articles[:3])
    # one article is in the index but no longer on the raw topic (retention)
    _index_like_the_job(es, alias, enricher, articles)
    reindexer = Reindexer(es, alias, "topic", kafka=reindex_settings.kafka_client_kwargs(),
                          raw_topic=reindex_settings.raw_topic,
                          enricher_factory=lambda: enricher)
    with pytest.raises(ReindexError, match="counts differ: 4 .* 3 .*NOT moved") as failure:
        reindexer.run()
    assert articles[3].id in str(failure.value) and "--from index" in str(failure.value)
    assert alias_indices(es, alias) == {generation_name(alias, 1): True}

    # from the stored documents instead: every article, re-enriched
    report = Reindexer(es, alias, "index", enricher_factory=lambda: enricher).run(
        delete_old=True)
    assert report.count_before == report.count_after == 4 and report.deleted_old
    assert report.target == generation_name(alias, 3)  # -000002 is the refused attempt
    stored = es.get(index=alias, id=articles[0].id)["_source"]
    assert stored["persons"] and stored["enrichment_version"]
    assert not es.indices.exists(index=generation_name(alias, 1))


def test_reindex_command_copy_mode(es: Elasticsearch, reindex_settings: Settings,
                                   enricher: Enricher) -> None:
    alias = reindex_settings.es_index
    ensure_write_alias(es, alias)
    articles = synthetic_articles(3, uuid.uuid4().hex[:6])
    _index_like_the_job(es, alias, enricher, articles)
    env = {"NEWSPIPE_ES_URL": reindex_settings.es_url, "NEWSPIPE_ES_INDEX": alias,
           "NEWSPIPE_KAFKA_BOOTSTRAP": reindex_settings.kafka_bootstrap,
           "NEWSPIPE_RAW_TOPIC": reindex_settings.raw_topic}
    result = CliRunner().invoke(cli, ["reindex", "--from", "copy"], env=env)
    assert result.exit_code == 0, result.output
    assert "counts: 3 before, 3 after: match" in result.output
    assert alias_indices(es, alias) == {generation_name(alias, 2): True}
    assert sorted(ids_behind(es, alias)) == sorted(a.id for a in articles)
