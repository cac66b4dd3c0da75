"""The feed registry: a compacted Kafka topic of feeds, keyed by feed URL.

One record per feed: key = the feed URL (UTF-8), value = the feed as JSON
(:func:`encode_feed`), a tombstone (``None`` value) = the feed was removed. Compaction keeps
the latest record per URL, so reading the topic from the beginning gives the current list.
Operators change it at run time (``pipeline feeds add|remove|import-opml``); running pollers
see the change on their next :meth:`KafkaFeedAssignment.poll_membership`.

The registry and the poller-state topic have the same partition count and a feed's state is
written to the partition its registry record is in (the default murmur2 key partitioning
for both), so the poller that owns registry partition *p* finds every state it needs in
state partition *p* — co-partitioning, as Kafka Streams does it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from pipeline.kafka.topics import ensure_topics
from pipeline.poller.feeds import FeedListError, FeedSource, load_feed_list
from pipeline.settings import Settings

log = logging.getLogger(__name__)

REGISTRY_VERSION = 1
FULL_TEXT_MODES = ("always", "auto", "never")


class RegistryError(RuntimeError):
    """The registry cannot be used as configured; the message says why and what to do."""


class RegistryRecordError(ValueError):
    """One registry record cannot be decoded; it is skipped (and stays in the topic)."""


@dataclass(frozen=True)
class RegisteredFeed(FeedSource):
    """A feed as the registry knows it: a :class:`FeedSource` (so pollers take it as one)
    plus its full-text mode; ``None`` = the ``full_text_default`` setting."""

    full_text: str | None = None


def validate_feed(feed: RegisteredFeed) -> RegisteredFeed:
    """Reject what no poller could fetch, before it reaches the registry."""
    parts = urlsplit(feed.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RegistryRecordError(f"not an http(s) feed URL: {feed.url!r}")
    if feed.full_text is not None and feed.full_text not in FULL_TEXT_MODES:
        raise RegistryRecordError(f"{feed.url}: full_text must be one of "
                                  f"{', '.join(FULL_TEXT_MODES)}, not {feed.full_text!r}")
    return feed


def encode_feed(feed: RegisteredFeed) -> bytes:
    return json.dumps({"url": feed.url, "name": feed.name, "language": feed.language,
                       "tags": list(feed.tags), "full_text": feed.full_text,
                       "registry_version": REGISTRY_VERSION},
                      ensure_ascii=False, sort_keys=True).encode("utf-8")


def decode_feed(key: bytes | None, value: bytes | None) -> tuple[str, RegisteredFeed | None]:
    """``(url, feed)``; ``feed`` is ``None`` for a tombstone (the feed was removed)."""
    if not key:
        raise RegistryRecordError("registry record without a key (the feed URL)")
    try:
        url = key.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryRecordError(f"registry key is not UTF-8: {key[:80]!r}") from exc
    if value is None:
        return url, None
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryRecordError(f"{url}: registry value is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryRecordError(f"{url}: registry value is not a JSON object")
    if data.get("url", url) != url:
        raise RegistryRecordError(f"{url}: value names another URL {data.get('url')!r}")
    tags = data.get("tags") or []
    if not isinstance(tags, list):
        raise RegistryRecordError(f"{url}: tags must be a list")
    feed = RegisteredFeed(url=url, name=str(data.get("name") or ""),
                          language=data.get("language"), tags=tuple(str(t) for t in tags),
                          full_text=data.get("full_text"))
    return url, validate_feed(feed)


def partition_for(url: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, Java-compatible) gives this key."""
    return (murmur2(url.encode("utf-8")) & 0x7FFFFFFF) % partitions


def registry_changes(records: Iterable[tuple[bytes | None, bytes | None]]
                     ) -> Iterator[tuple[str, RegisteredFeed | None]]:
    """Decoded registry records: (url, feed) for an add or update, (url, None) for a
    removal. A bad record is logged and skipped: one typo must not stop every poller."""
    for key, value in records:
        try:
            yield decode_feed(key, value)
        except RegistryRecordError as exc:
            log.error("skipping bad feed-registry record: %s", exc)


def fold_registry(records: Iterable[tuple[bytes | None, bytes | None]]
                  ) -> dict[str, RegisteredFeed]:
    """Replay registry records (oldest first) into the current feeds by URL."""
    feeds: dict[str, RegisteredFeed] = {}
    for url, feed in registry_changes(records):
        if feed is None:
            feeds.pop(url, None)
        else:
            feeds[url] = feed
    return feeds


# --- reading partitions to their end ---------------------------------------------------

