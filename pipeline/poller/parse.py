"""Pure feed parsing: bytes in, Articles out. No network, no clock (``fetched_at`` is passed).

Publisher input is untrusted. What this module does about the usual trouble, and the reason
class it reports (logs, ``FeedState.last_error_class``, metric labels):

* whole feed refused (:class:`FeedParseError`): ``entity_declarations`` (a DOCTYPE that
  declares entities: billion-laughs bombs and external-entity reads are refused before
  any parser sees them), ``binary_not_feed`` (control bytes: an image, an archive...),
  ``html_not_feed``, ``not_a_feed``, ``parse``;
* item dropped (``ParsedFeed.skipped``): ``unsafe_link`` (javascript:, data:, file: ...),
  ``link_too_long`` (over ``MAX_LINK_CHARS``), ``no_link``, ``empty_item``,
  ``duplicate_item`` (same canonical URL twice in one feed: the first wins),
  ``invalid_item``;
* item kept with a fix (``ParsedFeed.notes``): ``future_date`` (clamped to fetched_at),
  ``truncated_field`` (1 MB titles, text too long for one Kafka message),
  ``too_many_items`` (only the first
  ``max_items`` are used), ``charset_mismatch`` (the declared charset was wrong and
  feedparser fell back to another), ``invalid_utf8`` (a UTF-8 feed with a few broken
  byte sequences: those become U+FFFD instead of the whole feed being re-read as
  windows-1252, which would garble every accented letter in it).

Relative links are resolved against ``xml:base`` and, failing that, the feed's own URL;
dates in any zone feedparser understands become UTC; unparsable dates become ``None``.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.models import Article
from pipeline.poller.etiquette import feed_interval_s

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 50_000
MAX_CONTENT_CHARS = 1_000_000
DEFAULT_MAX_ITEMS = 1_000
# Longer than any server accepts in a request line (8 KB is the usual limit). The canonical
# URL is an Elasticsearch keyword: past 32 KB the whole document would be rejected there,
# far from the feed that caused it.
MAX_LINK_CHARS = 8_192
# An Article must fit in one Kafka message: the producer refuses records over
# max_request_size (1 MiB by default, measured before compression) and the broker its
# message.max.bytes (also ~1 MiB). A bigger one would fail the publish of its whole feed's
# batch on every poll, so the feed's other items would never be sent either. Long text is
# cut to fit, with headroom for the record's own overhead.
MAX_ARTICLE_BYTES = 900 * 1024
# JSON escapes a character to at most 6 bytes (\u00XX): below this many characters of
# text, an article cannot reach MAX_ARTICLE_BYTES and is not serialised to check.
_SURELY_FITS_CHARS = MAX_ARTICLE_BYTES // 6 - 20_000
# A feed clock a few minutes ahead is normal; beyond this the date is a lie.
FUTURE_TOLERANCE = timedelta(minutes=10)
# The prolog (XML declaration, DOCTYPE) must come before the root element.
_PROLOG_BYTES = 64 * 1024
_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<\s*(html|!doctype\s+html)[\s>]", re.IGNORECASE)
# C0 control bytes other than tab/LF/CR never appear in XML 1.0 text.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BINARY_SAMPLE = 4096
_BINARY_SHARE = 0.05
_DECLARED_CHARSET = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)""",
                               re.IGNORECASE)
_CONTENT_TYPE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


class FeedParseError(ValueError):
    """The body is not a usable feed; the message is the reason shown to operators."""

    def __init__(self, reason: str, reason_class: str = "parse"):
        super().__init__(reason)
        self.reason_class = reason_class


class ItemSkipped(ValueError):
    def __init__(self, reason_class: str, detail: str):
        super().__init__(detail)
        self.reason_class = reason_class


@dataclass
class ParsedFeed:
    title: str
    language: str | None
    articles: list[Article]
    skipped: list[str] = field(default_factory=list)  # "item #N: reason", for logs
    skip_classes: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    # Publisher's polling hint from <ttl> / sy:updatePeriod, in seconds.
    interval_hint_s: float | None = None
    # article id -> the item's <updated> time (epoch s), for re-sending updated items.
    versions: dict[str, float] = field(default_factory=dict)


