"""Pure feed parsing: bytes in, Articles out. No network, no clock (``fetched_at`` is passed)."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from pipeline.models import Article

log = logging.getLogger(__name__)


class FeedParseError(ValueError):
    """The body is not a usable feed; the message is the reason shown to operators."""


@dataclass
class ParsedFeed:
    title: str
    language: str | None
    articles: list[Article]
    skipped: list[str] = field(default_factory=list)  # per-item reasons, for logs


def parse_feed(body: bytes, feed_url: str, fetched_at: datetime,
               content_type: str | None = None) -> ParsedFeed:
    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(body, response_headers=headers)
    if parsed.bozo and not parsed.entries:
        raise FeedParseError(f"not a parsable feed: {_bozo_reason(parsed)}")
    if not parsed.version and not parsed.entries:
        raise FeedParseError("not an RSS/Atom feed (no feed elements found)")
    channel = parsed.feed
    feed_title = str(channel.get("title", ""))
    language = channel.get("language")
    articles: list[Article] = []
    skipped: list[str] = []
    for position, entry in enumerate(parsed.entries, start=1):
        try:
            articles.append(_entry_to_article(entry, feed_url, feed_title, language, fetched_at))
        except ValueError as exc:
            skipped.append(f"item #{position}: {exc}")
    return ParsedFeed(feed_title, language, articles, skipped)


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unknown parser error"


def _entry_to_article(entry: Any, feed_url: str, feed_title: str, language: str | None,
                      fetched_at: datetime) -> Article:
    link = entry.get("link") or _permalink_guid(entry)
    if not link:
        raise ValueError("no link")
    title = str(entry.get("title", "")).strip()
    if not title and not entry.get("summary"):
        raise ValueError("neither title nor summary")
    return Article.create(
        url=link,
        title=title,
        feed_url=feed_url,
        feed_title=feed_title,
        summary=str(entry.get("summary", "")),
        content=_best_content(entry),
        authors=[a.get("name", "") for a in entry.get("authors", []) if a.get("name")],
        language_hint=language,
        published_at=_published(entry),
        fetched_at=fetched_at,
        guid=entry.get("id"),
    )


def _permalink_guid(entry: Any) -> str | None:
    guid = entry.get("id")
    if guid and entry.get("guidislink") and str(guid).startswith(("http://", "https://")):
        return str(guid)
    return None


def _best_content(entry: Any) -> str:
    """The longest full-content body (content:encoded / atom:content), else ''."""
    bodies = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    return max(bodies, key=len) if bodies else ""


def _published(entry: Any) -> datetime | None:
    # feedparser normalises every date format it knows into a UTC struct_time.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None
