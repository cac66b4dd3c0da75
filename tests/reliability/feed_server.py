"""A feed server for the reliability suite: N RSS feeds with known items, every request logged.

The set of article ids it has *served* (in a 200 response) is the ground truth every test
reconciles Elasticsearch against. Each feed has an ETag (304 on a match), and the server can
be paced (``min_gap_s`` between responses) so a poller run lasts long enough to be killed
in the middle.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

from pipeline.models import article_id
from pipeline.settings import SEEDS_DIR

# Long enough (> full_text_min_chars) that no poller fetches the article page instead.
_TEXTS = [p.read_text(encoding="utf-8")[:900]
          for p in sorted((SEEDS_DIR / "articles").glob("*.txt"))
          if not p.name.endswith("-fr.txt")]
_START = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    url: str
    title: str
    body: str
    published_at: datetime
    author: str | None = None

    @property
    def id(self) -> str:
        return article_id(self.url)


@dataclass(frozen=True)
class Request:
    path: str
    feed: int | None
    status: int
    started: float  # time.monotonic()
    finished: float
    if_none_match: str | None


@dataclass
class _Feed:
    items: list[Item] = field(default_factory=list)
    version: int = 0

    def etag(self, index: int) -> str:
        return f'"f{index}-v{self.version}"'


class FeedServer:
    """``feeds`` RSS feeds of ``items_per_feed`` items each, on 127.0.0.1, in a thread."""

    def __init__(self, run: str, feeds: int, items_per_feed: int, *, min_gap_s: float = 0.0,
                 author_every: int = 0):
        self.run = run
        self.min_gap_s = min_gap_s
        self.author_every = author_every  # every n-th item gets a dc:creator (0 = none)
        self._feeds = [_Feed() for _ in range(feeds)]
        self._lock = threading.Lock()
        self._pace = threading.Lock()
        self._next_slot = 0.0
        self._served: set[str] = set()
        self._counter = 0
        self.requests: list[Request] = []
        for index in range(feeds):
            self._add(index, items_per_feed)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- content ---------------------------------------------------------------------

    def _add(self, index: int, count: int) -> None:
        feed = self._feeds[index]
        for _ in range(count):
            n = self._counter
            self._counter += 1
            author = (f"Reporter {n}" if self.author_every and n % self.author_every == 0
                      else None)
            feed.items.append(Item(
                url=f"https://news{index % 7}.example.org/{self.run}/feed-{index}/story-{n}",
                title=f"Story {n} of feed {index}",
                body=f"{_TEXTS[n % len(_TEXTS)]}\n\nDispatch number {n} from feed {index}.",
                published_at=_START + timedelta(minutes=n),
                author=author))
        feed.version += 1

    def add_items(self, per_feed: int, feeds: range | None = None) -> list[Item]:
        """Publish ``per_feed`` new items in each feed (all by default); returns them."""
        with self._lock:
            added = []
            for index in range(len(self._feeds)) if feeds is None else feeds:
                before = len(self._feeds[index].items)
                self._add(index, per_feed)
                added.extend(self._feeds[index].items[before:])
            return added

    def pace(self, min_gap_s: float) -> None:
        """Change the spacing between responses from now on."""
        with self._pace:
            self.min_gap_s = min_gap_s
            self._next_slot = 0.0

    def render(self, index: int) -> bytes:
        feed = self._feeds[index]
        entries = []
        for item in reversed(feed.items):  # newest first, as publishers do
            creator = (f"<dc:creator>{escape(item.author)}</dc:creator>"
                       if item.author else "")
            entries.append(
                f"<item><title>{escape(item.title)}</title><link>{escape(item.url)}</link>"
                f"<guid isPermaLink=\"true\">{escape(item.url)}</guid>"
                f"<pubDate>{format_datetime(item.published_at)}</pubDate>{creator}"
                f"<description>{escape(item.body[:200])}</description>"
                f"<content:encoded>{escape(item.body)}</content:encoded></item>")
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Reliability feed {index}</title><link>https://news{index % 7}.example.org/"
            f"</link><description>test feed</description><language>en</language>"
            f"{''.join(entries)}</channel></rss>").encode()

    # --- what was served -------------------------------------------------------------

    @property
    def feed_count(self) -> int:
        return len(self._feeds)

    def all_ids(self) -> set[str]:
        with self._lock:
            return {item.id for feed in self._feeds for item in feed.items}

    def served_ids(self) -> set[str]:
        with self._lock:
            return set(self._served)

    def items(self) -> list[Item]:
        with self._lock:
            return [item for feed in self._feeds for item in feed.items]

    def feed_item_ids(self, index: int) -> set[str]:
        with self._lock:
            return {item.id for item in self._feeds[index].items}

    def log(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def feed_url(self, index: int) -> str:
        return f"{self.base_url}/feeds/{index}.xml"

    def write_feed_list(self, path: Path) -> Path:
        feeds = [{"url": self.feed_url(i), "name": f"reliability {i}", "language": "en"}
                 for i in range(len(self._feeds))]
        path.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        return path

    # --- HTTP ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wait_for_slot(self) -> None:
        with self._pace:
            if self.min_gap_s <= 0:
                return
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.min_gap_s
        time.sleep(max(0.0, slot - now))

    def _respond(self, path: str, if_none_match: str | None) -> tuple[int, dict[str, str],
                                                                        bytes, int | None]:
        name = path.rsplit("/", 1)[-1]
        if not (path.startswith("/feeds/") and name.endswith(".xml")
                and name[:-4].isdigit() and int(name[:-4]) < len(self._feeds)):
            return 404, {}, b"not found", None
        index = int(name[:-4])
        self._wait_for_slot()
        with self._lock:
            feed = self._feeds[index]
            etag = feed.etag(index)
            if if_none_match == etag:
                return 304, {"ETag": etag}, b"", index
            body = self.render(index)
            self._served.update(item.id for item in feed.items)
        headers = {"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"}
        return 200, headers, body, index

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                started = time.monotonic()
                if_none_match = self.headers.get("If-None-Match")
                status, headers, body, feed = server._respond(self.path, if_none_match)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    status = 499  # the poller went away mid-response (killed)
                with server._lock:
                    server.requests.append(Request(self.path, feed, status, started,
                                                   time.monotonic(), if_none_match))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler

