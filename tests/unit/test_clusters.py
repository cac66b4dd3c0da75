"""Cluster assignment (pure) and the candidate search body."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.beam.clusters import (
    Candidate,
    RecentFingerprints,
    assign_cluster,
    assign_clusters,
    candidate_searches,
)
from pipeline.enrichment.neardup import MAX_DISTANCE, band_keys
from pipeline.sinks.backoff import OutageTimeout

BASE = 0x0123456789ABCDEF


def flipped(value: int, bits: int) -> int:
    for bit in range(bits):
        value ^= 1 << (bit * 7 % 64)
    return value


def doc(doc_id: str, value: int | None) -> dict[str, Any]:
    if value is None:
        return {"id": doc_id, "simhash": None, "simhash_bands": []}
    return {"id": doc_id, "simhash": f"{value:016x}", "simhash_bands": band_keys(value)}


def cand(doc_id: str, value: int, cluster: str | None = None) -> Candidate:
    return Candidate(doc_id, f"{value:016x}", cluster or doc_id)


def test_no_candidates_starts_its_own_cluster() -> None:
    assert assign_cluster(doc("a", BASE), []) == "a"


def test_near_duplicate_joins_the_candidates_cluster() -> None:
    assert assign_cluster(doc("b", flipped(BASE, 3)), [cand("a", BASE)]) == "a"
    assert assign_cluster(doc("b", flipped(BASE, MAX_DISTANCE)),
                          [cand("x", BASE, "a")]) == "a"


def test_candidate_beyond_the_threshold_is_ignored() -> None:
    assert assign_cluster(doc("b", flipped(BASE, MAX_DISTANCE + 1)), [cand("a", BASE)]) == "b"


def test_closest_candidate_wins_whatever_the_order() -> None:
    me = flipped(BASE, 4)
    near, nearer = cand("far", BASE, "cluster-far"), cand("near", flipped(BASE, 3), "cluster-near")
    assert assign_cluster(doc("b", me), [near, nearer]) == "cluster-near"
    assert assign_cluster(doc("b", me), [nearer, near]) == "cluster-near"


def test_ties_break_on_the_cluster_id_not_the_order() -> None:
    one, two = cand("x", flipped(BASE, 1), "c2"), cand("y", flipped(BASE, 1), "c1")
    assert assign_cluster(doc("b", BASE), [one, two]) == assign_cluster(doc("b", BASE),
                                                                        [two, one]) == "c1"


def test_redelivery_keeps_the_existing_cluster() -> None:
    # The article finds itself (already indexed in cluster "a") and a closer newcomer:
    # it keeps its cluster, so replays never reshuffle clusters.
    me = flipped(BASE, 2)
    candidates = [cand("b", me, "a"), cand("c", me, "c")]
    assert assign_cluster(doc("b", me), candidates) == "a"
    assert assign_cluster(doc("a", BASE), [cand("a", BASE, "a"), cand("b", me, "a")]) == "a"


def test_without_fingerprint_only_its_own_record_counts() -> None:
    assert assign_cluster(doc("s", None), [cand("a", BASE)]) == "s"
    assert assign_cluster(doc("s", None), [Candidate("s", None, "old")]) == "old"


def test_batch_members_cluster_with_earlier_ones() -> None:
    batch = [doc("a", BASE), doc("b", flipped(BASE, 3)), doc("c", ~BASE & (2**64 - 1)),
             doc("d", flipped(BASE, 5))]
    assert assign_clusters(batch, []) == ["a", "a", "c", "a"]


def test_batch_uses_stored_candidates_and_recent_memory() -> None:
    recent = RecentFingerprints()
    stored = [cand("old", BASE, "old-cluster"), cand("far", ~BASE & (2**64 - 1))]
    batch = [doc("b", flipped(BASE, 2)), doc("x", flipped(~BASE & (2**64 - 1), 1))]
    assert assign_clusters(batch, stored, recent) == ["old-cluster", "far"]
    # A later batch: the index may not show "b" yet (refresh), the worker remembers it.
    assert assign_clusters([doc("c", flipped(BASE, 3))], [], recent) == ["old-cluster"]
    # Re-delivery of "b" in a later batch keeps its cluster.
    assert assign_clusters([doc("b", flipped(BASE, 2))], [], recent) == ["old-cluster"]


def test_recent_memory_is_bounded_and_forgets_the_oldest() -> None:
    recent = RecentFingerprints(capacity=2)
    for i, doc_id in enumerate(["a", "b", "c"]):
        value = flipped(BASE, i)
        recent.add(cand(doc_id, value), band_keys(value))
    assert len(recent) == 2
    found = {c.id for c in recent.matching("z", band_keys(BASE))}
    assert found == {"b", "c"}
    assert [c.id for c in recent.matching("b", [])] == ["b"]


def test_candidate_searches_ask_for_the_batch_itself_and_band_sharers() -> None:
    batch = [doc("a", BASE), doc("b", flipped(BASE, 20)), doc("short", None)]
    by_id, by_band = candidate_searches(batch, max_hits=500)
    assert by_id["query"] == {"ids": {"values": ["a", "b", "short"]}}
    assert by_id["size"] == 3
    assert by_band["size"] == 500 and by_band["track_total_hits"] is False
    assert by_band["sort"][0]["fetched_at"]["order"] == "desc"  # most recent first
    keys = by_band["query"]["terms"]["simhash_bands"]
    assert set(keys) == set(band_keys(BASE)) | set(band_keys(flipped(BASE, 20)))
    assert keys == sorted(set(keys))
    for body in (by_id, by_band):
        assert set(body["_source"]) == {"simhash", "cluster_id"}
    # Nothing to share without fingerprints: only the batch's own records are asked for.
    assert len(candidate_searches([doc("short", None)], max_hits=500)) == 1


# --- the assigner's lookup: outages waited out, other errors degrade -------------------------


class ScriptedClient:
    """msearch answers from a script: an exception is raised, a list is the responses."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0

    def msearch(self, searches: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return {"responses": step}


def assigner(client: ScriptedClient, monkeypatch: Any, **kwargs: Any) -> tuple[Any, list]:
    from pipeline.beam import clusters
    from pipeline.sinks import backoff

    sleeps: list[float] = []
    monkeypatch.setattr(backoff.time, "sleep", sleeps.append)
    return clusters.ClusterAssigner(client, "articles", **kwargs), sleeps


def hits(*candidates: Candidate) -> dict[str, Any]:
    return {"hits": {"hits": [{"_id": c.id, "_source": {"simhash": c.simhash,
                                                        "cluster_id": c.cluster_id}}
                              for c in candidates]}}


def test_outage_is_waited_out_then_the_cluster_found(monkeypatch: Any) -> None:
    from elasticsearch import ConnectionError as ESConnectionError

    old = cand("old", BASE, "cluster-1")
    client = ScriptedClient(ESConnectionError("refused"), ESConnectionError("refused"),
                            [hits(), hits(old)])
    step, sleeps = assigner(client, monkeypatch)
    assert step.assign([doc("new", flipped(BASE, 2))]) == (["cluster-1"], False)
    assert sleeps == [0.5, 1.0] and client.calls == 3


def test_endless_outage_fails_the_bundle(monkeypatch: Any) -> None:
    from elasticsearch import ConnectionError as ESConnectionError

    step, sleeps = assigner(ScriptedClient(ESConnectionError("refused")), monkeypatch,
                            outage_timeout_s=5.0)
    with pytest.raises(OutageTimeout, match="unreachable"):
        step.assign([doc("new", BASE)])
    assert sleeps == [0.5, 1.0, 2.0, 4.0]  # growing backoff until the next wait ends past it


def test_other_lookup_errors_degrade_to_recent_memory(monkeypatch: Any) -> None:
    broken = [{"error": {"type": "search_phase_execution_exception"}, "status": 400}]
    step, _ = assigner(ScriptedClient(broken), monkeypatch, attempts=2)
    assert step.assign([doc("a", BASE)]) == (["a"], True)
    # Found in this worker's memory of recent articles:
    assert step.assign([doc("b", flipped(BASE, 1))]) == (["a"], True)
