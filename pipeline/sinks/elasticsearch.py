"""Elasticsearch sink: a small class around ``helpers.streaming_bulk``.

Three kinds of failure, three answers:
- 429 / 5xx on single documents: back-pressure; retried (streaming_bulk retries 429 with
  its own backoff, we retry what is left).
- ES unreachable: an outage; the whole batch is retried with capped exponential backoff
  for up to ``outage_timeout_s`` and only then raised, so the runner retries the bundle
  and no Kafka offset is committed for it. Writes are idempotent (``_id`` = article id).
- 4xx on a document (mapping conflict, bad value): permanent; returned as a rejection so
  the job sends it to the dead-letter topic, and the rest of the batch is indexed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout

from pipeline.settings import DEPLOY_DIR

log = logging.getLogger(__name__)

TEMPLATE_PATH = DEPLOY_DIR / "elasticsearch" / "articles-index-template.json"
TEMPLATE_NAME = "newspipe-articles"
DEAD_LETTER_TEMPLATE_PATH = DEPLOY_DIR / "elasticsearch" / "dead-letters-index-template.json"
DEAD_LETTER_TEMPLATE_NAME = "newspipe-dead-letters"
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Rejection:
    doc_id: str
    status: int
    reason: str


class OutageTimeout(RuntimeError):
    """Elasticsearch stayed unreachable longer than the configured outage timeout."""


def ensure_index(client: Elasticsearch, index: str, template_path: Path = TEMPLATE_PATH,
                 template_name: str = TEMPLATE_NAME, *,
                 language_analysis: bool | None = None) -> None:
    """Install the index template and create ``index`` if it does not exist yet.

    ``language_analysis``: whether the cluster has the ``english`` analyzer; probed when
    not given (callers installing several templates probe once, see ``provision``).
    """
    template = json.loads(template_path.read_text(encoding="utf-8"))
    template["index_patterns"] = [f"{index}*"]
    if language_analysis is None:
        language_analysis = has_language_analyzers(client)
    if not language_analysis:
        template = without_language_analysis(template)
    # One template per index name: a second deployment (or a test run) on the same
    # cluster with other index names must not re-point this one's template.
    _drop_legacy_template(client, template_name)
    client.indices.put_index_template(name=f"{template_name}.{index}", **template)
    if not client.indices.exists(index=index):
        try:
            client.indices.create(index=index)
        except ApiError as exc:  # created concurrently by another worker
            if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
                raise


def _drop_legacy_template(client: Elasticsearch, legacy_name: str) -> None:
    """Versions before 0.1 named the template without the index; ES refuses two templates
    with overlapping patterns at one priority, so ours under the old name must go."""
    if not client.indices.exists_index_template(name=legacy_name):
        return
    [existing] = client.indices.get_index_template(name=legacy_name)["index_templates"]
    if existing["index_template"].get("_meta", {}).get("managed_by") == "newspipe":
        log.warning("replacing legacy index template %s with per-index templates",
                    legacy_name)
        client.indices.delete_index_template(name=legacy_name)


def has_language_analyzers(client: Elasticsearch) -> bool:
    """True when every node ships the analysis-common module (english analyzer etc.)."""
    nodes = client.nodes.info(metric="plugins")["nodes"].values()
    available = all(any(m["name"] == "analysis-common" for m in node.get("modules", []))
                    for node in nodes)
    if not available:
        log.warning("this Elasticsearch has no analysis-common module (e.g. the local "
                    "integ-test node): text fields use the standard analyzer, no stemming")
    return available


def without_language_analysis(template: dict[str, Any]) -> dict[str, Any]:
    """The template for a node with core analysis only: ``english`` -> ``standard``, and no
    custom normalizers (their token filters live in analysis-common too)."""
    adapted = json.loads(json.dumps(template))
    adapted["template"]["settings"].pop("analysis", None)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("analyzer") == "english":
                node["analyzer"] = "standard"
            node.pop("normalizer", None)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(adapted["template"]["mappings"])
    return adapted


class ElasticsearchSink:
    def __init__(self, client: Elasticsearch, index: str, *, outage_timeout_s: float = 3600.0,
                 max_backoff_s: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.index = index
        self.outage_timeout_s = outage_timeout_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep

    def write(self, documents: Sequence[dict[str, Any]]) -> list[Rejection]:
        """Index ``documents`` (each with an ``id``); return the permanent rejections."""
        pending = {doc["id"]: doc for doc in documents}
        rejections: list[Rejection] = []
        deadline = time.monotonic() + self.outage_timeout_s
        backoff = 0.5
        while pending:
            try:
                retry, rejected = self._bulk(list(pending.values()))
            except (ESConnectionError, ESConnectionTimeout) as exc:
                retry, rejected = set(pending), []
                log.warning("Elasticsearch unreachable (%s); retrying in %.1fs", exc, backoff)
            rejections.extend(rejected)
            pending = {doc_id: pending[doc_id] for doc_id in retry}
            if not pending:
                break
            if time.monotonic() + backoff > deadline:
                raise OutageTimeout(f"{len(pending)} documents not indexed after "
                                    f"{self.outage_timeout_s:.0f}s of retries")
            self._sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
        return rejections

    def _bulk(self, documents: list[dict[str, Any]]) -> tuple[set[str], list[Rejection]]:
        actions = ({"_op_type": "index", "_index": self.index, "_id": doc["id"], "_source": doc}
                   for doc in documents)
        retry: set[str] = set()
        rejected: list[Rejection] = []
        for ok, item in helpers.streaming_bulk(self.client, actions, max_retries=3,
                                               initial_backoff=1, max_backoff=10,
                                               raise_on_error=False, yield_ok=False):
            if ok:
                continue
            result = item.get("index", {})
            status = int(result.get("status", 0))
            doc_id = str(result.get("_id"))
            if status in _RETRYABLE_STATUS:
                retry.add(doc_id)
            else:
                rejected.append(Rejection(doc_id, status, _error_text(result.get("error"))))
        return retry, rejected


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return reason
    return str(error)
