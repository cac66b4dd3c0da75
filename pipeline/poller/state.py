"""What the poller remembers about each feed, and where it keeps it.

:class:`FeedState` is the one record per feed URL: HTTP validators, schedule, failures,
health and the bounded seen-set. It is plain JSON (``to_dict``/``from_dict``) so the same
record can live in a local file (:class:`PollerState`, single poller) or in the compacted
Kafka topic ``news.poller.state`` keyed by feed URL (scale-out). Both implement
:class:`StateStore`; the poller only talks to that protocol.

The seen-set is bounded per feed: a feed only ever repeats its recent items, so the newest
``MAX_SEEN_PER_FEED`` ids are enough to suppress repeats.

Durability of "sent": a whole-state write is too slow to follow every publish (10,000 feeds
are ~0.5 s of JSON), so the engine calls :meth:`StateStore.record_sent` right after Kafka
acknowledged a feed's batch. The file store appends one fsynced line to a journal next to
the state file (replayed on load, emptied by every checkpoint); the Kafka store writes that
feed's state record and waits for its ack. Either way a restart after ``kill -9`` knows
every item acknowledged before the record was written.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from pipeline.poller.fetch import Validators

log = logging.getLogger(__name__)

MAX_SEEN_PER_FEED = 5000
# Across feeds: the same story syndicated by several feeds, or a feed that moved to a new
# URL, is still sent once.
MAX_SENT_GLOBAL = 200_000
STATE_VERSION = 2


@dataclass
class FeedState:
    """Per-feed memory. Times are epoch seconds (UTC); ``None`` = never happened."""

    url: str = ""
    # Conditional GET and change detection
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    # Schedule
    next_poll_at: float = 0.0
    interval_s: float | None = None  # current adaptive interval (before jitter/backoff)
    # Health
    last_polled_at: float | None = None
    last_success_at: float | None = None
    last_new_item_at: float | None = None
    last_error_at: float | None = None
    last_error: str | None = None
    last_error_class: str | None = None
    consecutive_failures: int = 0
    polls: int = 0
    not_modified: int = 0
    items_produced: int = 0
    new_item_times: list[float] = field(default_factory=list)  # bounded, for items/day
    retired: bool = False
    retired_reason: str | None = None
    # Permanent redirects are only followed after being seen repeatedly
    redirect_target: str | None = None
    redirect_seen: int = 0
    # Dedup: newest last
    seen_ids: list[str] = field(default_factory=list)
    version: int = STATE_VERSION
    # --- added by the polling engine (issue 3) ---
    # The URL actually polled once a permanent redirect was confirmed (None = ``url``).
    current_url: str | None = None
    first_polled_at: float | None = None
    last_status: str | None = None  # ok | not_modified | error | retired
    last_http_status: int | None = None
    # The feed's own hint (<ttl>, sy:updatePeriod) in seconds; kept because an unchanged
    # body is not parsed again.
    publisher_interval_s: float | None = None
    # article id -> the item's <updated> time when first/last sent, to re-send updates.
    item_versions: dict[str, float] = field(default_factory=dict)

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    def remember(self, ids: list[str]) -> None:
        known = set(self.seen_ids)
        self.seen_ids.extend(i for i in ids if i not in known)
        dropped = self.seen_ids[:-MAX_SEEN_PER_FEED]
        del self.seen_ids[:-MAX_SEEN_PER_FEED]
        for old in dropped:
            self.item_versions.pop(old, None)

    def to_dict(self) -> dict[str, Any]:
        # Shallow copies, not dataclasses.asdict: its deep copy made saving 10,000 feed
        # states take seconds.
        return {name: (list(value) if isinstance(value, list)
                       else dict(value) if isinstance(value, dict) else value)
                for name, value in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedState:
        """Tolerant of older/newer records: unknown keys are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class StateStore(Protocol):
    """Where feed states live. ``get`` never fails: an unknown feed gets a fresh state."""

    def get(self, url: str) -> FeedState: ...

    def put(self, state: FeedState) -> None: ...

    def all(self) -> Iterable[FeedState]: ...

    def was_sent(self, article_id: str) -> bool: ...

    def mark_sent(self, ids: list[str]) -> None: ...

    def record_sent(self, state: FeedState, ids: list[str]) -> None:
        """Make durable, before returning, that Kafka acknowledged ``ids`` of ``state``'s
        feed (``state`` already remembers them). Called from a worker thread while the
        event loop goes on using the store: read ``state``, and touch shared structures
        only under a lock. Never called for a poll that sent nothing (304, same body)."""
        ...

    def flush(self) -> None: ...


