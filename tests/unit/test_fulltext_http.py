"""Full text over real HTTP on loopback: robots.txt, size cap, fallbacks, request pattern."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.models import Article
from pipeline.poller.fulltext import (
    FullTextFetcher,
    PageFetchError,
    RobotsCache,
    fetcher_getter,
    httpx_getter,
)
from pipeline.settings import Settings

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"
UA = "newspipe-test/1.0 (+https://example.org/contact)"
ROUTES: dict[str, tuple[int, bytes]] = {
    "/robots.txt": (200, b"User-agent: *\nDisallow: /members/\n"),
    "/news/storm": (200, (PAGES / "storm-article.html").read_bytes()),
    "/news/consent": (200, (PAGES / "consent-wall.html").read_bytes()),
    "/members/storm": (200, (PAGES / "storm-article.html").read_bytes()),
    "/news/huge": (200, b"<html><body><p>" + b"x" * 300_000 + b"</p></body></html>"),
}


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    requests: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            requests.append((self.path, self.headers.get("User-Agent", "")))
            status, body = ROUTES.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()  # no Content-Length: the cap must hold mid-stream
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def article(url: str) -> Article:
    return Article.create(url=url, title="Storm", feed_url="http://feeds.example/rss",
                          summary="Residents moved to shelters…",
                          fetched_at=datetime(2026, 11, 20, tzinfo=UTC))


def run_batch(base: str, paths: list[str], max_bytes: int = 100_000) -> list[Article]:
    async def go() -> list[Article]:
        async with httpx.AsyncClient(headers={"User-Agent": UA}, timeout=5) as client:
            get = httpx_getter(client, max_bytes)
            settings = Settings(user_agent=UA, full_text_min_chars=400, full_text_default="auto")
            fetcher = FullTextFetcher.from_settings(settings, get)
            return await fetcher.complete_many([article(base + p) for p in paths], None)

    return asyncio.run(go())


def test_pages_fetched_politely_and_failures_keep_the_feed_text(
        site: tuple[str, list[tuple[str, str]]]) -> None:
    base, requests = site
    requests.clear()
    paths = ["/news/storm", "/news/consent", "/members/storm", "/news/huge", "/news/missing"]
    storm, consent, members, huge, missing = run_batch(base, paths)
    assert "Porthaven" in storm.content and storm.authors == ["Maria Okafor"]
    for kept, path in ((consent, "/news/consent"), (members, "/members/storm"),
                       (huge, "/news/huge"), (missing, "/news/missing")):
        assert kept == article(base + path)  # unchanged: the feed's text stays
    # robots.txt once for the host, our User-Agent everywhere, nothing under /members/.
    fetched = [path for path, _ in requests]
    assert fetched.count("/robots.txt") == 1 and fetched[0] == "/robots.txt"
    assert "/members/storm" not in fetched
    assert {ua for _, ua in requests} == {UA}


def test_getter_maps_statuses_and_caps_size(site: tuple[str, list[tuple[str, str]]]) -> None:
    base, _ = site

    async def get(path: str, max_bytes: int = 100_000) -> bytes:
        async with httpx.AsyncClient(timeout=5) as client:
            return await httpx_getter(client, max_bytes)(base + path)

    with pytest.raises(PageFetchError) as missing:
        asyncio.run(get("/nope"))
    assert missing.value.status == 404
    with pytest.raises(PageFetchError, match="page too large"):
        asyncio.run(get("/news/huge", max_bytes=1000))
    with pytest.raises(PageFetchError, match="network error"):
        asyncio.run(httpx_getter(httpx.AsyncClient(timeout=1), 10)("http://127.0.0.1:1/"))


class EngineLikeFetcher:
    """The polling engine's Fetcher surface: fetch(url, accept=...) -> result with status
    and body; transport failures raise an error with a ``reason``."""

    class Failure(Exception):
        def __init__(self, reason: str):
            super().__init__(reason)
            self.reason = reason

    class Result:
        def __init__(self, status: int, body: bytes):
            self.status, self.body = status, body

    def __init__(self, routes: dict[str, Any]):
        self.routes = routes
        self.accepts: list[str] = []

    async def fetch(self, url: str, accept: str = "") -> Result:
        self.accepts.append(accept)
        answer = self.routes[url]
        if isinstance(answer, Exception):
            raise answer
        return self.Result(*answer)


def test_adapter_for_the_engines_fetcher() -> None:
    engine = EngineLikeFetcher({"https://a.example/robots.txt": (404, b""),
                                "https://a.example/ok": (200, b"<html>page</html>"),
                                "https://a.example/gone": (410, b""),
                                "https://a.example/down": EngineLikeFetcher.Failure("timed out")})
    get = fetcher_getter(engine)
    assert asyncio.run(get("https://a.example/ok")) == b"<html>page</html>"
    with pytest.raises(PageFetchError) as gone:
        asyncio.run(get("https://a.example/gone"))
    assert gone.value.status == 410
    with pytest.raises(PageFetchError, match="timed out"):
        asyncio.run(get("https://a.example/down"))
    assert asyncio.run(RobotsCache(get, UA).allowed("https://a.example/ok")) is True
    assert all(accept.startswith("text/html") for accept in engine.accepts)
