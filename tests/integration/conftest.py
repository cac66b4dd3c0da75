"""Session fixtures: the real local stack (started, or reused when already running).

Each test session gets its own topics and index names, so tests neither see nor disturb
the demo's data on the same stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline import stack as local_stack
from pipeline.poller.health import HEALTH_TEMPLATE_NAME
from pipeline.settings import Settings
from tests.support import delete_topics_under, drop_indices

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def stack_config() -> local_stack.StackConfig:
    cfg = local_stack.StackConfig()
    local_stack.up(cfg, progress=print)  # idempotent: reuses a running stack
    return cfg


@pytest.fixture(scope="session")
def session_run() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def settings(stack_config: local_stack.StackConfig, tmp_path_factory: pytest.TempPathFactory,
             session_run: str) -> Settings:
    run = session_run
    state_dir: Path = tmp_path_factory.mktemp("state")
    return Settings(
        kafka_bootstrap=local_stack.kafka_bootstrap(stack_config),
        es_url=local_stack.es_url(stack_config),
        # poller-scale: the session's own feed registry, poller state, group, health index
        feed_registry_topic=f"test-{run}.feeds", poller_state_topic=f"test-{run}.poller.state",
        poller_group=f"test-{run}-pollers", feed_health_index=f"test-{run}-feed-health",
        raw_topic=f"test-{run}.articles.raw",
        dead_letter_topic=f"test-{run}.articles.dlq",
        consumer_group=f"test-{run}-enrich",
        es_index=f"test-{run}-articles",
        dead_letter_index=f"test-{run}-dead-letters",
        state_dir=state_dir,
        # poller engine: the test feed servers listen on loopback, refused by default
        poller_allowed_networks=["127.0.0.0/8", "::1/128"],
    )


@pytest.fixture(scope="session")
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(**settings.es_client_kwargs())
    yield client
    drop_indices(client, settings)  # es_index is an alias over generations
    client.indices.delete(index=settings.feed_health_index, ignore_unavailable=True)
    client.options(ignore_status=404).indices.delete_index_template(
        name=f"{HEALTH_TEMPLATE_NAME}.{settings.feed_health_index}")
    client.close()


@pytest.fixture(scope="session", autouse=True)
def own_prefix(settings: Settings, session_run: str) -> Iterator[Callable[[str], str]]:
    """``own_prefix("ops")`` -> ``"ops-1a2b3c4d"``, for the topics a test makes for itself
    (``ops-1a2b3c4d.raw``). When the session ends, the topics under every prefix handed out
    and the session's own (``test-<run>.*``) are deleted: the local stack is reused across
    runs and collected about twenty topics per run."""
    prefixes = [f"test-{session_run}"]

    def make(kind: str) -> str:
        prefixes.append(f"{kind}-{uuid.uuid4().hex[:8]}")
        return prefixes[-1]

    yield make
    delete_topics_under(settings, prefixes)