def parse_feed(body: bytes, feed_url: str, fetched_at: datetime,
               content_type: str | None = None,
               max_items: int = DEFAULT_MAX_ITEMS) -> ParsedFeed:
    _refuse_binary(body)
    _refuse_entity_declarations(body)
    body, repaired_utf8 = _repair_utf8(body, content_type)
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, resolve_relative_uris=True,
                              sanitize_html=True)
    if not parsed.version and not parsed.entries:
        if _HTML_ROOT.search(body[:_PROLOG_BYTES]):
            raise FeedParseError("an HTML page, not an RSS/Atom feed", "html_not_feed")
        if parsed.bozo:
            raise FeedParseError(f"not a parsable feed: {_bozo_reason(parsed)}", "parse")
        raise FeedParseError("not an RSS/Atom feed (no feed elements found)", "not_a_feed")
    channel = parsed.feed
    feed_title = _truncate(str(channel.get("title", "")), MAX_TITLE_CHARS)[0]
    language = channel.get("language")
    result = ParsedFeed(feed_title, language, [], interval_hint_s=feed_interval_s(channel))
    if parsed.bozo and type(parsed.get("bozo_exception")).__name__ == (
            "CharacterEncodingOverride"):
        result.notes["charset_mismatch"] += 1
    if repaired_utf8:
        result.notes["invalid_utf8"] += 1
    entries = parsed.entries
    if len(entries) > max_items:
        result.notes["too_many_items"] += len(entries) - max_items
        entries = entries[:max_items]
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        try:
            article = _entry_to_article(entry, feed_url, feed_title, language, fetched_at,
                                        result.notes)
            if article.id in seen:
                raise ItemSkipped("duplicate_item", f"duplicate of an earlier item "
                                  f"({article.canonical_url[:200]})")
        except ItemSkipped as exc:
            result.skipped.append(f"item #{position}: {exc}")
            result.skip_classes[exc.reason_class] += 1
            continue
        except ValueError as exc:  # Article validation, URL canonicalisation
            result.skipped.append(f"item #{position}: invalid: {str(exc)[:200]}")
            result.skip_classes["invalid_item"] += 1
            continue
        seen.add(article.id)
        result.articles.append(article)
        updated = _struct_to_epoch(_updated_parsed(entry))
        if updated is not None:
            result.versions[article.id] = min(updated, fetched_at.timestamp())
    return result


