"""Wiring from settings: fetcher, publisher, state store, engine; one pass or a loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.kafka.producer import ArticlePublisher
from pipeline.poller.feeds import FeedSource, load_feed_list, parse_shard, shard
from pipeline.poller.fetch import Fetcher, FetchPolicy
from pipeline.poller.fulltext import FullTextFetcher, fetcher_getter
from pipeline.poller.poller import AsyncPoller, FeedOutcome, PollPolicy, PollReport, Publisher
from pipeline.poller.state import PollerState, StateStore
from pipeline.settings import Settings

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


def allow_loopback(settings: Settings) -> Settings:
    """The same settings, with loopback addresses allowed (demo and tests: the sample
    server listens on 127.0.0.1)."""
    networks = list(dict.fromkeys([*settings.poller_allowed_networks, *LOOPBACK_NETWORKS]))
    return settings.with_overrides(poller_allowed_networks=networks)


def file_store(settings: Settings) -> PollerState:
    return PollerState(settings.state_dir / "poller" / "state.json")


def make_fetcher(settings: Settings, **overrides: Any) -> Fetcher:
    """A fetcher with the poller's politeness rules (also for article pages)."""
    return Fetcher(FetchPolicy.from_settings(settings, **overrides))


def load_feeds(settings: Settings, feeds_file: Path, base_url: str | None = None,
               shard_spec: str | None = None) -> list[FeedSource]:
    feeds = load_feed_list(feeds_file, base_url)
    return shard(feeds, *parse_shard(shard_spec)) if shard_spec else feeds


async def poll_once(settings: Settings, feeds: Sequence[FeedSource], *,
                    store: StateStore | None = None, publisher: Publisher | None = None,
                    on_feed: Callable[[FeedOutcome], None] | None = None,
                    on_start: Callable[[int], None] | None = None,
                    force: bool = False) -> PollReport:
    """One pass over the due feeds (all non-retired feeds with ``force``)."""
    own = None if publisher else ArticlePublisher(settings.kafka_client_kwargs(),
                                                  settings.raw_topic)
    try:
        async with make_fetcher(settings) as fetcher:
            poller = AsyncPoller(fetcher, publisher or own,  # type: ignore[arg-type]
                                 store or file_store(settings), PollPolicy.from_settings(settings),
                                 full_text=full_text_for(settings, fetcher))
            now = float("inf") if force else None
            return await poller.poll_due(feeds, now=now, on_feed=on_feed, on_start=on_start)
    finally:
        if own is not None:
            own.close()


async def poll_forever(settings: Settings, feeds: Callable[[], Sequence[FeedSource]],
                       stop: asyncio.Event, *, store: StateStore | None = None,
                       on_feed: Callable[[FeedOutcome], None] | None = None,
                       on_pass: Callable[[PollReport], None] | None = None) -> None:
    """Poll until ``stop`` is set, sleeping until the next feed is due."""
    publisher = ArticlePublisher(settings.kafka_client_kwargs(), settings.raw_topic)
    try:
        async with make_fetcher(settings) as fetcher:
            poller = AsyncPoller(fetcher, publisher, store or file_store(settings),
                                 PollPolicy.from_settings(settings),
                                 full_text=full_text_for(settings, fetcher))
            await poller.run_forever(feeds, stop, on_feed=on_feed, on_pass=on_pass)
    finally:
        publisher.close()


def poll_feeds(settings: Settings, feeds_file: Path, base_url: str | None = None,
               on_feed: Callable[[FeedOutcome], None] | None = None,
               shard_spec: str | None = None, *, force: bool = False,
               on_start: Callable[[int], None] | None = None) -> PollReport:
    """Synchronous one-pass entry point (CLI, demo, tests)."""
    feeds = load_feeds(settings, feeds_file, base_url, shard_spec)
    return asyncio.run(poll_once(settings, feeds, on_feed=on_feed, on_start=on_start,
                                 force=force))


def full_text_for(settings: Settings, fetcher: Fetcher) -> FullTextFetcher:
    """Article pages go through the feeds' fetcher: same per-host limits, User-Agent,
    size cap and address guard."""
    return FullTextFetcher.from_settings(settings, fetcher_getter(fetcher))
