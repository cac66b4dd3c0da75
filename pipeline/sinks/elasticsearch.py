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
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch, helpers
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout

from pipeline.rollover import (
    ILM_POLICY_NAME,
    LifecycleMode,
    RolloverConditions,
    alias_indices,
    copy_documents,
    detect_lifecycle_mode,
    generation_name,
    ilm_settings,
    install_ilm_policy,
    write_index,
)
from pipeline.settings import DEPLOY_DIR
from pipeline.sinks.backoff import OutageBackoff

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


def ensure_index(client: Elasticsearch, index: str, template_path: Path = TEMPLATE_PATH,
                 template_name: str = TEMPLATE_NAME, *,
                 language_analysis: bool | None = None) -> None:
    """Install the index template and create the plain index ``index`` if it does not exist
    yet (dead letters, feed health). Articles live behind an alias: see
    :func:`ensure_write_alias`.

    ``language_analysis``: whether the cluster has the ``english`` analyzer; probed when
    not given (callers installing several templates probe once, see ``provision``).
    """
    template = load_template(client, template_path, [f"{index}*"], language_analysis)
    # One template per index name: a second deployment (or a test run) on the same
    # cluster with other index names must not re-point this one's template.
    _drop_legacy_template(client, template_name)
    client.indices.put_index_template(name=f"{template_name}.{index}", **template)
    if not client.indices.exists(index=index):
        _create_quietly(client, index)


def load_template(client: Elasticsearch, template_path: Path, patterns: list[str],
                  language_analysis: bool | None = None) -> dict[str, Any]:
    """A template file with its ``index_patterns`` set, adapted to the cluster's analysis."""
    template = json.loads(template_path.read_text(encoding="utf-8"))
    template["index_patterns"] = patterns
    if language_analysis is None:
        language_analysis = has_language_analyzers(client)
    return template if language_analysis else without_language_analysis(template)


def _create_quietly(client: Elasticsearch, index: str, **body: Any) -> bool:
    """Create ``index``; False when it exists already (e.g. made concurrently by another
    worker)."""
    try:
        client.indices.create(index=index, **body)
    except ApiError as exc:
        if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
            raise
        return False
    return True


# --- the article alias and its generations -------------------------------------------

AliasState = Literal["missing", "alias", "alias-without-writer", "legacy-index"]


def plan_alias_setup(alias_exists: bool, write_index: str | None,
                     index_exists: bool) -> AliasState:
    """What :func:`ensure_write_alias` finds: nothing yet (create generation 1), a healthy
    alias, an alias whose write index is not designated (a broken manual edit: refuse),
    or a concrete index named like the alias (the layout before 0.2: migrate it)."""
    if alias_exists:
        return "alias" if write_index else "alias-without-writer"
    return "legacy-index" if index_exists else "missing"


@dataclass(frozen=True)
class AliasSetup:
    alias: str
    write_index: str
    generations: list[str]
    lifecycle: LifecycleMode
    created: bool = False
    migrated_documents: int | None = None  # set when a legacy index was migrated
    mapping_conflicts: tuple[str, ...] = ()  # generations the new mapping could not reach

    def describe(self) -> str:
        how = ("ILM policy " + ILM_POLICY_NAME if self.lifecycle == "ilm"
               else "rollover API (no ILM on this cluster: run `pipeline rollover` "
                    "from cron)")
        text = (f"alias {self.alias} -> write index {self.write_index} "
                f"({len(self.generations)} generation"
                f"{'' if len(self.generations) == 1 else 's'}); rollover: {how}")
        if self.migrated_documents is not None:
            text += (f"; migrated {self.migrated_documents} documents from the old index "
                     f"{self.alias}")
        if self.mapping_conflicts:
            text += (f"; WARNING: the template's mapping conflicts with "
                     f"{', '.join(self.mapping_conflicts)} (a field changed type or "
                     "analyzer): run `pipeline reindex --from copy`")
        return text


class IndexLayoutError(RuntimeError):
    """The cluster's article indices are in a state we will not touch automatically."""


