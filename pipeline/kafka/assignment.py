"""Scale-out: poller processes split the feed registry through a Kafka consumer group.

Every poller subscribes to the registry topic in one consumer group
(``poller_group``). Kafka assigns each registry partition to exactly one member; that
member owns the partition's feeds and their states (state partition *p* = registry
partition *p*, see :mod:`pipeline.kafka.registry`):

- on assignment of *p*: read registry partition *p* and state partition *p* from the
  beginning to their end (compacted topics: the latest record per feed), then follow
  registry *p* live, so feeds added or removed at run time are picked up;
- on revocation: write every changed state (acks=all) and drop the partition, so the next
  owner starts from the latest state and polls nothing before its time.

Kafka's group protocol is eager: a rebalance completes only after every member gave its
partitions back (or was expelled for missing ``max_poll_interval_ms``), so two pollers
never own the same feed at once. Call :meth:`KafkaFeedAssignment.poll_membership` between
polling passes, and at least every ``max_poll_interval_ms``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from pipeline.kafka.registry import (
    RegisteredFeed,
    RegistryError,
    ensure_feed_topics,
    partition_for,
    read_partitions,
    registry_changes,
    registry_producer,
)
from pipeline.poller.state import MAX_SENT_GLOBAL, FeedState
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class StateFlushError(RuntimeError):
    """Some feed states were not acknowledged by Kafka; they stay dirty for the next flush."""


def default_poller_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def encode_state(state: FeedState) -> bytes:
    """``FeedState.to_dict()`` as JSON, without ``asdict``'s deep copy of every seen id
    (the fields are plain JSON values; that copy was most of the cost of a flush)."""
    shallow = {f.name: getattr(state, f.name) for f in fields(state)}
    return json.dumps(shallow, separators=(",", ":")).encode("utf-8")


def decode_state(key: bytes | None, value: bytes | None) -> FeedState | None:
    """A state record; ``None`` for a tombstone or an undecodable record (logged)."""
    if not key or value is None:
        return None
    url = key.decode("utf-8", errors="replace")
    try:
        data = json.loads(value)
        return FeedState.from_dict({**data, "url": url})
    except (ValueError, TypeError) as exc:
        log.error("skipping bad poller-state record for %s: %s (the feed starts fresh)",
                  url, exc)
        return None


class KafkaStateStore:
    """A :class:`~pipeline.poller.state.StateStore` over the state partitions this poller
    owns. Changes stay in memory until :meth:`flush` writes them (acks=all, idempotent
    producer) to the partition of the feed's registry entry.

    Only ``put`` marks a state as changed: the engine reads every owned state each pass to
    find the due feeds, and rewriting them all would be wasted work.

    Sent ids (``was_sent``): the file store keeps one global set; across pollers that would
    need a shared store, so here the set is derived from the ``seen_ids`` of the feeds this
    poller owns (rebuilt on every assignment) plus what it sent since. A story syndicated
    by two feeds owned by different pollers may be produced twice; that is harmless, the
    article id is the Kafka key and the Elasticsearch ``_id``.
    """

    def __init__(self, producer: KafkaProducer, topic: str, partitions: int):
        self._producer = producer
        self.topic = topic
        self.partitions = partitions
        self._owned: dict[int, dict[str, FeedState]] = {}
        self._partition_of: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._sent: dict[str, None] = {}
        self._written: dict[str, FeedState] = {}  # since the last take_written()

    # --- ownership (called by KafkaFeedAssignment) ---

    def load_partition(self, partition: int, states: Iterable[FeedState]) -> None:
        owned = self._owned.setdefault(partition, {})
        for state in states:
            owned[state.url] = state
            self._partition_of[state.url] = partition
            self._sent.update(dict.fromkeys(state.seen_ids))

    def partition_states(self, partition: int) -> list[FeedState]:
        return list(self._owned.get(partition, {}).values())

    def drop_partition(self, partition: int) -> None:
        for url in self._owned.pop(partition, {}):
            self._partition_of.pop(url, None)
            self._dirty.discard(url)
        self._rebuild_sent()

    def track(self, url: str, partition: int) -> None:
        """The feed's registry entry is in ``partition``; its state goes there too."""
        self._partition_of[url] = partition

    def forget(self, url: str) -> None:
        """The feed left the registry: drop its state here and tombstone it in Kafka."""
        partition = self._partition_of.pop(url, None)
        if partition is None:
            return
        self._owned.get(partition, {}).pop(url, None)
        self._dirty.discard(url)
        self._producer.send(self.topic, key=url.encode("utf-8"), value=None,
                            partition=partition)

    def owns(self, url: str) -> bool:
        return self._partition_for(url) in self._owned

    @property
    def owned_partitions(self) -> list[int]:
        return sorted(self._owned)

    # --- the StateStore protocol ---

    def get(self, url: str) -> FeedState:
        partition = self._partition_for(url)
        if partition not in self._owned:
            # Not ours (e.g. a feed that just moved): a fresh state, never written back.
            return FeedState(url=url)
        self._partition_of[url] = partition
        return self._owned[partition].setdefault(url, FeedState(url=url))

    def put(self, state: FeedState) -> None:
        partition = self._partition_for(state.url)
        if partition not in self._owned:
            log.warning("not storing state of %s: its partition %d belongs to another poller",
                        state.url, partition)
            return
        self._owned[partition][state.url] = state
        self._partition_of[state.url] = partition
        self._dirty.add(state.url)

    def all(self) -> list[FeedState]:
        return [state for owned in self._owned.values() for state in owned.values()]

    def was_sent(self, article_id: str) -> bool:
        return article_id in self._sent

    def mark_sent(self, ids: list[str]) -> None:
        self._sent.update(dict.fromkeys(ids))
        excess = len(self._sent) - MAX_SENT_GLOBAL
        if excess > 0:
            for oldest in list(itertools.islice(self._sent, excess)):
                del self._sent[oldest]

    def record_sent(self, state: FeedState, ids: list[str]) -> None:
        """Write this feed's state record now and wait for its ack, so that a poller taking
        the feed over after a crash knows ``ids`` (periodic :meth:`flush` alone left ~2 s
        of acknowledged items unrecorded). Runs in a worker thread: it only reads, and
        leaves the feed dirty, so the next flush writes its final state (validators,
        schedule) as before. Raises :class:`StateFlushError` if Kafka did not ack."""
        partition = self._partition_for(state.url)
        if not ids or partition not in self._owned:
            return
        future = self._producer.send(self.topic, key=state.url.encode("utf-8"),
                                     value=encode_state(state), partition=partition)
        self._producer.flush()  # linger_ms would otherwise hold the record back
        try:
            future.get(timeout=0)
        except KafkaError as exc:
            raise StateFlushError(f"state of {state.url} not written to {self.topic}: "
                                  f"{exc}") from exc

    def flush(self) -> None:
        """Write every changed state and wait for the acks (see :meth:`take_written`)."""
        pending = [(url, self._partition_of[url]) for url in sorted(self._dirty)
                   if url in self._partition_of]
        if not pending:
            return
        futures = []
        for url, partition in pending:
            state = self._owned[partition][url]
            futures.append((state, self._producer.send(
                self.topic, key=url.encode("utf-8"), value=encode_state(state),
                partition=partition)))
        self._producer.flush()
        failed = []
        for state, future in futures:
            try:
                future.get(timeout=0)
                self._written[state.url] = state
                self._dirty.discard(state.url)
            except KafkaError as exc:
                failed.append(f"{state.url}: {exc}")
        if failed:
            raise StateFlushError(f"{len(failed)} of {len(futures)} feed states not written "
                                  f"to {self.topic}: {failed[0]}")

    def take_written(self) -> list[FeedState]:
        """States written since the last call (for feed health after a pass)."""
        written, self._written = list(self._written.values()), {}
        return written

    # Compatibility with the first, synchronous Poller (it calls feed() and save()).
    def feed(self, url: str) -> FeedState:
        return self.get(url)

    def save(self) -> None:
        self.flush()

    def _partition_for(self, url: str) -> int:
        known = self._partition_of.get(url)
        return known if known is not None else partition_for(url, self.partitions)

    def _rebuild_sent(self) -> None:
        self._sent = {}
        for state in self.all():
            self._sent.update(dict.fromkeys(state.seen_ids))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, assignment: KafkaFeedAssignment):
        self.assignment = assignment

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.assignment._on_revoked([tp.partition for tp in revoked])

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assignment._on_assigned([tp.partition for tp in assigned])


