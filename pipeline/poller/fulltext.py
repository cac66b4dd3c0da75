"""Full text: fetch the article page when a feed gives only a summary, and extract it.

Three separate parts, so each is testable alone:

- :func:`needs_full_text` decides (pure): per feed ``always | auto | never``; ``auto``
  fetches when the feed's text is shorter than a threshold or ends like a teaser ("…",
  "[...]", "Read more", "Continue reading").
- :func:`extract_page` extracts main text and metadata (title, author, date) from HTML with
  trafilatura (pure; no hand-written extraction).
- :class:`FullTextFetcher` fetches with the poller's politeness rules — the injected async
  ``get`` is the poller's own fetcher (per-host limits, User-Agent, size cap, SSRF guard) —
  and only where robots.txt allows our User-Agent (:class:`RobotsCache`, one robots.txt
  per host, cached).

When anything fails (robots disallows, HTTP error, no main text found) the article keeps
the feed's text and the reason is logged; full text never loses an item.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import urllib.robotparser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pipeline.models import Article
from pipeline.poller.parse import fit_in_a_message

log = logging.getLogger(__name__)

FULL_TEXT_MODES = ("always", "auto", "never")
MIN_EXTRACTED_CHARS = 200  # less than this is a cookie wall or a stub, not an article
ROBOTS_TTL_S = 24 * 3600.0
ROBOTS_ERROR_TTL_S = 3600.0
MAX_ROBOTS_BYTES = 512 * 1024

_TEASER_END = re.compile(
    r"(\.\.\.|…|\[\s*(?:\.\.\.|…)\s*\]|\b(?:read|see) (?:more|the full (?:story|article))"
    r"|continue reading|weiterlesen|lire la suite|leer más|leggi tutto)"
    r"[\s\W]*$",
    re.IGNORECASE)


class PageFetchError(Exception):
    """Fetching a page failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, url: str, reason: str, status: int | None = None):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class ExtractionError(ValueError):
    """No usable main text in the page; the message says why."""


# An async callable returning the body of a 2xx response and raising PageFetchError
# otherwise (the poller's fetcher, or httpx_getter below).
PageGetter = Callable[[str], Awaitable[bytes]]


def needs_full_text(mode: str | None, text: str, min_chars: int,
                    default_mode: str = "auto") -> tuple[bool, str]:
    """Whether to fetch the article page, and why (for logs)."""
    mode = mode or default_mode
    if mode == "never":
        return False, "full text off for this feed"
    if mode == "always":
        return True, "full text always fetched for this feed"
    if mode != "auto":
        raise ValueError(f"full-text mode must be one of {FULL_TEXT_MODES}, not {mode!r}")
    stripped = text.strip()
    if len(stripped) < min_chars:
        return True, f"feed text is short ({len(stripped)} < {min_chars} chars)"
    if _TEASER_END.search(stripped[-80:]):
        return True, "feed text ends like a teaser"
    return False, "feed text looks complete"


@dataclass(frozen=True)
class ExtractedPage:
    text: str
    title: str | None
    author: str | None
    published_at: datetime | None


def extract_page(html: bytes | str, url: str) -> ExtractedPage:
    """Main text and metadata of an article page (trafilatura); raises ExtractionError."""
    import trafilatura  # imported here: a second of start-up the poller only pays if used

    if not html or not (html.strip() if isinstance(html, str) else html.strip()):
        raise ExtractionError("empty page")
    try:
        document = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False,
            favor_precision=True,
            # Only dates the page states; no guessing from copyright lines or URLs.
            date_extraction_params={"extensive_search": False, "original_date": True})
    except Exception as exc:  # trafilatura/lxml raise many types on broken markup
        raise ExtractionError(f"extraction failed: {type(exc).__name__}: {exc}") from exc
    text = (getattr(document, "text", None) or "").strip()
    if len(text) < MIN_EXTRACTED_CHARS:
        raise ExtractionError(f"no main text found ({len(text)} chars extracted)")
    return ExtractedPage(text=text, title=getattr(document, "title", None) or None,
                         author=getattr(document, "author", None) or None,
                         published_at=_parse_date(getattr(document, "date", None)))


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def merge_page(article: Article, page: ExtractedPage) -> Article:
    """The article with the page's text as content; the feed's own metadata wins, the
    page's fills what the feed left out."""
    update: dict[str, object] = {"content": page.text}
    if not article.title.strip() and page.title:
        update["title"] = page.title
    if not article.authors and page.author:
        update["authors"] = [a.strip() for a in page.author.split(";") if a.strip()]
    if article.published_at is None and page.published_at is not None:
        update["published_at"] = page.published_at
    # A page can hold far more text than a feed item: the article must still fit one
    # Kafka message, or the producer refuses it and the whole feed stalls.
    return fit_in_a_message(article.model_copy(update=update))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RobotsCache:
    """robots.txt per host (scheme + host + port), fetched once and cached.

    RFC 9309: a robots.txt that does not exist (4xx) allows everything; one that cannot
    be fetched (5xx, network) disallows everything until retried (after an hour).
    """

    def __init__(self, get: PageGetter, user_agent: str, *,
                 clock: Callable[[], float] = time.monotonic):
        self._get = get
        self.user_agent = user_agent
        self._clock = clock
        self._parsers: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
        self._inflight: dict[str, asyncio.Future[urllib.robotparser.RobotFileParser]] = {}
        self._unreachable: dict[str, str] = {}  # origin -> why its robots.txt could not be read

    async def allowed(self, url: str) -> bool:
        return await self.refusal(url) is None

    async def refusal(self, url: str) -> str | None:
        """None when ``url`` may be fetched, else why not (a disallow rule, or a robots.txt
        that could not be read, e.g. refused by the address guard)."""
        parser = await self._parser_for(url)
        if parser.can_fetch(self.user_agent, url):
            return None
        origin = _origin(url)
        if origin in self._unreachable:
            return (f"robots.txt of {origin} could not be read "
                    f"({self._unreachable[origin]}): no pages fetched there for now")
        return "robots.txt disallows fetching the page"

    async def _parser_for(self, url: str) -> urllib.robotparser.RobotFileParser:
        origin = _origin(url)
        cached = self._parsers.get(origin)
        if cached and cached[0] > self._clock():
            return cached[1]
        # Items of one feed ask at the same moment: one robots.txt request per host.
        pending = self._inflight.get(origin)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(origin))
            self._inflight[origin] = pending
            pending.add_done_callback(lambda _done: self._inflight.pop(origin, None))
        return await asyncio.shield(pending)

    async def _fetch(self, origin: str) -> urllib.robotparser.RobotFileParser:
        parser = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
        ttl = ROBOTS_TTL_S
        self._unreachable.pop(origin, None)
        try:
            body = await self._get(origin + "/robots.txt")
            lines = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace").splitlines()
        except PageFetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                lines = []  # no robots.txt: everything allowed
            else:
                lines = ["User-agent: *", "Disallow: /"]
                ttl = ROBOTS_ERROR_TTL_S
                self._unreachable[origin] = exc.reason
                log.info("robots.txt of %s unreachable (%s): not fetching pages there for now",
                         origin, exc.reason)
        parser.parse(lines)
        parser.modified()  # can_fetch() answers False until the parser counts as read
        self._parsers[origin] = (self._clock() + ttl, parser)
        return parser


