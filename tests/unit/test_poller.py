"""Poller logic with an in-process HTTP transport and a recording publisher (no network)."""

from pathlib import Path

import httpx
import pytest

from pipeline.kafka.producer import PublishError
from pipeline.models import Article
from pipeline.poller.feeds import FeedSource
from pipeline.poller.poller import Poller
from pipeline.poller.sample_server import SAMPLE_FEEDS_DIR
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


def make_poller(tmp_path: Path, publisher: RecordingPublisher) -> Poller:
    client = httpx.Client(transport=httpx.MockTransport(serve_samples))
    return Poller(client, publisher, PollerState(tmp_path / "state.json"),  # type: ignore[arg-type]
                  max_feed_bytes=1_000_000)


FEEDS = [FeedSource("http://feeds.test/world.rss"), FeedSource("http://feeds.test/gone.rss"),
         FeedSource("http://feeds.test/page.html"),
         FeedSource("http://feeds.test/science-sport.atom")]


def test_bad_feeds_are_reported_and_the_rest_published(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    report = make_poller(tmp_path, publisher).poll(FEEDS)
    statuses = {o.url.rsplit("/", 1)[1]: (o.status, o.error) for o in report.outcomes}
    assert statuses["gone.rss"] == ("error", "HTTP 410 Gone")
    assert statuses["page.html"][0] == "error"
    assert "not" in (statuses["page.html"][1] or "")
    # 3 + 3 items, one of them the same story in both feeds: 5 distinct articles.
    assert report.articles_sent == 5
    assert len({a.id for a in publisher.sent}) == 5


def test_second_poll_sends_nothing_and_uses_conditional_get(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    make_poller(tmp_path, publisher).poll(FEEDS)
    again = make_poller(tmp_path, publisher).poll(FEEDS)  # fresh process, same state file
    assert again.articles_sent == 0
    assert {o.status for o in again.outcomes if o.error is None} == {"not_modified"}


def test_unacknowledged_items_are_not_marked_seen(tmp_path: Path) -> None:
    failing = RecordingPublisher(fail=True)
    report = make_poller(tmp_path, failing).poll(FEEDS[:1])
    assert report.outcomes[0].status == "error"
    assert "Kafka" in (report.outcomes[0].error or "")
    retry = RecordingPublisher()
    assert make_poller(tmp_path, retry).poll(FEEDS[:1]).articles_sent == 3


def test_seen_set_is_bounded() -> None:
    state = FeedState()
    state.remember([f"id{i}" for i in range(MAX_SEEN_PER_FEED + 10)])
    assert len(state.seen_ids) == MAX_SEEN_PER_FEED
    assert state.seen_ids[0] == "id10"


def test_oversized_feed_is_refused(tmp_path: Path) -> None:
    publisher = RecordingPublisher()
    poller = make_poller(tmp_path, publisher)
    poller.max_feed_bytes = 100
    [outcome] = poller.poll(FEEDS[:1]).outcomes
    assert outcome.status == "error"
    assert outcome.error is not None and "too large" in outcome.error


@pytest.mark.parametrize("url", ["ftp://feeds.test/x", "not a url"])
def test_unfetchable_urls_get_a_reason(tmp_path: Path, url: str) -> None:
    poller = make_poller(tmp_path, RecordingPublisher())
    poller.client = httpx.Client()
    [outcome] = poller.poll([FeedSource(url)]).outcomes
    assert outcome.status == "error"
    assert outcome.error


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