def articles_template(client: Elasticsearch, alias: str, template_path: Path = TEMPLATE_PATH,
                      *, language_analysis: bool | None = None,
                      lifecycle: LifecycleMode = "rollover-api") -> dict[str, Any]:
    """The article template for every generation of ``alias`` (``<alias>-*``)."""
    template = load_template(client, template_path, [f"{alias}-*"], language_analysis)
    if lifecycle == "ilm":
        template["template"].setdefault("settings", {}).update(ilm_settings(alias))
    return template


def ensure_write_alias(client: Elasticsearch, alias: str, template_path: Path = TEMPLATE_PATH,
                       template_name: str = TEMPLATE_NAME, *,
                       language_analysis: bool | None = None,
                       lifecycle: LifecycleMode | None = None,
                       conditions: RolloverConditions | None = None) -> AliasSetup:
    """Install the articles template (and the ILM policy when the cluster has ILM), then
    make sure ``alias`` exists with a write index: create ``<alias>-000001`` when nothing
    is there, migrate a concrete index named ``alias`` (layout before 0.2) into it."""
    lifecycle = lifecycle or detect_lifecycle_mode(client)
    if lifecycle == "ilm":
        install_ilm_policy(client, conditions or RolloverConditions())
    template = articles_template(client, alias, template_path,
                                 language_analysis=language_analysis, lifecycle=lifecycle)
    _drop_legacy_template(client, template_name)
    client.indices.put_index_template(name=f"{template_name}.{alias}", **template)

    alias_exists = bool(client.indices.exists_alias(name=alias))
    writer = write_index(client, alias) if alias_exists else None
    state = plan_alias_setup(alias_exists, writer,
                             not alias_exists and bool(client.indices.exists(index=alias)))
    created, migrated = False, None
    if state == "alias-without-writer":
        raise IndexLayoutError(
            f"alias {alias} points to {', '.join(alias_indices(client, alias))} but none is "
            "its write index; mark the newest one with POST _aliases "
            f'{{"actions":[{{"add":{{"index":"<newest>","alias":"{alias}",'
            '"is_write_index":true}}]}')
    if state == "missing":
        first = generation_name(alias, 1)
        created = _create_quietly(client, first,
                                  aliases={alias: {"is_write_index": True}})
        if not created and not client.indices.exists_alias(name=alias):
            raise IndexLayoutError(f"{first} exists without the alias {alias}: it is not "
                                   "ours to adopt; delete it or choose another es_index")
    elif state == "legacy-index":
        migrated = migrate_legacy_index(client, alias)
    indices = alias_indices(client, alias)
    conflicts = () if created else update_mappings(client, sorted(indices), template)
    return AliasSetup(alias=alias, write_index=write_index(client, alias) or "",
                      generations=sorted(indices), lifecycle=lifecycle, created=created,
                      migrated_documents=migrated, mapping_conflicts=conflicts)


def update_mappings(client: Elasticsearch, indices: list[str],
                    template: dict[str, Any]) -> tuple[str, ...]:
    """Add the template's new fields to existing generations. A template only shapes
    indices created after it, and with ``dynamic: strict`` the write index would reject
    every document carrying a field added by an upgrade; readers need the fields too
    (sorting or collapsing on a field unmapped in one generation fails). Additions are
    always accepted; a changed type or analyzer is not: those generations are returned
    (a reindex applies the change)."""
    mappings = template["template"].get("mappings", {})
    conflicts = []
    for index in indices:
        try:
            client.indices.put_mapping(index=index, properties=mappings.get("properties", {}))
        except ApiError as exc:
            if exc.meta.status != 400:
                raise
            log.warning("mapping of %s cannot take the template's: %s", index,
                        _error_text(exc.info.get("error") if isinstance(exc.info, dict)
                                    else exc))
            conflicts.append(index)
    return tuple(conflicts)


