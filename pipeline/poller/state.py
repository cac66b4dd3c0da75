"""What the poller remembers between runs: per-feed validators and the ids already sent.

Kept in one JSON file under the state dir, written atomically (write + rename) so a crash
never leaves half a file. The seen-set is bounded per feed: a feed only ever repeats its
recent items, so the newest ``MAX_SEEN_PER_FEED`` ids are enough to suppress repeats.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.poller.fetch import Validators

MAX_SEEN_PER_FEED = 5000
# Across feeds: the same story syndicated by several feeds, or a feed that moved to a new
# URL, is still sent once.
MAX_SENT_GLOBAL = 200_000


@dataclass
class FeedState:
    etag: str | None = None
    last_modified: str | None = None
    seen_ids: list[str] = field(default_factory=list)  # oldest first

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    def remember(self, ids: list[str]) -> None:
        known = set(self.seen_ids)
        self.seen_ids.extend(i for i in ids if i not in known)
        del self.seen_ids[:-MAX_SEEN_PER_FEED]


class PollerState:
    def __init__(self, path: Path):
        self.path = path
        self.feeds: dict[str, FeedState] = {}
        # Insertion-ordered dict as a bounded set: oldest ids are dropped first.
        self.sent: dict[str, None] = {}
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.feeds = {url: FeedState(**data) for url, data in raw.get("feeds", {}).items()}
            self.sent = dict.fromkeys(raw.get("sent", []))

    def was_sent(self, article_id: str) -> bool:
        return article_id in self.sent

    def mark_sent(self, ids: list[str]) -> None:
        self.sent.update(dict.fromkeys(ids))
        excess = len(self.sent) - MAX_SENT_GLOBAL
        if excess > 0:
            for oldest in list(itertools.islice(self.sent, excess)):
                del self.sent[oldest]

    def feed(self, url: str) -> FeedState:
        return self.feeds.setdefault(url, FeedState())

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"feeds": {url: vars(state) for url, state in self.feeds.items()},
                "sent": list(self.sent)}
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)
