"""Session fixtures: the real local stack (started, or reused when already running).

Each test session gets its own topics and index names, so tests neither see nor disturb
the demo's data on the same stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from pipeline import stack as local_stack
from pipeline.settings import Settings
from tests.support import drop_indices

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def stack_config() -> local_stack.StackConfig:
    cfg = local_stack.StackConfig()
    local_stack.up(cfg, progress=print)  # idempotent: reuses a running stack
    return cfg


@pytest.fixture(scope="session")
def settings(stack_config: local_stack.StackConfig, tmp_path_factory: pytest.TempPathFactory
             ) -> Settings:
    run = uuid.uuid4().hex[:8]
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
    client.close()