def migrate_legacy_index(client: Elasticsearch, alias: str) -> int:
    """Move a concrete index named ``alias`` into generation 1 and put the alias in its
    place, atomically. The old index gets a write block first: a job of the previous
    version still writing gets a 403 per document, which its sink sends to the dead-letter
    topic (replay them with ``pipeline dlq replay --stage index``), so nothing is lost
    silently. Counts must match before the old index is removed."""
    legacy, target = alias, generation_name(alias, 1)
    log.warning("%s is a concrete index (layout before 0.2); migrating it to %s behind "
                "the alias %s", legacy, target, alias)
    client.indices.add_block(index=legacy, block="write")
    try:
        client.indices.refresh(index=legacy)
        before = int(client.count(index=legacy)["count"])
        _create_quietly(client, target)
        _, failures = copy_documents(client, legacy, target)
        if failures:
            raise IndexLayoutError(f"migrating {legacy} to {target} failed: "
                                   f"{_error_text(failures[0])}")
        after = int(client.count(index=target)["count"])
        if after != before:
            raise IndexLayoutError(f"migrating {legacy}: {before} documents, {after} copied to "
                                   f"{target}; the old index is kept, nothing was switched")
    except Exception:
        client.indices.put_settings(index=legacy, settings={"index.blocks.write": False})
        raise
    client.indices.update_aliases(actions=[
        {"add": {"index": target, "alias": alias, "is_write_index": True}},
        {"remove_index": {"index": legacy}},
    ])
    return after


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
    """The template for a node with core analysis only: ``english`` -> ``standard``, and
    custom normalizers -> the built-in ``lowercase`` one (``asciifolding`` lives in
    analysis-common too), so keyword matching stays case-insensitive."""
    adapted = json.loads(json.dumps(template))
    adapted["template"]["settings"].pop("analysis", None)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("analyzer") == "english":
                node["analyzer"] = "standard"
            if "normalizer" in node:
                node["normalizer"] = "lowercase"
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(adapted["template"]["mappings"])
    return adapted


class ElasticsearchSink:
    """``require_alias``: refuse to write unless ``index`` is an alias, so a deleted alias
    makes writes fail (and dead-letter) instead of silently auto-creating a concrete index
    under the alias's name. The job writes through the articles alias with it on."""

    def __init__(self, client: Elasticsearch, index: str, *, outage_timeout_s: float = 3600.0,
                 max_backoff_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 require_alias: bool = False):
        self.client = client
        self.index = index
        self.require_alias = require_alias
        self.outage_timeout_s = outage_timeout_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep

    def write(self, documents: Sequence[dict[str, Any]]) -> list[Rejection]:
        """Index ``documents`` (each with an ``id``); return the permanent rejections."""
        pending = {doc["id"]: doc for doc in documents}
        rejections: list[Rejection] = []
        backoff = OutageBackoff(self.outage_timeout_s, max_backoff_s=self.max_backoff_s,
                                sleep=self._sleep)
        while pending:
            try:
                retry, rejected = self._bulk(list(pending.values()))
            except (ESConnectionError, ESConnectionTimeout) as exc:
                retry, rejected = set(pending), []
                log.warning("Elasticsearch unreachable (%s); retrying in %.1fs", exc,
                            backoff.delay)
            rejections.extend(rejected)
            pending = {doc_id: pending[doc_id] for doc_id in retry}
            if pending:
                backoff.pause(f"{len(pending)} documents not indexed after "
                              f"{self.outage_timeout_s:.0f}s of retries")
        return rejections

    def _bulk(self, documents: list[dict[str, Any]]) -> tuple[set[str], list[Rejection]]:
        actions = ({"_op_type": "index", "_index": self.index, "_id": doc["id"], "_source": doc}
                   for doc in documents)
        retry: set[str] = set()
        rejected: list[Rejection] = []
        options: dict[str, Any] = {"require_alias": True} if self.require_alias else {}
        for ok, item in helpers.streaming_bulk(self.client, actions, max_retries=3,
                                               initial_backoff=1, max_backoff=10,
                                               raise_on_error=False, yield_ok=False,
                                               **options):
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
