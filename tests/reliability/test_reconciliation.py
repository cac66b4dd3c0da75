"""The suite's own judges, checked without the stack: reconciliation and early polls."""

from __future__ import annotations

import pytest

from pipeline.kafka.dead_letter import DeadLetter
from tests.reliability.feed_server import FeedServer, Request
from tests.reliability.harness import Reconciliation
from tests.reliability.test_crashes import SETTLE_S, early_polls

pytestmark = pytest.mark.reliability


def letter(key: str) -> DeadLetter:
    return DeadLetter.build(stage="index", reason="HTTP 400", error_type="x", payload=b"{}",
                            key=key.encode())


def test_exact_reconciliation_has_no_problems() -> None:
    result = Reconciliation({"a", "b", "c"}, ["a", "b"], [letter("c")], {"c"}, [])
    assert result.problems() == []


def test_every_kind_of_mismatch_is_reported() -> None:
    result = Reconciliation(expected={"a", "b", "c", "d"}, indexed=["a", "a", "x", "d"],
                            dead=[letter("d"), letter("e")], expected_dead={"c", "d"},
                            mismatched=["a"])
    problems = "\n".join(result.problems())
    assert "1 missing from Elasticsearch, e.g. ['b']" in problems
    assert "1 in Elasticsearch but never served, e.g. ['x']" in problems
    assert "1 indexed more than once, e.g. ['a']" in problems
    assert "1 documents whose id/url/cluster_id do not match" in problems
    assert "1 dead letters not expected, e.g. ['e']" in problems
    assert "1 expected dead letters missing, e.g. ['c']" in problems
    assert "1 expected dead letters that were indexed anyway, e.g. ['d']" in problems


def req(feed: int, started: float, finished: float | None = None,
        status: int = 200) -> Request:
    return Request(f"/feeds/{feed}.xml", feed, status, started,
                   finished if finished is not None else started + 0.1, None)


def test_early_polls_allows_a_repoll_only_for_feeds_in_flight_near_the_crash() -> None:
    killed_at = 100.0
    log = [req(0, 10.0),                                # settled long before: once only
           req(1, killed_at - SETTLE_S / 2),           # ended just before the crash
           req(1, killed_at + 3),                      # ... so it may be polled again
           req(2, killed_at + 4)]                      # first polled after the restart
    assert early_polls(log, killed_at, feeds=3) == []


def test_early_polls_reports_repeats_and_unpolled_feeds() -> None:
    killed_at = 100.0
    log = [req(0, 10.0), req(0, killed_at + 1),        # settled, then polled again
           req(1, 20.0), req(1, 40.0)]                 # twice by the first process
    problems = early_polls(log, killed_at, feeds=3)
    assert any("feed 0 polled again after the restart" in p for p in problems)
    assert any("feed 1 polled 2x before" in p for p in problems)
    assert "feed 2 never polled" in problems


def test_feed_server_serves_known_items_with_etags() -> None:
    import httpx

    with FeedServer("unit", feeds=2, items_per_feed=3, author_every=2) as server:
        first = httpx.get(server.feed_url(0))
        again = httpx.get(server.feed_url(0), headers={"If-None-Match": first.headers["etag"]})
        assert first.status_code == 200 and again.status_code == 304
        assert server.served_ids() == {i.id for i in server.items()[:3]}
        added = server.add_items(per_feed=1, feeds=range(1))
        assert len(added) == 1 and httpx.get(
            server.feed_url(0), headers={"If-None-Match": first.headers["etag"]}
        ).status_code == 200
        assert httpx.get(f"{server.base_url}/feeds/9.xml").status_code == 404
        assert [r.status for r in server.log()] == [200, 304, 200, 404]
    assert sum(1 for item in server.items() if item.author) == 4  # every 2nd of 7 items
    assert b"<dc:creator>" in server.render(0)
