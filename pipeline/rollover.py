"""Article index generations behind one alias, and rolling them over.

Layout: the setting ``es_index`` (default ``news-articles``) names an ALIAS, never an
index. The documents live in generations ``<alias>-000001``, ``<alias>-000002``, ...; the
newest carries the alias with ``is_write_index: true``, older ones carry it read-only, so
readers (search, Kibana's data view) see every generation and writers (the job) hit the
newest. ``pipeline reindex`` builds a new generation and moves the alias in one atomic
``_aliases`` call.

Rollover (a new generation when the write index is old or big enough) happens one of two
ways, detected per cluster:
- ``ilm``: the cluster has index lifecycle management; an ILM policy with a rollover
  action is installed and referenced from the template, Elasticsearch rolls over itself.
- ``rollover-api``: no ILM (the local integ-test node, some managed offerings): ``pipeline
  rollover`` calls ``POST <alias>/_rollover`` with the conditions; run it from cron or a
  Kubernetes CronJob (hourly is plenty); it is a no-op while no condition is met.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch, TransportError

log = logging.getLogger(__name__)

LifecycleMode = Literal["ilm", "rollover-api"]
GENERATION_DIGITS = 6
ILM_POLICY_NAME = "newspipe-articles"


def generation_name(alias: str, number: int) -> str:
    """``news-articles``, 1 -> ``news-articles-000001`` (the rollover API's own scheme, so
    an API rollover of ``...-000007`` names the next one ``...-000008``)."""
    return f"{alias}-{number:0{GENERATION_DIGITS}d}"


def generation_number(alias: str, index: str) -> int | None:
    """The generation number of ``index`` under ``alias``, None if it is not one."""
    match = re.fullmatch(rf"{re.escape(alias)}-(\d{{{GENERATION_DIGITS}}})", index)
    return int(match.group(1)) if match else None


def next_generation(alias: str, existing: list[str]) -> str:
    """The name of the generation after every one in ``existing``."""
    numbers = [n for n in (generation_number(alias, i) for i in existing) if n is not None]
    return generation_name(alias, max(numbers, default=0) + 1)


@dataclass(frozen=True)
class RolloverConditions:
    """When the write index is full: any one condition met triggers a rollover."""

    max_age: str | None = "30d"
    max_docs: int | None = None
    max_primary_shard_size: str | None = "50gb"

    def as_api(self) -> dict[str, Any]:
        """The ``conditions`` body of ``_rollover`` (and of an ILM rollover action)."""
        body: dict[str, Any] = {}
        if self.max_age:
            body["max_age"] = self.max_age
        if self.max_docs is not None:
            body["max_docs"] = self.max_docs
        if self.max_primary_shard_size:
            body["max_primary_shard_size"] = self.max_primary_shard_size
        return body

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_api().items()) or "none"


def ilm_policy(conditions: RolloverConditions) -> dict[str, Any]:
    """The ILM policy body: roll over in the hot phase, keep every generation (deleting
    news is a retention decision for the operator, not a default)."""
    if not conditions.as_api():
        raise ValueError("an ILM rollover policy needs at least one condition")
    return {"phases": {"hot": {"min_age": "0ms",
                               "actions": {"rollover": conditions.as_api()}}},
            "_meta": {"managed_by": "newspipe"}}


def ilm_settings(alias: str) -> dict[str, str]:
    """Index settings that hand a generation to the ILM policy."""
    return {"index.lifecycle.name": ILM_POLICY_NAME, "index.lifecycle.rollover_alias": alias}


def detect_lifecycle_mode(client: Elasticsearch) -> LifecycleMode:
    """``ilm`` when the cluster answers the ILM status API, else ``rollover-api``."""
    try:
        client.ilm.get_status()
    except ApiError as exc:
        if exc.meta.status in (401, 403):
            log.warning("not allowed to read the ILM status (%s): assuming no ILM, roll "
                        "over with `pipeline rollover`", exc.meta.status)
        else:
            log.info("no index lifecycle management on this cluster (%s): rollover via "
                     "API", str(exc)[:120])
        return "rollover-api"
    except TransportError as exc:
        log.info("cannot ask for the ILM status (%s): rollover via API", str(exc)[:120])
        return "rollover-api"
    return "ilm"


def install_ilm_policy(client: Elasticsearch, conditions: RolloverConditions) -> None:
    client.ilm.put_lifecycle(name=ILM_POLICY_NAME, **ilm_policy(conditions))


def alias_indices(client: Elasticsearch, alias: str) -> dict[str, bool]:
    """Indices behind ``alias`` -> whether each is the write index ({} when no alias)."""
    if not client.indices.exists_alias(name=alias):
        return {}
    found = client.indices.get_alias(name=alias)
    return {index: bool(body["aliases"][alias].get("is_write_index", False))
            for index, body in found.items()}


def write_index(client: Elasticsearch, alias: str) -> str | None:
    indices = alias_indices(client, alias)
    writers = [index for index, is_writer in indices.items() if is_writer]
    if writers:
        return writers[0]
    # An alias on exactly one index writes there even without the flag.
    return next(iter(indices)) if len(indices) == 1 else None


@dataclass(frozen=True)
class RolloverResult:
    rolled_over: bool
    old_index: str
    new_index: str
    conditions: dict[str, bool]
    dry_run: bool


def rollover(client: Elasticsearch, alias: str, conditions: RolloverConditions, *,
             dry_run: bool = False) -> RolloverResult:
    """Roll ``alias`` over to a new generation if any condition is met (or always, when
    no condition is given). The template of the alias applies to the new index."""
    # max_docs counts searchable documents: make recent writes count.
    client.indices.refresh(index=alias)
    response = client.indices.rollover(alias=alias, conditions=conditions.as_api() or None,
                                       dry_run=dry_run)
    return RolloverResult(rolled_over=bool(response["rolled_over"]),
                          old_index=response["old_index"], new_index=response["new_index"],
                          conditions=dict(response.get("conditions", {})),
                          dry_run=bool(response.get("dry_run", dry_run)))


def drop_generations(client: Elasticsearch, alias: str) -> list[str]:
    """Delete every generation of ``alias`` (and a plain index of that name): for tests
    and benchmarks that made their own alias. Names are resolved first, because the
    cluster refuses wildcard deletes (``action.destructive_requires_name``)."""
    names = set(alias_indices(client, alias))
    found = client.indices.get(index=f"{alias}-*", allow_no_indices=True,
                               expand_wildcards="open,closed")
    names.update(index for index in found if generation_number(alias, index) is not None)
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        names.add(alias)
    if names:
        client.indices.delete(index=",".join(sorted(names)), ignore_unavailable=True)
    return sorted(names)


def copy_documents(client: Elasticsearch, source: str, dest: str,
                   query: dict[str, Any] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Copy documents (same ids) from ``source`` to ``dest``: the ``_reindex`` API where
    the cluster has it, else scroll + bulk from here (the integ-test node ships without the
    reindex module). Returns the number of documents read and the failures."""
    query = query or {"match_all": {}}
    try:
        result = client.reindex(source={"index": source, "query": query},
                                dest={"index": dest}, wait_for_completion=True, refresh=True)
        return int(result.get("total", 0)), list(result.get("failures", []))
    except ApiError as exc:
        if exc.meta.status not in (400, 404, 405) or "_reindex" not in str(exc):
            raise
        log.info("no _reindex API on this cluster: copying %s -> %s via scroll and bulk",
                 source, dest)
    from elasticsearch import helpers

    read = 0
    failures: list[dict[str, Any]] = []

    def actions() -> Any:
        nonlocal read
        for hit in helpers.scan(client, index=source, query={"query": query}, size=500):
            read += 1
            yield {"_op_type": "index", "_index": dest, "_id": hit["_id"],
                   "_source": hit["_source"]}

    for ok, item in helpers.streaming_bulk(client, actions(), raise_on_error=False,
                                           max_retries=3):
        if not ok:
            error = item.get("index", {})
            failures.append({"id": error.get("_id"), "status": error.get("status"),
                             "cause": error.get("error")})
    client.indices.refresh(index=dest)
    return read, failures
