"""Two pollers on one registry (real Kafka consumer group, the project's polling engine, a
local HTTP server recording every request): every feed is polled by exactly one of them,
and when one leaves the other takes its feeds over from the stored state."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from pipeline.kafka.assignment import registry_snapshot
from pipeline.kafka.poll_loop import PassSummary, engine_poll_once, run_registry_poller
from pipeline.kafka.producer import ArticlePublisher
from pipeline.kafka.registry import FeedRegistry, RegisteredFeed
from pipeline.settings import Settings
from tests.integration.test_registry import FeedServer, feed_settings  # noqa: F401 (fixture)

FEEDS = 40


class PollerThread:
    """One registry poller: its own consumer-group member, User-Agent and publisher."""

    def __init__(self, settings: Settings, name: str):
        self.name = name
        self.settings = settings.with_overrides(user_agent=f"newspipe-test/{name}")
        self.stop = threading.Event()
        self.passes: list[PassSummary] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        publisher = ArticlePublisher(self.settings.kafka_client_kwargs(),
                                     self.settings.raw_topic)
        try:
            run_registry_poller(self.settings, engine_poll_once(self.settings, publisher),
                                every=0.5, stop=self.stop, on_pass=self.passes.append,
                                poller_id=self.name, session_timeout_ms=6000)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            publisher.close()

    @property
    def partitions(self) -> list[int]:
        return self.passes[-1].partitions if self.passes else []

    @property
    def polled(self) -> set[str]:
        return {url for summary in self.passes for url in summary.statuses}

    def start(self) -> PollerThread:
        self.thread.start()
        return self

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), f"{self.name} did not stop"


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def pollers_by_feed(requests: list[tuple[str, str, str | None]]) -> dict[str, set[str]]:
    who: dict[str, set[str]] = defaultdict(set)
    for path, user_agent, _ in requests:
        who[path].add(user_agent.removeprefix("newspipe-test/"))
    return who


def test_two_pollers_split_the_feeds_and_take_over(feed_settings: Settings) -> None:  # noqa: F811
    with FeedServer() as server:
        registry = FeedRegistry(feed_settings)
        registry.ensure_topics()
        a = PollerThread(feed_settings, "poller-a").start()
        b = PollerThread(feed_settings, "poller-b").start()
        try:
            wait_for(lambda: len(a.partitions) == 2 and len(b.partitions) == 2,
                     60, "the four partitions split between both pollers")
            # The feeds arrive at run time; each owner picks up its own.
            registry.add([RegisteredFeed(server.feed_url(i), f"Feed {i}")
                          for i in range(FEEDS)])
            all_urls = {server.feed_url(i) for i in range(FEEDS)}
            wait_for(lambda: a.polled | b.polled == all_urls, 60, "every feed polled")
            time.sleep(2)  # a few more passes: nobody else touches another's feeds
            who = pollers_by_feed(server.take_requests())
            assert set(who) == {f"/feed/{i}.xml" for i in range(FEEDS)}
            assert all(len(names) == 1 for names in who.values()), {
                path: names for path, names in who.items() if len(names) > 1}
            assert not a.polled & b.polled and 0 < len(a.polled) < FEEDS

            # poller-a leaves (writes its states, leaves the group): b owns everything
            # and continues from a's state.
            a.leave()
            before_leaving = pollers_by_feed(server.take_requests())  # a's last pass
            assert all(len(names) == 1 for names in before_leaving.values())
            wait_for(lambda: b.partitions == [0, 1, 2, 3] and b.passes[-1].feeds == FEEDS,
                     60, "poller-b to take over")
            time.sleep(2)
            after = server.take_requests()
            assert {ua for _, ua, _ in after} <= {"newspipe-test/poller-b"}
            # Whatever b asks for a's feeds is conditional, with the ETag a stored.
            a_paths = {url.removeprefix(server.base_url) for url in a.polled}
            assert all(validator == f'"{path}-v1"'
                       for path, _, validator in after if path in a_paths)
        finally:
            a.stop.set()
            b.stop.set()
            for poller in (a, b):
                poller.thread.join(timeout=60)
        assert a.error is None and b.error is None, (a.error, b.error)
    _, states = registry_snapshot(feed_settings)
    assert all(states[url].items_produced == 1 for url in all_urls)  # each story sent once
