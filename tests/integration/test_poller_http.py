"""The polling engine against a real local HTTP server and the real Kafka broker.

The server records every request, so these tests assert the exact request pattern a
publisher would see: conditional GETs, Retry-After, per-host spacing, redirects, 410,
slow and hostile responses. What reached Kafka is read back from the topic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import brotli
import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.kafka.producer import ArticlePublisher
from pipeline.kafka.topics import ensure_topics
from pipeline.poller.feeds import FeedSource
from pipeline.poller.fetch import Fetcher, FetchPolicy
from pipeline.poller.poller import AsyncPoller, PollPolicy, PollReport
from pipeline.poller.schedule import SchedulePolicy
from pipeline.poller.state import PollerState
from pipeline.settings import Settings
from tests.integration.poller_server import RecordingServer, Reply, Seen, rss

pytestmark = pytest.mark.integration

CONTACT = "https://ops.example.org/newspipe-contact"


@pytest.fixture()
def topic_settings(settings: Settings, own_prefix: Callable[[str], str]) -> Settings:
    own = settings.with_overrides(raw_topic=f"{own_prefix('poller-http')}.raw",
                                  poller_contact_url=CONTACT)
    ensure_topics(own)
    return own


@pytest.fixture()
def server() -> Iterator[RecordingServer]:
    with RecordingServer("127.0.0.1") as running:
        yield running


def topic_keys(settings: Settings, timeout_s: float = 60) -> list[str]:
    """Every key on the topic: read each partition up to its current end offset."""
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), enable_auto_commit=False,
                             group_id=None)
    try:
        partitions = [TopicPartition(settings.raw_topic, p)
                      for p in sorted(consumer.partitions_for_topic(settings.raw_topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        keys: list[str] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "topic not readable to its end"
            for records in consumer.poll(timeout_ms=500).values():
                keys.extend(record.key.decode() for record in records)
        return keys
    finally:
        consumer.close()


class Harness:
    """One poller (file state, real publisher) whose passes the tests drive."""

    def __init__(self, settings: Settings, state_path: Path, **fetch: Any):
        self.settings = settings
        self.store = PollerState(state_path)
        self.fetch_policy = FetchPolicy.from_settings(
            settings, **{"per_host_interval_s": 0.0, "total_timeout_s": 5.0, **fetch})
        self.schedule = SchedulePolicy(min_interval_s=0.2, max_interval_s=3.0,
                                       default_interval_s=0.5, redirect_confirmations=3,
                                       retire_after_failures=5, jitter=0.0)
        self.publisher = ArticlePublisher(settings.kafka_client_kwargs(), settings.raw_topic)

    def close(self) -> None:
        self.publisher.close()

    def _poller(self, fetcher: Fetcher) -> AsyncPoller:
        return AsyncPoller(fetcher, self.publisher, self.store,
                           PollPolicy(schedule=self.schedule))

    def poll(self, feeds: list[FeedSource], force: bool = True) -> PollReport:
        async def run() -> PollReport:
            async with Fetcher(self.fetch_policy) as fetcher:
                return await self._poller(fetcher).poll_due(
                    feeds, now=float("inf") if force else None)
        return asyncio.run(run())

    def run_for(self, feeds: list[FeedSource], seconds: float) -> list[PollReport]:
        reports: list[PollReport] = []

        async def run() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(seconds, stop.set)
            async with Fetcher(self.fetch_policy) as fetcher:
                await self._poller(fetcher).run_forever(lambda: feeds, stop,
                                                        on_pass=reports.append,
                                                        max_sleep_s=0.1)
        asyncio.run(run())
        return reports


@pytest.fixture()
def harness(topic_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    running = Harness(topic_settings, tmp_path / "state.json")
    yield running
    running.close()


def conditional(body: bytes, etag: str, last_modified: str) -> Any:
    def reply(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == etag:
            return Reply(304, headers={"ETag": etag})
        return Reply(200, body, {"ETag": etag, "Last-Modified": last_modified,
                                 "Content-Type": "application/rss+xml"})
    return reply


def test_second_poll_is_conditional_gets_304_and_produces_nothing(
        server: RecordingServer, harness: Harness, topic_settings: Settings) -> None:
    lm = "Mon, 01 Sep 2025 10:00:00 GMT"
    url = server.route("/a.rss", conditional(rss("a"), '"a-v1"', lm))
    first = harness.poll([FeedSource(url)])
    assert [(o.status, o.new_articles) for o in first.outcomes] == [("ok", 3)]
    second = harness.poll([FeedSource(url)])
    assert [(o.status, o.http_status, o.new_articles) for o in second.outcomes] == [
        ("not_modified", 304, 0)]
    requests = server.hits("/a.rss")
    assert len(requests) == 2
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == '"a-v1"'
    assert requests[1].headers["if-modified-since"] == lm
    keys = topic_keys(topic_settings)
    assert len(keys) == 3 and set(keys) == set(first.sent_ids)


def test_identifiable_user_agent_and_brotli(server: RecordingServer, harness: Harness) -> None:
    url = server.route("/br.rss", Reply(200, brotli.compress(rss("br")),
                                        {"Content-Encoding": "br"}))
    [outcome] = harness.poll([FeedSource(url)]).outcomes
    assert (outcome.status, outcome.new_articles) == ("ok", 3)
    [seen] = server.hits("/br.rss")
    assert seen.headers["user-agent"].startswith("newspipe/")
    assert CONTACT in seen.headers["user-agent"]
    assert "br" in seen.headers["accept-encoding"] and "gzip" in seen.headers["accept-encoding"]


def test_retry_after_is_respected(server: RecordingServer, harness: Harness) -> None:
    calls = {"n": 0}

    def busy_then_fine(_seen: Seen) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(503, b"busy", {"Retry-After": "2"})
        return Reply(200, rss("busy"))

    url = server.route("/busy.rss", busy_then_fine)
    harness.run_for([FeedSource(url)], 3.5)
    requests = server.hits("/busy.rss")
    assert len(requests) >= 2
    # Nothing between the 503 and the time it named; the floor (0.2 s) alone would allow it.
    assert requests[1].at - requests[0].at >= 2.0 - 0.05
    state = harness.store.get(url)
    assert state.last_status in ("ok", "not_modified") and state.consecutive_failures == 0


def test_429_with_http_date_retry_after(server: RecordingServer, harness: Harness) -> None:
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    url = server.route("/limited.rss", Reply(429, b"slow down", {"Retry-After": later}))
    [outcome] = harness.poll([FeedSource(url)]).outcomes
    assert (outcome.status, outcome.error_class) == ("error", "http_429")
    assert outcome.next_poll_at is not None
    # Clamped by the ceiling (3 s in this harness), not the 60 s the server asked.
    assert outcome.next_poll_at - time.time() == pytest.approx(3.0, abs=0.5)
    not_yet = harness.poll([FeedSource(url)], force=False)
    assert (not_yet.outcomes, not_yet.not_due) == ([], 1)
    assert len(server.hits("/limited.rss")) == 1


SPACING, SLACK = 0.8, 0.25


def test_per_host_spacing_holds_and_other_hosts_are_not_held_up(
        topic_settings: Settings, tmp_path: Path) -> None:
    with RecordingServer("127.0.0.1") as one, RecordingServer("127.0.0.2") as two:
        feeds = [FeedSource(one.route(f"/h1-{i}.rss", Reply(200, rss(f"h1-{i}"))))
                 for i in range(5)]
        feeds += [FeedSource(two.route(f"/h2-{i}.rss", Reply(200, rss(f"h2-{i}"))))
                  for i in range(5)]
        harness = Harness(topic_settings, tmp_path / "s.json", per_host_interval_s=SPACING,
                          per_host_concurrency=2, concurrency=10)
        try:
            report = harness.poll(feeds)
        finally:
            harness.close()
        assert {o.status for o in report.outcomes} == {"ok"}
        for host in (one, two):
            starts = sorted(r.at for r in host.requests)
            assert len(starts) == 5
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
            # Spacing is between request starts; the server sees arrivals, which also carry
            # connection setup (first request) and thread scheduling on a busy machine.
            assert starts[-1] - starts[0] >= 4 * SPACING - SLACK, gaps
            assert min(gaps) >= SPACING - SLACK, gaps
        # The two hosts were polled side by side, not one after the other.
        assert min(r.at for r in two.requests) < max(r.at for r in one.requests)


def test_410_gone_retires_the_feed(server: RecordingServer, harness: Harness) -> None:
    url = server.route("/gone.rss", Reply(410, b"gone"))
    [outcome] = harness.poll([FeedSource(url)]).outcomes
    assert outcome.status == "retired"
    assert outcome.retired_reason and "410" in outcome.retired_reason
    again = harness.poll([FeedSource(url)])  # even when forced
    assert (again.outcomes, again.retired) == ([], 1)
    assert len(server.hits("/gone.rss")) == 1
    state = harness.store.get(url)
    assert state.retired and state.last_error_class == "http_410"


def test_permanent_redirect_moves_after_k_polls_temporary_never(
        server: RecordingServer, harness: Harness) -> None:
    new = server.route("/new.rss", Reply(200, rss("moved")))
    old = server.route("/old.rss", Reply(301, headers={"Location": "/new.rss"}))
    server.route("/temp-target.rss", Reply(200, rss("temp")))
    temp = server.route("/temp.rss", Reply(302, headers={"Location": "/temp-target.rss"}))
    feeds = [FeedSource(old), FeedSource(temp)]
    moves = [[o.moved_to for o in harness.poll(feeds).outcomes if o.url == old][0]
             for _ in range(4)]
    assert moves == [None, None, new, None]
    assert len(server.hits("/old.rss")) == 3  # the 4th poll went straight to the new URL
    assert len(server.hits("/new.rss")) == 4
    assert len(server.hits("/temp.rss")) == 4  # 302: always asked at the original URL
    assert harness.store.get(old).current_url == new
    assert harness.store.get(temp).current_url is None


def test_slowloris_times_out_and_other_feeds_are_unaffected(
        topic_settings: Settings, tmp_path: Path) -> None:
    with RecordingServer("127.0.0.1") as server:
        slow = server.route("/slow.rss", Reply(200, rss("slow"), trickle_bytes=10,
                                               trickle_pause_s=0.2))
        fine = [FeedSource(server.route(f"/ok-{i}.rss", Reply(200, rss(f"ok-{i}"))))
                for i in range(3)]
        # Every single read arrives well within the read timeout: only the total
        # deadline can stop this response.
        harness = Harness(topic_settings, tmp_path / "s.json", total_timeout_s=1.5,
                          read_timeout_s=1.0)
        try:
            started = time.monotonic()
            report = harness.poll([FeedSource(slow), *fine])
            took = time.monotonic() - started
        finally:
            harness.close()
    by_url = {o.url: o for o in report.outcomes}
    assert (by_url[slow].status, by_url[slow].error_class) == ("error", "timeout")
    assert all(by_url[f.url].status == "ok" and by_url[f.url].new_articles == 3 for f in fine)
    assert took < 10  # generous: the trickle alone would take a minute


def test_huge_and_hostile_responses_get_specific_reasons(
        server: RecordingServer, topic_settings: Settings, tmp_path: Path) -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
            "<title>&j;</title></channel></rss>").encode()
    routes = {
        "/endless.rss": Reply(200, endless_chunk=b"<item>" + b"x" * 65536),
        "/liar.rss": Reply(200, rss("liar"), {"Content-Length": str(50 * 1024 * 1024)}),
        "/bomb.rss": Reply(200, bomb),
        "/page.html": Reply(200, b"<!DOCTYPE html><html><body>Home</body></html>",
                            {"Content-Type": "text/html"}),
        "/loop-a.rss": Reply(301, headers={"Location": "/loop-b.rss"}),
        "/js.rss": Reply(200, rss("js").replace(b"https://news.example/js/0",
                                                b"javascript:alert(1)")),
        "/good.rss": Reply(200, rss("good")),
    }
    feeds = [FeedSource(server.route(path, reply)) for path, reply in routes.items()]
    server.route("/loop-b.rss", Reply(302, headers={"Location": "/loop-a.rss"}))
    harness = Harness(topic_settings, tmp_path / "s.json", max_bytes=1024 * 1024)
    try:
        report = harness.poll(feeds)
    finally:
        harness.close()
    got = {o.url.rsplit("/", 1)[1]: (o.status, o.error_class, o.new_articles)
           for o in report.outcomes}
    assert got == {
        "endless.rss": ("error", "too_large", 0),
        "liar.rss": ("error", "too_large", 0),
        "bomb.rss": ("error", "entity_declarations", 0),
        "page.html": ("error", "html_not_feed", 0),
        "loop-a.rss": ("error", "redirect_loop", 0),
        "js.rss": ("ok", None, 2),
        "good.rss": ("ok", None, 3),
    }
    state = harness.store.get(server.url("/bomb.rss"))
    assert state.last_error_class == "entity_declarations" and state.consecutive_failures == 1
    js = [o for o in report.outcomes if o.url.endswith("/js.rss")][0]
    assert js.skipped == ["item #1: link with scheme 'javascript' refused"]
    assert sorted(topic_keys(topic_settings)) == sorted(report.sent_ids)


def test_redirect_into_a_forbidden_network_is_refused(
        topic_settings: Settings, tmp_path: Path) -> None:
    with RecordingServer("127.0.0.1") as public, RecordingServer("127.0.0.2") as internal:
        secret = internal.route("/secret", Reply(200, rss("secret")))
        start = public.route("/feed.rss", Reply(302, headers={"Location": secret}))
        only_first = topic_settings.with_overrides(poller_allowed_networks=["127.0.0.1/32"])
        harness = Harness(only_first, tmp_path / "s.json")
        try:
            [outcome] = harness.poll([FeedSource(start)]).outcomes
        finally:
            harness.close()
        assert (outcome.status, outcome.error_class) == ("error", "blocked_address")
        assert "127.0.0.2" in (outcome.error or "")
        assert internal.requests == []  # the connection was never made


def test_policy_replace_keeps_loopback_allowed(topic_settings: Settings) -> None:
    """Guard against the harness silently testing nothing: loopback must be allowed only
    because the settings say so."""
    policy = FetchPolicy.from_settings(topic_settings)
    assert policy.addresses.refusal("127.0.0.1") is None
    closed = replace(policy, addresses=replace(policy.addresses, allowed_networks=()))
    assert closed.addresses.refusal("127.0.0.1") == "loopback"
