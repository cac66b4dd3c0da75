"""Full text: the fetch decision, extraction on canned pages, robots.txt, fallbacks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.models import Article
from pipeline.poller.fulltext import (
    ExtractionError,
    FullTextFetcher,
    PageFetchError,
    RobotsCache,
    extract_page,
    merge_page,
    needs_full_text,
)

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"
UA = "newspipe-test/1.0"
STORY_URL = "https://gazette.example.org/news/2026/11/20/storm-floods-coast"


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


class FakeSite:
    """An async ``get`` over canned responses; records every URL asked for."""

    def __init__(self, responses: dict[str, bytes | int]):
        self.responses = responses
        self.requests: list[str] = []

    async def get(self, url: str) -> bytes:
        self.requests.append(url)
        answer = self.responses.get(url, 404)
        if isinstance(answer, int):
            raise PageFetchError(url, f"HTTP {answer}", answer)
        return answer


def teaser(summary: str = "Hundreds of residents were moved to shelters…") -> Article:
    return Article.create(url=STORY_URL, title="Storm floods coastal towns",
                          feed_url="https://gazette.example.org/rss", summary=summary,
                          fetched_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


class TestDecision:
    @pytest.mark.parametrize(("mode", "text", "wanted"), [
        ("never", "short", False),
        ("always", "x" * 5000, True),
        ("auto", "A short teaser.", True),
        ("auto", "x" * 1000 + " and more …", True),
        ("auto", "x" * 1000 + " [...]", True),
        ("auto", "x" * 1000 + " Continue reading »", True),
        ("auto", "x" * 1000 + " Read more", True),
        ("auto", "x" * 1000 + " The end.", False),
        (None, "tiny", True),  # the default mode (auto) applies
    ])
    def test_modes(self, mode: str | None, text: str, wanted: bool) -> None:
        decided, reason = needs_full_text(mode, text, min_chars=400)
        assert decided is wanted and reason

    def test_default_mode_never(self) -> None:
        assert needs_full_text(None, "tiny", 400, default_mode="never")[0] is False

    def test_unknown_mode_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="full-text mode"):
            needs_full_text("sometimes", "x", 10)


class TestExtraction:
    def test_article_page_main_text_and_metadata(self) -> None:
        extracted = extract_page(page("storm-article.html"), STORY_URL)
        assert "emergency shelters overnight" in extracted.text
        assert "Tomas Reyes" in extracted.text
        # Navigation, cookie banner, related links and footer are not article text.
        for junk in ("Subscribe", "cookies", "Related stories", "All rights reserved"):
            assert junk not in extracted.text
        assert extracted.title == "Storm floods coastal towns as rivers burst their banks"
        assert extracted.author == "Maria Okafor"
        assert extracted.published_at == datetime(2026, 11, 20, tzinfo=UTC)

    def test_same_page_twice_extracts_twice(self) -> None:
        # A syndicated story fetched via two feeds: no cross-call deduplication.
        first = extract_page(page("storm-article.html"), STORY_URL)
        assert extract_page(page("storm-article.html"), STORY_URL + "?copy") == first

    def test_declared_legacy_charset(self) -> None:
        extracted = extract_page(page("retraites-cp1252.html"), "https://q.example.fr/r")
        assert "L’Assemblée nationale a adopté" in extracted.text
        assert extracted.title == "La réforme des retraites adoptée"
        assert extracted.published_at is None  # no date stated: none invented

    @pytest.mark.parametrize("html", [page("consent-wall.html"), b"", b"   ",
                                      b"\x00\xff\xfe binary", b"<html><body></body></html>"])
    def test_no_main_text(self, html: bytes) -> None:
        with pytest.raises(ExtractionError):
            extract_page(html, "https://x.example/a")

    def test_merge_keeps_feed_metadata_and_fills_gaps(self) -> None:
        extracted = extract_page(page("storm-article.html"), STORY_URL)
        merged = merge_page(teaser(), extracted)
        assert merged.content == extracted.text
        assert merged.title == "Storm floods coastal towns"  # the feed's title stays
        assert merged.authors == ["Maria Okafor"]
        assert merged.published_at == datetime(2026, 11, 20, tzinfo=UTC)
        assert merged.summary == teaser().summary and merged.id == teaser().id


class TestRobots:
    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def test_rules_for_our_user_agent_and_cache_per_host(self) -> None:
        site = FakeSite({"https://a.example/robots.txt":
                         b"User-agent: newspipe-test\nDisallow: /private/\n\n"
                         b"User-agent: *\nDisallow: /\n"})
        robots = RobotsCache(site.get, UA)

        async def check() -> list[bool]:
            return [await robots.allowed("https://a.example/news/1"),
                    await robots.allowed("https://a.example/private/2"),
                    await robots.allowed("https://a.example/news/3")]

        assert self.run(check()) == [True, False, True]
        assert site.requests == ["https://a.example/robots.txt"]  # fetched once

    def test_missing_robots_allows_unreachable_disallows(self) -> None:
        site = FakeSite({"https://gone.example/robots.txt": 404,
                         "https://down.example/robots.txt": 503})
        robots = RobotsCache(site.get, UA)
        assert self.run(robots.allowed("https://gone.example/x")) is True
        assert self.run(robots.allowed("https://down.example/x")) is False

    def test_refusal_says_whether_a_rule_or_an_unreadable_robots_txt_stopped_the_fetch(
            self) -> None:
        site = FakeSite({"https://a.example/robots.txt": b"User-agent: *\nDisallow: /\n",
                         "https://down.example/robots.txt": 503})
        robots = RobotsCache(site.get, UA)
        assert self.run(robots.refusal("https://a.example/x")) == \
            "robots.txt disallows fetching the page"
        unreadable = self.run(robots.refusal("https://down.example/x"))
        assert unreadable is not None
        assert "could not be read (HTTP 503)" in unreadable

    def test_error_answer_expires_sooner(self) -> None:
        now = [0.0]
        site = FakeSite({"https://down.example/robots.txt": 503})
        robots = RobotsCache(site.get, UA, clock=lambda: now[0])
        self.run(robots.allowed("https://down.example/x"))
        now[0] = 1800.0
        self.run(robots.allowed("https://down.example/x"))
        assert len(site.requests) == 1
        now[0] = 3700.0
        site.responses["https://down.example/robots.txt"] = b"User-agent: *\nAllow: /\n"
        assert self.run(robots.allowed("https://down.example/x")) is True
        assert len(site.requests) == 2


class TestFetcher:
    def fetcher(self, responses: dict[str, bytes | int]) -> tuple[FullTextFetcher, FakeSite]:
        site = FakeSite(responses)
        return FullTextFetcher(site.get, RobotsCache(site.get, UA), min_chars=400), site

    def test_summary_only_item_gets_the_page_text(self) -> None:
        fetcher, site = self.fetcher({STORY_URL: page("storm-article.html"),
                                      "https://gazette.example.org/robots.txt": b""})
        result = asyncio.run(fetcher.complete(teaser(), mode="auto"))
        assert result.fetched and "Porthaven" in result.article.content
        assert site.requests == ["https://gazette.example.org/robots.txt", STORY_URL]

    def test_complete_feed_text_is_not_fetched(self) -> None:
        fetcher, site = self.fetcher({})
        article = teaser().model_copy(update={"content": "Full story. " * 100})
        result = asyncio.run(fetcher.complete(article, mode="auto"))
        assert not result.fetched and result.article == article and site.requests == []

    @pytest.mark.parametrize(("responses", "reason"), [
        ({"https://gazette.example.org/robots.txt": b"User-agent: *\nDisallow: /news/\n"},
         "robots.txt disallows"),
        ({STORY_URL: 500}, "page fetch failed: HTTP 500"),
        ({STORY_URL: page("consent-wall.html")}, "no main text found"),
    ])
    def test_failures_keep_the_feed_text(self, responses: dict[str, bytes | int],
                                         reason: str, caplog: pytest.LogCaptureFixture
                                         ) -> None:
        fetcher, _ = self.fetcher(responses)
        caplog.set_level("INFO", logger="pipeline.poller.fulltext")
        result = asyncio.run(fetcher.complete(teaser(), mode="always"))
        assert not result.fetched and result.article == teaser()
        assert reason in result.reason
        assert reason in caplog.text


def test_off_by_default_unless_the_feed_asks() -> None:
    from pipeline.settings import Settings

    site = FakeSite({STORY_URL: page("storm-article.html")})
    fetcher = FullTextFetcher.from_settings(Settings(), site.get)
    assert not asyncio.run(fetcher.complete(teaser(), None)).fetched
    assert site.requests == []
    assert asyncio.run(fetcher.complete(teaser(), "auto")).fetched  # per-feed opt-in


def test_a_huge_page_is_cut_to_fit_one_kafka_message() -> None:
    from pipeline.poller.fulltext import ExtractedPage
    from pipeline.poller.parse import MAX_ARTICLE_BYTES

    huge = ExtractedPage(text="word " * 400_000, title=None, author=None, published_at=None)
    merged = merge_page(teaser(), huge)
    assert len(merged.to_json_bytes()) <= MAX_ARTICLE_BYTES
    assert merged.content.startswith("word word")