def _refuse_entity_declarations(body: bytes) -> None:
    head = body[:_PROLOG_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOM: scan the text instead
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    if _ENTITY_DECLARATION.search(head.replace(b"\x00", b"")):
        raise FeedParseError("the document declares XML entities (refused: entity-expansion "
                             "bombs and external entities)", "entity_declarations")


def _refuse_binary(body: bytes) -> None:
    head = body[:_BINARY_SAMPLE]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        return  # UTF-16 (with or without a BOM): NUL bytes are expected
    if head and len(_CONTROL_BYTES.findall(head)) > _BINARY_SHARE * len(head):
        raise FeedParseError("binary data, not an RSS/Atom feed", "binary_not_feed")


def _repair_utf8(body: bytes, content_type: str | None) -> tuple[bytes, bool]:
    """A UTF-8 feed with a few broken byte sequences: replace them (U+FFFD).

    Left alone, feedparser re-reads the whole document as windows-1252 and turns every
    correctly encoded "é" into "Ã©". A body is taken for UTF-8 when nothing declares
    another charset and it holds at least one valid multi-byte sequence (legacy 8-bit
    text essentially never does); without any, it is left to feedparser's fallback.
    """
    try:
        body.decode("utf-8")
        return body, False
    except UnicodeDecodeError:
        pass
    declared = _CONTENT_TYPE_CHARSET.search(content_type or "")
    charset = declared.group(1).encode() if declared else None
    if charset is None:
        in_document = _DECLARED_CHARSET.search(body[:512])
        charset = in_document.group(1) if in_document else None
    if charset is not None and charset.lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return body, False
    text = body.decode("utf-8", errors="replace")
    if not any(ord(char) > 0x7F and char != "\ufffd" for char in text):
        return body, False
    return text.encode("utf-8"), True


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unknown parser error"


def _entry_to_article(entry: Any, feed_url: str, feed_title: str, language: str | None,
                      fetched_at: datetime, notes: Counter[str]) -> Article:
    link = _safe_link(entry.get("link") or _permalink_guid(entry), feed_url)
    title, cut_title = _truncate(str(entry.get("title", "")).strip(), MAX_TITLE_CHARS)
    summary, cut_summary = _truncate(str(entry.get("summary", "")), MAX_SUMMARY_CHARS)
    content, cut_content = _truncate(_best_content(entry), MAX_CONTENT_CHARS)
    if cut_title or cut_summary or cut_content:
        notes["truncated_field"] += 1
    if not title and not summary:
        raise ItemSkipped("empty_item", "neither title nor summary")
    published = _struct_to_epoch(entry.get("published_parsed") or _updated_parsed(entry)
                                 or entry.get("created_parsed"))
    published_at = None
    if published is not None:
        published_at = datetime.fromtimestamp(published, tz=UTC)
        if published_at > fetched_at + FUTURE_TOLERANCE:
            notes["future_date"] += 1
            published_at = fetched_at
    guid = entry.get("id")
    article = Article.create(
        url=link,
        title=title,
        feed_url=feed_url,
        feed_title=feed_title,
        summary=summary,
        content=content,
        authors=[str(a.get("name", ""))[:200] for a in entry.get("authors", [])
                 if a.get("name")][:20],
        language_hint=language,
        published_at=published_at,
        fetched_at=fetched_at,
        guid=str(guid)[:2000] if guid else None,
    )
    fitted = fit_in_a_message(article)
    if fitted is not article:
        notes["truncated_field"] += 1
    return fitted


def fit_in_a_message(article: Article) -> Article:
    """``article`` itself when its JSON fits :data:`MAX_ARTICLE_BYTES`, else a copy whose
    content (then summary) is cut until it does."""
    if len(article.content) + len(article.summary) < _SURELY_FITS_CHARS:
        return article
    for _ in range(8):  # each round cuts by the measured excess: two rounds in practice
        size = len(article.to_json_bytes())
        if size <= MAX_ARTICLE_BYTES:
            return article
        name = "content" if len(article.content) >= len(article.summary) else "summary"
        text = getattr(article, name)
        keep = int(len(text) * MAX_ARTICLE_BYTES / size * 0.98)
        article = article.model_copy(update={name: text[:keep]})
    return article


def _safe_link(link: str | None, feed_url: str) -> str:
    if not link:
        raise ItemSkipped("no_link", "no link")
    link = str(link).strip()
    if len(link) > MAX_LINK_CHARS:
        raise ItemSkipped("link_too_long", f"link of {len(link)} characters refused "
                          f"(limit {MAX_LINK_CHARS})")
    scheme = urlsplit(link).scheme.lower()
    if scheme in ("http", "https"):
        return link
    if scheme:  # javascript:, data:, vbscript:, file:, mailto: ...
        raise ItemSkipped("unsafe_link", f"link with scheme {scheme!r} refused")
    absolute = urljoin(feed_url, link)  # relative link that no xml:base resolved
    if urlsplit(absolute).scheme not in ("http", "https"):
        raise ItemSkipped("no_link", f"relative link {link[:100]!r} without a usable base")
    return absolute


def _permalink_guid(entry: Any) -> str | None:
    guid = entry.get("id")
    if guid and entry.get("guidislink") and str(guid).startswith(("http://", "https://")):
        return str(guid)
    return None


def _best_content(entry: Any) -> str:
    """The longest full-content body (content:encoded / atom:content), else ''."""
    bodies = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    return max(bodies, key=len) if bodies else ""


def _updated_parsed(entry: Any) -> Any:
    # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed (with a
    # DeprecationWarning), which would make every dated item look "updated".
    return dict.get(entry, "updated_parsed")


def _truncate(text: str, limit: int) -> tuple[str, bool]:
    return (text[:limit], True) if len(text) > limit else (text, False)


def _struct_to_epoch(value: Any) -> float | None:
    # feedparser normalises every date format it knows into a UTC struct_time.
    if not value:
        return None
    try:
        return float(calendar.timegm(value))
    except (TypeError, ValueError, OverflowError):
        return None