class PollerState:
    """The local-file :class:`StateStore`: one JSON file, written atomically (the
    checkpoint), plus an append-only journal of acknowledged batches since then
    (``state.journal`` next to ``state.json``, one JSON line per batch)."""

    def __init__(self, path: Path):
        self.path = path
        self.journal_path = path.with_name(path.stem + ".journal")
        self.feeds: dict[str, FeedState] = {}
        # Insertion-ordered dict as a bounded set: oldest ids are dropped first.
        self.sent: dict[str, None] = {}
        # Appends (worker threads) vs the truncation at a checkpoint (event loop).
        self._journal_lock = threading.Lock()
        self._journal_ends_clean = False  # known to end with a newline (or be empty)
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.feeds = {url: FeedState.from_dict({**data, "url": url})
                          for url, data in raw.get("feeds", {}).items()}
            self.sent = dict.fromkeys(raw.get("sent", []))
        self.replayed = self._replay_journal()

    def was_sent(self, article_id: str) -> bool:
        return article_id in self.sent

    def mark_sent(self, ids: list[str]) -> None:
        self.sent.update(dict.fromkeys(ids))
        excess = len(self.sent) - MAX_SENT_GLOBAL
        if excess > 0:
            for oldest in list(itertools.islice(self.sent, excess)):
                del self.sent[oldest]

    def record_sent(self, state: FeedState, ids: list[str]) -> None:
        """Append ``{"feed", "ids", "versions"}`` to the journal, flushed and fsynced."""
        if not ids:
            return
        versions = {i: state.item_versions[i] for i in ids if i in state.item_versions}
        line = json.dumps({"feed": state.url, "ids": ids, "versions": versions},
                          separators=(",", ":")).encode("utf-8") + b"\n"
        with self._journal_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.journal_path, "ab") as journal:
                # A line torn by a crash has no newline: end it, so that this one stays
                # readable (the torn one is skipped on replay). Checked once per process.
                if (not self._journal_ends_clean and journal.tell() > 0
                        and not self._ends_with_newline()):
                    line = b"\n" + line
                journal.write(line)
                journal.flush()
                os.fsync(journal.fileno())
                self._journal_ends_clean = True

    def feed(self, url: str) -> FeedState:
        return self.feeds.setdefault(url, FeedState(url=url))

    def get(self, url: str) -> FeedState:
        return self.feed(url)

    def put(self, state: FeedState) -> None:
        self.feeds[state.url] = state

    def all(self) -> Iterable[FeedState]:
        return list(self.feeds.values())

    def flush(self) -> None:
        self.save()

    def save(self) -> None:
        """Checkpoint: write the whole state atomically (fsynced), then empty the journal,
        whose batches the state now contains."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"version": STATE_VERSION,
                "feeds": {url: state.to_dict() for url, state in self.feeds.items()},
                "sent": list(self.sent)}
        with open(tmp, "wb") as out:
            out.write(json.dumps(data).encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        with self._journal_lock:
            if self.journal_path.exists() and self.journal_path.stat().st_size:
                os.truncate(self.journal_path, 0)
            self._journal_ends_clean = True

    def _ends_with_newline(self) -> bool:
        with open(self.journal_path, "rb") as journal:
            journal.seek(-1, os.SEEK_END)
            return journal.read(1) == b"\n"

    def _replay_journal(self) -> int:
        """Apply the journal's batches to the loaded checkpoint; returns how many. A line
        that does not decode (the last one, torn by a crash mid-write) is skipped."""
        try:
            lines = self.journal_path.read_bytes().splitlines()
        except FileNotFoundError:
            return 0
        applied = 0
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                batch = json.loads(line)
                url, ids = str(batch["feed"]), [str(i) for i in batch["ids"]]
                versions = {str(k): float(v) for k, v in batch.get("versions", {}).items()}
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("%s line %d: skipping an unreadable journal entry (%s)",
                            self.journal_path, number, exc)
                continue
            state = self.feed(url)
            state.remember(ids)
            seen = set(state.seen_ids)
            state.item_versions.update({i: v for i, v in versions.items() if i in seen})
            # A batch both in the checkpoint and in the journal (a checkpoint ran between
            # the ack and the append) is applied twice: harmless for the sets, and at
            # worst over-counts this statistic.
            state.items_produced += len(ids)
            self.mark_sent(ids)
            applied += 1
        return applied
