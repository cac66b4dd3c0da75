"""The reliability suite's own stack: Kafka and Elasticsearch on other ports and another
state dir than the shared default stack, because these tests stop and restart services.

Environment knobs (all optional):
  NEWSPIPE_RELIABILITY_STATE_DIR   default ~/.local/state/newspipe-reliability
  NEWSPIPE_RELIABILITY_KAFKA_PORT  default 19092 (controller: +1)
  NEWSPIPE_RELIABILITY_ES_PORT     default 19200 (transport: +100)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient

from pipeline import stack as local_stack
from pipeline.provision import provision
from pipeline.settings import Settings
from tests.reliability.harness import Run
from tests.support import drop_indices


def fault_stack_config() -> local_stack.StackConfig:
    kafka_port = int(os.environ.get("NEWSPIPE_RELIABILITY_KAFKA_PORT", "19092"))
    es_port = int(os.environ.get("NEWSPIPE_RELIABILITY_ES_PORT", "19200"))
    state_dir = Path(os.environ.get("NEWSPIPE_RELIABILITY_STATE_DIR",
                                    Path.home() / ".local" / "state" / "newspipe-reliability"))
    return local_stack.StackConfig(state_dir=state_dir, kafka_port=kafka_port,
                                   kafka_controller_port=kafka_port + 1, es_port=es_port,
                                   es_transport_port=es_port + 100)


@pytest.fixture(scope="session")
def fault_stack() -> local_stack.StackConfig:
    cfg = fault_stack_config()
    default = local_stack.StackConfig()
    assert cfg.state_dir.resolve() != default.state_dir.resolve(), \
        "the reliability suite stops services: it must never run on the shared stack"
    assert {cfg.kafka_port, cfg.es_port}.isdisjoint({default.kafka_port, default.es_port})
    local_stack.up(cfg, progress=print)  # idempotent: reuses a running fault stack
    return cfg


@pytest.fixture
def healthy_stack(fault_stack: local_stack.StackConfig) -> local_stack.StackConfig:
    """Every test starts on a healthy stack, even after an earlier test failed mid-fault."""
    for name in local_stack.SERVICE_NAMES:
        local_stack.start_service(fault_stack, name, progress=print)
    return fault_stack


@pytest.fixture
def run(healthy_stack: local_stack.StackConfig, tmp_path: Path,
        request: pytest.FixtureRequest) -> Iterator[Run]:
    current = new_run(healthy_stack, tmp_path, request.node.name)
    yield current
    for service in local_stack.SERVICE_NAMES:  # a failed fault test may have left one down
        local_stack.start_service(healthy_stack, service, progress=print)
    drop_run(current)


def new_run(stack: local_stack.StackConfig, tmp_path: Path, label: str) -> Run:
    """A provisioned run (own topics, indices, state dir); tests sharing one pipeline run
    across a module build theirs with this and drop it with :func:`drop_run`."""
    name = f"rel-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        kafka_bootstrap=local_stack.kafka_bootstrap(stack),
        es_url=local_stack.es_url(stack),
        raw_topic=f"{name}.articles.raw", dead_letter_topic=f"{name}.articles.dlq",
        poller_state_topic=f"{name}.poller.state", consumer_group=f"{name}-enrich",
        es_index=f"{name}-articles", dead_letter_index=f"{name}-dead-letters",
        state_dir=tmp_path / "state",
    )
    # Logs next to the fault stack, not in pytest's tmp dir (rotated after three sessions).
    logs = stack.state_dir / "runs" / f"{name}-{label[:60]}"
    current = Run(name=name, settings=settings, logs=logs)
    provision(settings)
    print(f"\n{label}: run {name}, logs in {current.logs}")
    return current


def drop_run(run: Run) -> None:
    """Delete this run's indices and topics (the fault stack is ours; keep its disk small)."""
    s = run.settings
    with Elasticsearch(**s.es_client_kwargs()) as es:
        drop_indices(es, s)
        es.indices.delete(index=f"{run.name}-feed-health", ignore_unavailable=True)
    admin = KafkaAdminClient(**s.kafka_client_kwargs())
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{run.name}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


@pytest.fixture
def es(run: Run) -> Iterator[Elasticsearch]:
    client = Elasticsearch(**run.settings.es_client_kwargs())
    yield client
    client.close()