def read_partitions(kafka: dict[str, Any], topic: str, partitions: Iterable[int] | None = None,
                    *, timeout_s: float = 120.0) -> Iterator[Any]:
    """Every record of ``partitions`` (all when ``None``) from the beginning up to the end
    offsets seen at the start, without a consumer group. Yields kafka ConsumerRecords."""
    consumer = KafkaConsumer(**kafka, group_id=None, enable_auto_commit=False,
                             client_id="newspipe-registry-reader",
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        if partitions is None:
            known = consumer.partitions_for_topic(topic)
            if not known:
                raise RegistryError(f"topic {topic} does not exist: run `pipeline topics create`")
            partitions = sorted(known)
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if consumer.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise RegistryError(f"reading {topic} timed out after {timeout_s:.0f}s "
                                    f"({len(remaining)} partitions not read to the end)")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()


def end_offsets(kafka: dict[str, Any], topic: str, partitions: Iterable[int]
                ) -> dict[int, int]:
    consumer = KafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


# --- topics ----------------------------------------------------------------------------

def ensure_feed_topics(settings: Settings) -> int:
    """Create the registry and state topics if missing; return their partition count.

    A missing one is created with the partition count of the other when that exists.
    Raises :class:`RegistryError` when both exist with different counts: a feed's state
    would then live in another partition than its registry entry.
    """
    topics = [settings.feed_registry_topic, settings.poller_state_topic]
    existing = _partition_counts(settings, topics)
    if existing:
        settings = settings.with_overrides(feed_topic_partitions=max(existing.values()))
    ensure_topics(settings)
    # A topic just created may not show its partitions in the metadata for a moment.
    deadline = time.monotonic() + 15
    while True:
        counts = _partition_counts(settings, topics)
        registry, state = (counts.get(t, 0) for t in topics)
        if (registry and state) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if registry != state or registry == 0:
        raise RegistryError(
            f"feed registry {settings.feed_registry_topic} has {registry} partitions and poller "
            f"state {settings.poller_state_topic} has {state}: they must be equal (a feed's "
            "state lives in the partition of its registry entry). Add partitions to the "
            "smaller one with kafka-topics --alter, or point NEWSPIPE_POLLER_STATE_TOPIC at a "
            "new topic.")
    return registry


def _partition_counts(settings: Settings, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(**settings.kafka_client_kwargs(), client_id="newspipe-admin")
    try:
        present = set(admin.list_topics()) & set(topics)
        if not present:
            return {}
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(sorted(present))}
    finally:
        admin.close()


# --- operator side: add, remove, list, import ----------------------------------------------

def registry_producer(settings: Settings, client_id: str) -> KafkaProducer:
    """acks=all + idempotence: an acknowledged registry or state record is durable, and a
    retried send does not duplicate it."""
    return KafkaProducer(**settings.kafka_client_kwargs(), client_id=client_id, acks="all",
                         enable_idempotence=True, linger_ms=20, compression_type="gzip",
                         # Feed states are several KB each: large batches, few requests.
                         batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024,
                         retry_backoff_ms=500, max_block_ms=60_000, delivery_timeout_ms=120_000)


class FeedRegistry:
    """Operator access to the registry topic (the CLI's ``feeds`` commands)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.topic = settings.feed_registry_topic

    def ensure_topics(self) -> int:
        return ensure_feed_topics(self.settings)

    def feeds(self) -> dict[str, RegisteredFeed]:
        """The current feeds by URL (the topic read from the beginning to its end)."""
        records = read_partitions(self.settings.kafka_client_kwargs(), self.topic)
        return fold_registry((r.key, r.value) for r in records)

    def add(self, feeds: Iterable[RegisteredFeed]) -> list[RegisteredFeed]:
        """Add or update feeds (the newest record per URL wins); returns what was written."""
        checked = [validate_feed(f) for f in feeds]
        self._send([(f.url, encode_feed(f)) for f in checked])
        return checked

    def remove(self, urls: Iterable[str]) -> list[str]:
        """Tombstone each URL; the owning poller drops the feed and its state."""
        urls = list(urls)
        self._send([(url, None) for url in urls])
        return urls

    def _send(self, records: list[tuple[str, bytes | None]]) -> None:
        producer = registry_producer(self.settings, "newspipe-feeds-cli")
        try:
            futures = [producer.send(self.topic, key=url.encode("utf-8"), value=value)
                       for url, value in records]
            producer.flush()
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            raise RegistryError(f"writing to {self.topic} failed: {exc}") from exc
        finally:
            producer.close()


def load_registry_file(path: Path, base_url: str | None = None,
                       full_text: str | None = None) -> list[RegisteredFeed]:
    """Feeds from a YAML or OPML feed list, ready for :meth:`FeedRegistry.add`.

    YAML entries may carry ``full_text: always|auto|never``; ``full_text`` here overrides
    every entry (e.g. ``import-opml --full-text never``).
    """
    sources = load_feed_list(path, base_url)
    per_feed: dict[str, str] = {}
    if path.suffix.lower() not in {".opml", ".xml"}:
        entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("feeds") or []
        for entry in entries:
            if isinstance(entry, dict) and entry.get("full_text") is not None:
                url = str(entry["url"]).strip()
                if base_url is not None:
                    url = url.replace("{base_url}", base_url.rstrip("/"))
                per_feed[url] = str(entry["full_text"])
    feeds = []
    for source in sources:
        feed = RegisteredFeed(source.url, source.name, source.language, source.tags,
                              full_text=full_text or per_feed.get(source.url))
        try:
            feeds.append(validate_feed(feed))
        except RegistryRecordError as exc:
            raise FeedListError(f"{path}: {exc}") from exc
    return feeds
