"""The polling engine with an in-process HTTP transport and a recording publisher (no network)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pipeline.kafka.producer import PublishError
from pipeline.models import Article
from pipeline.poller.feeds import FeedSource
from pipeline.poller.fetch import (
    Fetcher,
    FetchError,
    FetchPolicy,
    FetchResult,
    RawResponse,
    Transport,
)
from pipeline.poller.poller import AsyncPoller, PollPolicy, PollReport
from pipeline.poller.sample_server import SAMPLE_FEEDS_DIR
from pipeline.poller.schedule import SchedulePolicy
from pipeline.poller.state import MAX_SEEN_PER_FEED, FeedState, PollerState


class RecordingPublisher:
    def __init__(self, fail: bool = False):
        self.sent: list[Article] = []
        self.fail = fail

    def publish(self, articles: list[Article]) -> list[str]:
        if self.fail:
            raise PublishError("broker unavailable")
        self.sent.extend(articles)
        return [a.id for a in articles]


def serve_samples(request: httpx.Request) -> httpx.Response:
    name = request.url.path.lstrip("/")
    if name == "gone.rss":
        return httpx.Response(410)
    if name == "page.html":
        return httpx.Response(200, content=b"<html><body>not a feed</body></html>")
    if request.headers.get("if-none-match") == '"v1"':
        return httpx.Response(304)
    body = (SAMPLE_FEEDS_DIR / name).read_bytes()
    return httpx.Response(200, content=body, headers={"etag": '"v1"'})


def via(handler: Callable[[httpx.Request], httpx.Response]) -> Transport:
    """An in-process transport from an httpx-style handler (request in, response out)."""
    async def transport(url: str, headers: dict[str, str]) -> RawResponse:
        response = handler(httpx.Request("GET", url, headers=headers))
        return RawResponse(response.status_code,
                           {k.lower(): v for k, v in response.headers.items()},
                           response.content)
    return transport


class SyncPoller:
    """Runs one pass of the async engine per call, the way the CLI does."""

    def __init__(self, state_path: Path, publisher: RecordingPublisher,
                 handler: Callable[[httpx.Request], httpx.Response] = serve_samples,
                 clock: Callable[[], float] | None = None, max_bytes: int = 1_000_000,
                 schedule: SchedulePolicy | None = None):
        self.state_path = state_path
        self.publisher = publisher
        self.handler = handler
        self.clock = clock
        self.max_bytes = max_bytes
        self.schedule = schedule or SchedulePolicy()
        self.store = PollerState(state_path)

    def poll(self, feeds: list[FeedSource], force: bool = True) -> PollReport:
        async def run() -> PollReport:
            policy = FetchPolicy(max_bytes=self.max_bytes, per_host_interval_s=0)
            async with Fetcher(policy, transport=via(self.handler)) as fetcher:
                poller = AsyncPoller(fetcher, self.publisher, self.store,
                                     PollPolicy(schedule=self.schedule),
                                     clock=self.clock or __import__("time").time,
                                     rng=random.Random(1))
                return await poller.poll_due(feeds, now=float("inf") if force else None)
        return asyncio.run(run())


def make_poller(tmp_path: Path, publisher: RecordingPublisher) -> SyncPoller:
    return SyncPoller(tmp_path / "state.json", publisher)


FEEDS = [FeedSource("http://feeds.test/world.rss"), FeedSource("http://feeds.test/gone.rss"),
         FeedSource("http://feeds.test/page.html"),
         FeedSource("http://feeds.test/science-sport.atom")]


def test_bad_feeds_are_reported_and_the_rest_published(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    report = make_poller(tmp_path, publisher).poll(FEEDS)
    statuses = {o.url.rsplit("/", 1)[1]: (o.status, o.error_class) for o in report.outcomes}
    assert statuses["gone.rss"] == ("retired", "http_410")
    assert statuses["page.html"] == ("error", "html_not_feed")
    # 3 + 3 items, one of them the same story in both feeds: 5 distinct articles.
    assert report.articles_sent == 5
    assert len({a.id for a in publisher.sent}) == 5


def test_second_poll_sends_nothing_and_uses_conditional_get(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    make_poller(tmp_path, publisher).poll(FEEDS)
    again = make_poller(tmp_path, publisher).poll(FEEDS)  # fresh process, same state file
    assert again.articles_sent == 0
    assert {o.status for o in again.outcomes} == {"not_modified", "error"}
    assert again.retired == 1  # gone.rss is not requested any more


def test_same_body_without_validators_is_not_parsed_again(tmp_path: Path) -> None:
    requests: list[httpx.Request] = []

    def no_etag(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=(SAMPLE_FEEDS_DIR / "world.rss").read_bytes())

    poller = SyncPoller(tmp_path / "s.json", RecordingPublisher(), no_etag)
    poller.poll(FEEDS[:1])
    [outcome] = poller.poll(FEEDS[:1]).outcomes
    assert (outcome.status, outcome.unchanged_body, outcome.items) == ("not_modified", True, 0)
    assert "if-none-match" not in requests[1].headers


def test_unacknowledged_items_are_not_marked_seen(tmp_path: Path) -> None:
    failing = RecordingPublisher(fail=True)
    report = make_poller(tmp_path, failing).poll(FEEDS[:1])
    assert (report.outcomes[0].status, report.outcomes[0].error_class) == ("error", "kafka")
    state = PollerState(tmp_path / "state.json").get(FEEDS[0].url)
    assert state.consecutive_failures == 0  # a broker outage does not count against the feed
    retry = RecordingPublisher()
    assert make_poller(tmp_path, retry).poll(FEEDS[:1]).articles_sent == 3


def test_seen_set_is_bounded() -> None:
    state = FeedState()
    state.item_versions["id0"] = 1.0
    state.remember([f"id{i}" for i in range(MAX_SEEN_PER_FEED + 10)])
    assert len(state.seen_ids) == MAX_SEEN_PER_FEED
    assert state.seen_ids[0] == "id10"
    assert "id0" not in state.item_versions


def test_oversized_feed_is_refused(tmp_path: Path) -> None:
    poller = SyncPoller(tmp_path / "s.json", RecordingPublisher(), max_bytes=100)
    [outcome] = poller.poll(FEEDS[:1]).outcomes
    assert (outcome.status, outcome.error_class) == ("error", "too_large")


@pytest.mark.parametrize("url", ["ftp://feeds.test/x", "not a url"])
def test_unfetchable_urls_get_a_reason(tmp_path: Path, url: str) -> None:
    async def run() -> PollReport:
        async with Fetcher(FetchPolicy()) as fetcher:
            poller = AsyncPoller(fetcher, RecordingPublisher(), PollerState(tmp_path / "s.json"))
            return await poller.poll_due([FeedSource(url)])
    [outcome] = asyncio.run(run()).outcomes
    assert (outcome.status, outcome.error_class) == ("error", "invalid_url")


def test_feed_at_a_new_url_does_not_resend(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    make_poller(tmp_path, publisher).poll([FeedSource("http://feeds.test/world.rss")])
    moved = make_poller(tmp_path, publisher).poll([FeedSource("http://mirror.test/world.rss")])
    assert moved.outcomes[0].status == "ok" and moved.outcomes[0].items == 3
    assert moved.articles_sent == 0


def test_global_sent_set_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.poller import state as state_module

    monkeypatch.setattr(state_module, "MAX_SENT_GLOBAL", 3)
    state = PollerState(tmp_path / "s.json")
    state.mark_sent(["a", "b", "c", "d"])
    state.save()
    reloaded = PollerState(tmp_path / "s.json")
    assert [reloaded.was_sent(i) for i in "abcd"] == [False, True, True, True]


def _feed_with_item(updated: str) -> bytes:
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            f'<entry><title>Story</title><link href="https://e.com/story"/><id>s1</id>'
            f'<updated>{updated}</updated><summary>v {updated}</summary></entry></feed>'
            ).encode()


def test_updated_items_are_resent_only_when_their_updated_time_advances(
        tmp_path: Path) -> None:
    bodies = [_feed_with_item("2025-01-01T10:00:00Z"),
              _feed_with_item("2025-01-01T10:00:00Z") + b" ",  # same item, new bytes
              _feed_with_item("2025-01-02T09:00:00Z")]
    current = {"body": bodies[0]}
    publisher = RecordingPublisher()
    poller = SyncPoller(tmp_path / "s.json", publisher,
                        lambda _r: httpx.Response(200, content=current["body"]))
    sent = []
    for body in bodies:
        current["body"] = body
        [outcome] = poller.poll([FeedSource("http://feeds.test/a.atom")]).outcomes
        sent.append((outcome.new_articles, outcome.updated_articles))
    assert sent == [(1, 0), (0, 0), (1, 1)]
    assert [a.summary for a in publisher.sent] == ["v 2025-01-01T10:00:00Z",
                                                    "v 2025-01-02T09:00:00Z"]


def test_same_story_in_two_feeds_polled_together_is_sent_once(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    feeds = [FeedSource("http://a.test/world.rss"), FeedSource("http://b.test/world.rss")]
    report = make_poller(tmp_path, publisher).poll(feeds)
    assert report.articles_sent == 3
    assert len(publisher.sent) == 3


def test_schedule_is_respected_between_passes(tmp_path: Path) -> None:
    now = {"t": 1_000_000.0}
    poller = SyncPoller(tmp_path / "s.json", RecordingPublisher(), clock=lambda: now["t"],
                        schedule=SchedulePolicy(min_interval_s=60, max_interval_s=600))
    first = poller.poll(FEEDS[:1], force=False)
    next_at = first.outcomes[0].next_poll_at
    assert next_at is not None and 60 <= next_at - now["t"] <= 660
    now["t"] = next_at - 1
    early = poller.poll(FEEDS[:1], force=False)
    assert (early.outcomes, early.not_due) == ([], 1)
    now["t"] = next_at
    assert len(poller.poll(FEEDS[:1], force=False).outcomes) == 1


def test_failures_back_off_and_then_retire(tmp_path: Path) -> None:
    now = {"t": 0.0}
    poller = SyncPoller(tmp_path / "s.json", RecordingPublisher(),
                        lambda _r: httpx.Response(500), clock=lambda: now["t"],
                        schedule=SchedulePolicy(min_interval_s=10, max_interval_s=1000,
                                                retire_after_failures=4))
    delays, statuses = [], []
    for _ in range(4):
        [outcome] = poller.poll(FEEDS[:1]).outcomes
        statuses.append(outcome.status)
        if outcome.next_poll_at is not None:
            delays.append(outcome.next_poll_at - now["t"])
    assert statuses == ["error", "error", "error", "retired"]
    assert delays[0] < delays[1] < delays[2]
    state = poller.store.get(FEEDS[0].url)
    assert state.retired and state.retired_reason == "4 consecutive failures"
    assert state.last_error_class == "http_500"


def fetch_with(transport: Transport, url: str = "http://feeds.test/a", **policy: object
               ) -> object:
    async def run() -> object:
        async with Fetcher(FetchPolicy(per_host_interval_s=0, **policy),  # type: ignore[arg-type]
                           transport=transport) as fetcher:
            return await fetcher.fetch(url)
    return asyncio.run(run())


def test_redirect_chains_are_bounded_and_recorded() -> None:
    async def endless(url: str, headers: dict[str, str]) -> RawResponse:
        return RawResponse(307, {"location": url + "x"})

    with pytest.raises(FetchError) as caught:
        fetch_with(endless, max_redirects=3)
    assert caught.value.reason_class == "too_many_redirects"

    async def to_ftp(url: str, headers: dict[str, str]) -> RawResponse:
        return RawResponse(301, {"location": "ftp://files.test/feed"})

    with pytest.raises(FetchError) as caught:
        fetch_with(to_ftp)
    assert caught.value.reason_class == "bad_redirect"

    async def moved_then_ok(url: str, headers: dict[str, str]) -> RawResponse:
        if url.endswith("/a"):
            return RawResponse(308, {"location": "/b"})
        return RawResponse(200, {"etag": '"e"'}, b"<rss/>")

    result = fetch_with(moved_then_ok)
    assert isinstance(result, FetchResult)
    assert result.final_url == "http://feeds.test/b"
    assert [(h.status, h.location, h.permanent) for h in result.redirects] == [
        (308, "http://feeds.test/b", True)]
    assert result.validators.etag == '"e"'