@dataclass
class FullTextResult:
    article: Article
    fetched: bool  # the page was fetched and its text used
    reason: str


class FullTextFetcher:
    """Fetch and extract article pages for the feeds that need it."""

    def __init__(self, get: PageGetter, robots: RobotsCache, *, min_chars: int = 400,
                 default_mode: str = "auto"):
        self._get = get
        self.robots = robots
        self.min_chars = min_chars
        self.default_mode = default_mode

    async def complete(self, article: Article, mode: str | None) -> FullTextResult:
        """The article with full text when needed and possible; otherwise unchanged."""
        feed_text = article.content if len(article.content) >= len(article.summary) \
            else article.summary
        wanted, why = needs_full_text(mode, feed_text, self.min_chars, self.default_mode)
        if not wanted:
            return FullTextResult(article, False, why)
        refusal = await self.robots.refusal(article.url)
        if refusal is not None:
            return self._kept(article, refusal)
        try:
            html = await self._get(article.url)
        except PageFetchError as exc:
            return self._kept(article, f"page fetch failed: {exc.reason}")
        try:
            page = extract_page(html, article.url)
        except ExtractionError as exc:
            return self._kept(article, str(exc))
        return FullTextResult(merge_page(article, page), True, why)

    @classmethod
    def from_settings(cls, settings: Any, get: PageGetter) -> FullTextFetcher:
        """With the configured threshold and default mode; ``get`` is the poller's fetcher
        (:func:`fetcher_getter`) so pages share its per-host limits."""
        return cls(get, RobotsCache(get, settings.user_agent),
                   min_chars=settings.full_text_min_chars,
                   default_mode=settings.full_text_default)

    async def complete_many(self, articles: list[Article], mode: str | None) -> list[Article]:
        """:meth:`complete` for a feed's new items, concurrently (the fetcher's per-host
        limits still space the requests); order kept, nothing dropped."""
        results = await asyncio.gather(*(self.complete(a, mode) for a in articles),
                                       return_exceptions=True)
        completed = []
        for article, result in zip(articles, results, strict=True):
            if isinstance(result, FullTextResult):
                completed.append(result.article)
            elif isinstance(result, Exception):  # a bug or an odd fetcher: keep the item
                self._kept(article, f"unexpected {type(result).__name__}: {result}")
                completed.append(article)
            else:  # cancellation and the like are not ours to swallow
                raise result
        return completed

    @staticmethod
    def _kept(article: Article, reason: str) -> FullTextResult:
        log.info("full text of %s not used, keeping the feed's text: %s", article.url, reason,
                 extra={"feed_url": article.feed_url, "reason": reason})
        return FullTextResult(article, False, reason)


def httpx_getter(client: object, max_bytes: int) -> PageGetter:
    """A :data:`PageGetter` over an ``httpx.AsyncClient`` (User-Agent and timeouts set on
    the client), with a size cap; for use until the poller's own fetcher is passed in."""
    import httpx

    assert isinstance(client, httpx.AsyncClient)

    async def get(url: str) -> bytes:
        try:
            async with client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise PageFetchError(url, f"HTTP {response.status_code}",
                                         response.status_code)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PageFetchError(url, f"page too large (over {max_bytes} bytes)")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise PageFetchError(url, f"network error: {exc or type(exc).__name__}") from exc

    return get


PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


def fetcher_getter(fetcher: Any) -> PageGetter:
    """A :data:`PageGetter` over the polling engine's ``Fetcher``: article pages get the
    same per-host limits, User-Agent, size cap and address guard as feeds."""

    async def get(url: str) -> bytes:
        try:
            result = await fetcher.fetch(url, accept=PAGE_ACCEPT)
        except Exception as exc:  # the engine's FetchError: transport-level failures
            reason = getattr(exc, "reason", None)
            if reason is None:
                raise
            raise PageFetchError(url, str(reason)) from exc
        if result.status != 200:
            raise PageFetchError(url, f"HTTP {result.status}", result.status)
        return bytes(result.body)

    return get
