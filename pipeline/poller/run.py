"""Wiring for one polling pass from settings: HTTP client, publisher, state, poller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.kafka.producer import ArticlePublisher
from pipeline.poller.feeds import load_feed_list, parse_shard, shard
from pipeline.poller.fetch import make_client
from pipeline.poller.poller import FeedOutcome, Poller, PollReport
from pipeline.poller.state import PollerState
from pipeline.settings import Settings


def poll_feeds(settings: Settings, feeds_file: Path, base_url: str | None = None,
               on_feed: Callable[[FeedOutcome], None] | None = None,
               shard_spec: str | None = None) -> PollReport:
    feeds = load_feed_list(feeds_file, base_url)
    if shard_spec:
        feeds = shard(feeds, *parse_shard(shard_spec))
    publisher = ArticlePublisher(settings.kafka_client_kwargs(), settings.raw_topic)
    try:
        with make_client(settings.user_agent, settings.fetch_timeout_s) as client:
            state = PollerState(settings.state_dir / "poller" / "state.json")
            poller = Poller(client, publisher, state, settings.max_feed_bytes)
            return poller.poll(feeds, on_feed=on_feed)
    finally:
        publisher.close()
