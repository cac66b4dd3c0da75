"""Full text end to end: a summary-only feed in the registry, its article page on a local
server, the polling engine, the raw topic. Skipped until the engine takes a
``full_text`` fetcher (wiring: see the poller-scale notes)."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from pipeline.kafka.poll_loop import engine_poll_once, run_registry_poller
from pipeline.kafka.producer import ArticlePublisher
from pipeline.kafka.registry import FeedRegistry, RegisteredFeed
from pipeline.settings import Settings
from tests.integration.test_registry import feed_settings  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration
PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"


def engine_takes_full_text() -> bool:
    poller = pytest.importorskip("pipeline.poller.poller")
    engine = getattr(poller, "AsyncPoller", None)
    return engine is not None and "full_text" in inspect.signature(engine).parameters


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    routes: dict[str, tuple[str, bytes]] = {
        "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private/\n"),
        "/story/storm": ("text/html", (PAGES / "storm-article.html").read_bytes()),
        "/private/storm": ("text/html", (PAGES / "storm-article.html").read_bytes()),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            requests.append(self.path)
            if self.path == "/feed.xml":
                base = f"http://127.0.0.1:{server.server_address[1]}"
                items = "".join(
                    f"<item><title>Storm {n}</title><link>{base}{path}</link>"
                    f"<description>Residents moved to shelters…</description></item>"
                    for n, path in enumerate(["/story/storm", "/private/storm"]))
                body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                        f"{items}</channel></rss>").encode()
                content_type = "application/rss+xml"
            elif self.path in routes:
                content_type, body = routes[self.path]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_summary_only_items_are_published_with_the_page_text(
        feed_settings: Settings, site: tuple[str, list[str]]) -> None:  # noqa: F811
    if not engine_takes_full_text():
        pytest.skip("the polling engine does not take a full-text fetcher in this build")
    base, requests = site
    registry = FeedRegistry(feed_settings)
    registry.ensure_topics()
    registry.add([RegisteredFeed(f"{base}/feed.xml", "Gazette", full_text="auto")])
    publisher = ArticlePublisher(feed_settings.kafka_client_kwargs(), feed_settings.raw_topic)
    try:
        run_registry_poller(feed_settings, engine_poll_once(feed_settings, publisher),
                            every=None)
    finally:
        publisher.close()
    consumer = KafkaConsumer(feed_settings.raw_topic, **feed_settings.kafka_client_kwargs(),
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    # The session's raw topic also holds other tests' articles and deliberately broken
    # messages: keep this feed's articles only.
    articles = {}
    for message in consumer:
        try:
            article = json.loads(message.value)
        except ValueError:
            continue
        if isinstance(article, dict) and str(article.get("url", "")).startswith(base):
            articles[article["url"]] = article
    consumer.close()
    story, private = articles[f"{base}/story/storm"], articles[f"{base}/private/storm"]
    assert "Porthaven" in story["content"] and story["authors"] == ["Maria Okafor"]
    assert story["title"] == "Storm 0"  # the feed's title is kept
    assert private["content"] == "" and "Porthaven" not in json.dumps(private)
    assert requests.count("/robots.txt") == 1 and "/private/storm" not in requests
