"""Two pollers on one registry (real Kafka consumer group): every feed is polled by exactly
one of them, and when one leaves the other takes its feeds over."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from pipeline.kafka.poll_loop import PassSummary, run_registry_poller, sync_poll_once
from pipeline.kafka.producer import ArticlePublisher
from pipeline.kafka.registry import FeedRegistry, RegisteredFeed
from pipeline.poller.fetch import make_client
from pipeline.settings import Settings
from tests.integration.test_registry import FeedServer, feed_settings  # noqa: F401 (fixture)

FEEDS = 40


class PollerThread:
    """One registry poller (own consumer-group member, User-Agent and publisher)."""

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
            with make_client(self.settings.user_agent, 10) as client:
                run_registry_poller(self.settings,
                                    sync_poll_once(self.settings, publisher, client),
                                    every=1.0, stop=self.stop, on_pass=self.passes.append,
                                    poller_id=self.name, session_timeout_ms=6000)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            publisher.close()

    @property
    def partitions(self) -> list[int]:
        return self.passes[-1].partitions if self.passes else []

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
        registry.add([RegisteredFeed(server.feed_url(i), f"Feed {i}") for i in range(FEEDS)])
        all_paths = {f"/feed/{i}.xml" for i in range(FEEDS)}

        a = PollerThread(feed_settings, "poller-a").start()
        b = PollerThread(feed_settings, "poller-b").start()
        try:
            # Settled: the four partitions split between both, each made a pass since.
            wait_for(lambda: bool(a.partitions) and bool(b.partitions)
                     and sorted(a.partitions + b.partitions) == [0, 1, 2, 3],
                     60, "both pollers to own partitions")
            server.take_requests()
            passes_before = len(a.passes), len(b.passes)
            wait_for(lambda: len(a.passes) >= passes_before[0] + 2
                     and len(b.passes) >= passes_before[1] + 2, 60, "two more passes each")
            who = pollers_by_feed(server.take_requests())
            assert set(who) == all_paths  # every feed polled ...
            assert all(len(names) == 1 for names in who.values()), {  # ... by exactly one
                path: names for path, names in who.items() if len(names) > 1}
            share_a = {p for p, names in who.items() if names == {"poller-a"}}
            assert 0 < len(share_a) < FEEDS  # both did work
            # The feeds each pass covered: disjoint, and all of them together.
            covered_a, covered_b = set(a.passes[-1].statuses), set(b.passes[-1].statuses)
            assert not covered_a & covered_b
            assert covered_a | covered_b == {server.feed_url(i) for i in range(FEEDS)}

            # poller-a leaves (writes its states, leaves the group): b takes everything.
            a.leave()
            wait_for(lambda: b.partitions == [0, 1, 2, 3], 60, "poller-b to take over")
            server.take_requests()
            passes_before_b = len(b.passes)
            wait_for(lambda: len(b.passes) >= passes_before_b + 2, 60, "poller-b passes")
            who = pollers_by_feed(server.take_requests())
            assert set(who) == all_paths and all(n == {"poller-b"} for n in who.values())
            # It continued from a's state: a's feeds are conditional requests (304).
            assert b.passes[-1].feeds == FEEDS
            assert set(b.passes[-1].statuses.values()) == {"not_modified"}
        finally:
            a.stop.set()
            b.stop.set()
            for poller in (a, b):
                poller.thread.join(timeout=60)
        assert a.error is None and b.error is None, (a.error, b.error)