@dataclass
class _KeptPartition:
    """A partition given up in a rebalance, kept in memory in case it comes back: if the
    state partition's end offset has not moved, nobody wrote to it since and the copy is
    current (saves re-reading every state on each rebalance)."""

    feeds: dict[str, RegisteredFeed]
    states: list[FeedState]
    registry_position: int
    state_end: int


class KafkaFeedAssignment:
    """This poller's share of the registry: the feeds it owns and their :attr:`store`."""

    def __init__(self, settings: Settings, *, poller_id: str | None = None,
                 session_timeout_ms: int = 10_000, max_poll_interval_ms: int = 300_000):
        self.settings = settings
        self.poller_id = poller_id or settings.poller_id or default_poller_id()
        self.partitions = ensure_feed_topics(settings)
        self._kafka = settings.kafka_client_kwargs()
        self._producer = registry_producer(settings, f"newspipe-poller-state-{self.poller_id}")
        self.store = KafkaStateStore(self._producer, settings.poller_state_topic,
                                     self.partitions)
        self._feeds: dict[int, dict[str, RegisteredFeed]] = {}
        self._pending: set[int] = set()
        self._kept: dict[int, _KeptPartition] = {}
        self.rebalances = 0
        self.loads = 0  # partitions read from Kafka
        self.reuses = 0  # partitions that came back unchanged after a rebalance
        self._offsets = KafkaConsumer(**self._kafka, group_id=None, enable_auto_commit=False,
                                      client_id=f"{self.poller_id}-offsets")
        self._consumer = KafkaConsumer(
            **self._kafka, group_id=settings.poller_group, client_id=self.poller_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(100, session_timeout_ms // 3),
            max_poll_interval_ms=max_poll_interval_ms)
        self._consumer.subscribe([settings.feed_registry_topic], listener=_Listener(self))

    @property
    def feeds(self) -> list[RegisteredFeed]:
        return [feed for p in sorted(self._feeds) for feed in self._feeds[p].values()]

    @property
    def owned_partitions(self) -> list[int]:
        return sorted(self._feeds)

    @property
    def ready(self) -> bool:
        """Assigned at least one partition and loaded everything assigned."""
        return bool(self._feeds) and not self._pending

    def poll_membership(self, timeout_s: float = 0.0) -> list[RegisteredFeed]:
        """Serve the group (join, rebalance), load newly assigned partitions, apply registry
        changes; return the feeds this poller owns now."""
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        loaded_now = self._load_pending()
        for tp, records in batches.items():
            if tp.partition in self._feeds and tp.partition not in loaded_now:
                self._apply(tp.partition, ((r.key, r.value) for r in records))
        return self.feeds

    def wait_ready(self, timeout_s: float = 60.0) -> list[RegisteredFeed]:
        """Poll the group until partitions are assigned and loaded (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready and time.monotonic() < deadline:
            self.poll_membership(timeout_s=0.5)
        return self.feeds

    def close(self) -> None:
        """Write pending states and leave the group, so the others take over at once."""
        try:
            self.store.flush()
        finally:
            self._consumer.close()  # sends LeaveGroup: an immediate rebalance
            self._producer.close()
            self._offsets.close()

    # --- rebalance callbacks (run inside consumer.poll) ---

    def _on_revoked(self, partitions: list[int]) -> None:
        self.rebalances += 1
        try:
            self.store.flush()
            self._producer.flush()  # tombstones too, before the end offsets are noted
            state_end = self._state_end_offsets(
                [p for p in partitions if p in self._feeds and p not in self._pending])
        except (StateFlushError, KafkaError) as exc:
            # The next owner re-polls from the last written state: at worst items that
            # were already produced are produced again (same id, overwritten downstream).
            log.error("could not write feed states before giving partitions up: %s", exc)
            state_end = {}
        for partition in partitions:
            feeds = self._feeds.pop(partition, None)
            if feeds is not None and partition in state_end:
                tp = TopicPartition(self.settings.feed_registry_topic, partition)
                self._kept[partition] = _KeptPartition(
                    feeds, self.store.partition_states(partition),
                    self._consumer.position(tp), state_end[partition])
            self._pending.discard(partition)
            self.store.drop_partition(partition)
        log.info("poller %s gave up partitions %s", self.poller_id, partitions)

    def _on_assigned(self, partitions: list[int]) -> None:
        for gone in set(self._kept) - set(partitions):
            del self._kept[gone]
        self._pending.update(partitions)
        if partitions:
            # No fetching from the group consumer until the partition is loaded.
            self._consumer.pause(*self._tps(partitions))
        log.info("poller %s assigned partitions %s", self.poller_id, partitions)

    def _load_pending(self) -> set[int]:
        """Load every newly assigned partition: reuse the unchanged ones, read the rest
        (all of them with one reader per topic). On failure they stay pending (retried on
        the next call) and are not exposed as owned."""
        pending = sorted(self._pending)
        if not pending:
            return set()
        to_read: list[int] = []
        try:
            to_read = [p for p in pending if not self._reuse(p)]
            if to_read:
                self._read(to_read)
        except (KafkaError, RegistryError) as exc:
            log.warning("loading partitions %s failed, retrying: %s", to_read, exc)
            for partition in to_read:
                self._feeds.pop(partition, None)
                self.store.drop_partition(partition)
            loaded = set(pending) - set(to_read)
        else:
            loaded = set(pending)
        self._pending -= loaded
        return loaded

    def _state_end_offsets(self, partitions: list[int]) -> dict[int, int]:
        tps = [TopicPartition(self.settings.poller_state_topic, p) for p in partitions]
        if not tps:
            return {}
        return {tp.partition: offset for tp, offset in self._offsets.end_offsets(tps).items()}

    def _reuse(self, partition: int) -> bool:
        kept = self._kept.pop(partition, None)
        if kept is None or self._state_end_offsets([partition]) != {partition: kept.state_end}:
            return False
        self._restore(partition, kept)
        return True

    def _read(self, partitions: list[int]) -> None:
        registry: dict[int, list[Any]] = {p: [] for p in partitions}
        for record in read_partitions(self._kafka, self.settings.feed_registry_topic,
                                      partitions):
            registry[record.partition].append(record)
        states: dict[int, dict[str, FeedState]] = {p: {} for p in partitions}
        for record in read_partitions(self._kafka, self.settings.poller_state_topic,
                                      partitions):
            url = record.key.decode("utf-8", errors="replace") if record.key else ""
            state = decode_state(record.key, record.value)
            if state is None:
                states[record.partition].pop(url, None)
            else:
                states[record.partition][url] = state
        for partition in partitions:
            self._install(partition, registry[partition], states[partition])

    def _install(self, partition: int, registry_records: list[Any],
                 states: dict[str, FeedState]) -> None:
        self.loads += 1
        feeds: dict[str, RegisteredFeed] = {}
        self._feeds[partition] = feeds
        self.store.load_partition(partition, [])
        self._apply(partition, ((r.key, r.value) for r in registry_records), load=True)
        # States of feeds no longer in the registry are garbage: tombstone them.
        for url in set(states) - set(feeds):
            self._producer.send(self.settings.poller_state_topic, key=url.encode("utf-8"),
                                value=None, partition=partition)
        self.store.load_partition(partition, [s for u, s in states.items() if u in feeds])
        tp = TopicPartition(self.settings.feed_registry_topic, partition)
        next_offset = registry_records[-1].offset + 1 if registry_records else 0
        self._consumer.seek(tp, next_offset)
        self._consumer.resume(tp)
        log.info("poller %s owns partition %d: %d feeds, %d states", self.poller_id,
                 partition, len(feeds), len(states))

    def _restore(self, partition: int, kept: _KeptPartition) -> None:
        """Back after a rebalance and nobody wrote its states meanwhile: reuse the copy and
        follow the registry from where this poller stopped."""
        self.reuses += 1
        self._feeds[partition] = kept.feeds
        self.store.load_partition(partition, kept.states)
        for url in kept.feeds:
            self.store.track(url, partition)
        tp = TopicPartition(self.settings.feed_registry_topic, partition)
        self._consumer.seek(tp, kept.registry_position)
        self._consumer.resume(tp)
        log.info("poller %s owns partition %d again: %d feeds, unchanged", self.poller_id,
                 partition, len(kept.feeds))

    def _apply(self, partition: int, records: Iterable[tuple[bytes | None, bytes | None]],
               load: bool = False) -> None:
        feeds = self._feeds[partition]
        for url, feed in registry_changes(records):
            if feed is not None:
                if not load and url not in feeds:
                    log.info("feed added: %s", url)
                feeds[url] = feed
                self.store.track(url, partition)
            elif url in feeds:
                del feeds[url]
                if not load:
                    log.info("feed removed: %s", url)
                    self.store.forget(url)

    def _tps(self, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self.settings.feed_registry_topic, p) for p in partitions]



def registry_snapshot(settings: Settings) -> tuple[dict[str, RegisteredFeed],
                                                   dict[str, FeedState]]:
    """Every registered feed and every stored state, read without joining the group (for
    ``pipeline feeds status``; the running pollers are not disturbed)."""
    from pipeline.kafka.registry import fold_registry

    kafka = settings.kafka_client_kwargs()
    feeds = fold_registry((r.key, r.value)
                          for r in read_partitions(kafka, settings.feed_registry_topic))
    states: dict[str, FeedState] = {}
    for record in read_partitions(kafka, settings.poller_state_topic):
        state = decode_state(record.key, record.value)
        if state is not None:
            states[state.url] = state
        elif record.key:
            states.pop(record.key.decode("utf-8", errors="replace"), None)
    return feeds, states
