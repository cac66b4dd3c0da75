"""A feed server for the hostile-input tests: one route per broken or hostile feed, each
with the reason class the poller must give it, and for the feeds that keep a valid part,
the items that must reach Elasticsearch.

Big bodies are streamed (a 200 MB body is one 64 KB chunk sent 3,200 times, never built in
memory); a canary server on another loopback address (127.0.0.2, outside the networks
the poller is allowed to reach) counts every TCP connection it accepts, so "the poller never
connected there" is observed, not assumed.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from pipeline.models import article_id
from pipeline.settings import REPO_ROOT

CHUNK = 64 * 1024
HUGE_BYTES = 200 * 1024 * 1024
MEGABYTE_TITLE = 1024 * 1024
TEN_THOUSAND = 10_000
SLOWLORIS_PAUSE_S = 0.5
ARTICLE_PAGE = (REPO_ROOT / "tests" / "data" / "pages" / "storm-article.html").read_bytes()
_STORY = ("The harbour council met on Tuesday evening and approved the budget for the new "
          "sea wall after a long debate about flooding in the lower town. Residents said "
          "the storms of the last winter had damaged dozens of homes along the quay.")


@dataclass(frozen=True)
class Expected:
    """An item that must be indexed, and what its stored title must look like."""

    url: str
    title: str  # the title as stored (cleaned); for 1 MB titles: its first 1,000 chars

    @property
    def id(self) -> str:
        return article_id(self.url)


@dataclass
class HostileFeed:
    path: str
    what: str  # the hostile input, for the report
    reason_class: str | None  # the poller's FeedState.last_error_class; None = polled ok
    send: Callable[[BaseHTTPRequestHandler], None]
    expected: list[Expected] = field(default_factory=list)
    note: str | None = None  # an item-level fix the poller must log (parse notes/skips)


def rss(items: list[str], *, encoding: str = "utf-8", title: str = "Hostile test feed") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{title}</title><link>https://hostile.example.org/</link>"
            f"<description>test</description><language>en</language>{''.join(items)}"
            "</channel></rss>")


def item(title: str, link: str, description: str = _STORY, extra: str = "") -> str:
    """An RSS item; ``title`` and ``description`` are inserted as given (already XML)."""
    return (f"<item><title>{title}</title><link>{escape(link)}</link>"
            f"<guid isPermaLink=\"false\">{escape(link)}</guid>"
            f"<pubDate>Sat, 01 Mar 2025 10:00:00 GMT</pubDate>"
            f"<description>{description}</description>{extra}</item>")


def _static(body: bytes, content_type: str = "application/rss+xml; charset=utf-8",
            status: int = 200, headers: dict[str, str] | None = None
            ) -> Callable[[BaseHTTPRequestHandler], None]:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return send


def _redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return _static(b"", "text/plain", 302, {"Location": location})


class HostileServer:
    """The corpus on 127.0.0.1 and the canary on 127.0.0.2, each in its own thread."""

    def __init__(self, run: str):
        self.run = run
        self.bytes_sent: dict[str, int] = {}
        self.seconds_open: dict[str, float] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.canary = Canary()
        self.feeds: dict[str, HostileFeed] = {}
        self.pages: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self._build_corpus()
        self._build_pages()

    # --- the corpus ---------------------------------------------------------------------

    def _url(self, feed: str, n: int) -> str:
        return f"https://hostile.example.org/{self.run}/{feed}/story-{n}"

    def _add(self, feed: HostileFeed) -> None:
        self.feeds[feed.path] = feed

    def _build_corpus(self) -> None:
        entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0">'
                "<channel><title>&j;</title></channel></rss>").encode()
        self._add(HostileFeed("/bomb.xml", "entity-expansion bomb (billion laughs)",
                              "entity_declarations", _static(bomb)))
        self._add(HostileFeed("/endless.xml", "endless body (no length, streamed forever)",
                              "too_large", self._endless))
        self._add(HostileFeed("/huge.xml", "200 MB body (chunked, no declared length)",
                              "too_large", self._huge))
        self._add(HostileFeed("/gzip-bomb.xml", "gzip bomb (~200 KB -> 200 MB)", "too_large",
                              self._gzip_bomb_sender()))
        self._add(HostileFeed("/slowloris.xml", "slowloris (1 byte every 0.5 s)", "timeout",
                              self._slowloris))
        self._add(HostileFeed("/page.html", "an HTML page instead of a feed", "html_not_feed",
                              _static(b"<!DOCTYPE html><html><head><title>Home</title></head>"
                                      b"<body><p>Welcome</p></body></html>", "text/html")))
        junk = bytes((n * 151 + 7) % 256 for n in range(64 * 1024))  # deterministic noise
        self._add(HostileFeed("/junk.bin", "binary junk", "binary_not_feed",
                              _static(junk, "application/octet-stream")))
        self._add(HostileFeed("/to-private.xml", "redirect to 10.0.0.1", "blocked_address",
                              _redirect("http://10.0.0.1/feed.xml")))
        self._add(HostileFeed("/to-metadata.xml", "redirect to 169.254.169.254",
                              "blocked_address",
                              _redirect("http://169.254.169.254/latest/meta-data/")))
        self._add(HostileFeed("/to-canary.xml", "redirect to another loopback host "
                              "(not allowed)", "blocked_address",
                              _redirect(f"{self.canary.base_url}/feed.xml")))
        self._add(HostileFeed("/loop-a.xml", "redirect loop", "redirect_loop",
                              _redirect("/loop-b.xml")))
        self.pages["/loop-b.xml"] = _redirect("/loop-a.xml")
        self._add(HostileFeed("/hops-0.xml", "ten redirects in a row", "too_many_redirects",
                              _redirect("/hops-1.xml")))
        for hop in range(1, 10):
            self.pages[f"/hops-{hop}.xml"] = _redirect(f"/hops-{hop + 1}.xml")
        self._add(HostileFeed("/header-bomb.xml", "a 100 KB response header", "protocol",
                              _static(rss([]).encode(), headers={"X-Junk": "j" * 100_000})))
        self._valid_part_feeds()

    def _valid_part_feeds(self) -> None:
        # Invalid UTF-8 bytes in an otherwise valid UTF-8 feed.
        broken = [Expected(self._url("utf8", n), f"Café crème {n} \ufffd\ufffd end")
                  for n in range(3)]
        body = rss([item(f"Café crème {n} \x00BAD end", e.url) for n, e in enumerate(broken)])
        self._add(HostileFeed("/invalid-utf8.xml", "invalid UTF-8 bytes in a UTF-8 feed",
                              None, _static(body.encode().replace(b"\x00BAD", b"\xff\xfe")),
                              broken, "invalid_utf8"))
        # Declared utf-8, windows-1252 bytes.
        legacy = [Expected(self._url("cp1252", n), f"Café “quoted” – {n}") for n in range(3)]
        body = rss([item(e.title, e.url) for e in legacy])
        self._add(HostileFeed("/cp1252-as-utf8.xml", "declared utf-8, windows-1252 bytes",
                              None, _static(body.encode("cp1252")), legacy,
                              "charset_mismatch"))
        # Declared iso-8859-1 (header and prolog), UTF-8 bytes.
        wrong = [Expected(self._url("latin1", n), f"Zürich «naïve» {n}") for n in range(3)]
        body = rss([item(e.title, e.url) for e in wrong], encoding="iso-8859-1")
        self._add(HostileFeed("/utf8-as-latin1.xml", "declared iso-8859-1, UTF-8 bytes", None,
                              _static(body.encode(), "application/rss+xml; charset=iso-8859-1"),
                              wrong))
        # 10,000 items; the poller keeps the first max_items (set by the test).
        many = [Expected(self._url("many", n), f"Item {n} of ten thousand")
                for n in range(TEN_THOUSAND)]
        body = rss([item(e.title, e.url, "Short.") for e in many])
        self._add(HostileFeed("/ten-thousand.xml", "10,000-item feed", None,
                              _static(body.encode()), many, "too_many_items"))
        # 1 MB titles.
        titles = [Expected(self._url("mega", n), (f"Mega {n} " + "w" * MEGABYTE_TITLE)[:1000])
                  for n in range(2)]
        body = rss([item(f"Mega {n} " + "w" * MEGABYTE_TITLE, e.url)
                    for n, e in enumerate(titles)])
        self._add(HostileFeed("/mega-titles.xml", "items with 1 MB titles", None,
                              _static(body.encode()), titles, "truncated_field"))
        # An item whose text (990,000 characters, under the poller's character cap) is
        # 1.1 MB of UTF-8: more than one Kafka message holds.
        big = [Expected(self._url("big", 0), "Huge item"), Expected(self._url("big", 1),
                                                                    "Normal item")]
        content = ("<content:encoded><![CDATA[" + "Grüße aus Zürich, café crème. " * 33_000
                   + "]]></content:encoded>")
        body = rss([item(big[0].title, big[0].url, extra=content),
                    item(big[1].title, big[1].url)])
        self._add(HostileFeed("/huge-item.xml", "an item with 1.1 MB of text", None,
                              _static(body.encode()), big, "truncated_field"))
        # javascript: and data: links next to a good one.
        good = Expected(self._url("links", 0), "A story with a proper link")
        body = rss([item("Click me", "javascript:alert(document.cookie)"),
                    item("Data me", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
                    item("VB me", "vbscript:msgbox(1)"),
                    item("Long me", "https://hostile.example.org/" + "a" * 100_000),
                    item(good.title, good.url)])
        self._add(HostileFeed("/links.xml", "items with javascript:, data:, vbscript: and "
                              "100 KB links",
                              None, _static(body.encode()), [good], "unsafe_link"))
        self._add(self._markup_feed())

    def _markup_feed(self) -> HostileFeed:
        """Good items whose title, description and content:encoded carry markup that must
        never reach the index: scripts, event handlers, iframes, styles, javascript: hrefs,
        and the same escaped as entities (decoding to tags)."""
        cases = [
            ("Harbour council approves budget &lt;script&gt;alert(1)&lt;/script&gt;",
             "Harbour council approves budget"),
            ("Storm &lt;img src=x onerror=alert(2)&gt;closes the quay",
             "Storm closes the quay"),
            ("<![CDATA[Ferry <b>strike</b> ends <script>alert(3)</script>]]>",
             "Ferry strike ends"),
        ]
        summary = escape(
            "<p>Summary <script>alert('s')</script><img src=x onerror=alert('i')> of the "
            "<a href=\"javascript:alert('a')\">meeting</a><iframe src=\"https://evil.example/"
            "\"></iframe><style>p{display:none}</style> &lt;script&gt;alert('e')"
            "&lt;/script&gt; ends here.</p>")
        content = ("<content:encoded><![CDATA[<p>" + _STORY + "</p><script>alert('c')</script>"
                   "<p>Mayor <a href=\"javascript:steal()\" onclick=\"steal()\">Anna Berg</a> "
                   "said the work starts in May.<img src=\"x\" onerror=\"alert('x')\"></p>"
                   "<iframe src=\"javascript:alert('f')\"></iframe>"
                   "<style>body{background:url(javascript:alert('y'))}</style>"
                   "<p>&lt;script&gt;alert('escaped')&lt;/script&gt;Repairs follow.</p>]]>"
                   "</content:encoded>")
        expected = [Expected(self._url("markup", n), clean) for n, (_raw, clean) in
                    enumerate(cases)]
        body = rss([item(raw, e.url, summary, content)
                    for (raw, _clean), e in zip(cases, expected, strict=True)],
                   title="Markup &lt;script&gt;alert('feed')&lt;/script&gt; Gazette")
        return HostileFeed("/markup.xml", "script/img onerror/iframe/style/javascript: hrefs "
                           "and entity-escaped tags in title, summary, content:encoded", None,
                           _static(body.encode()), expected)

    # --- full-text article pages (per-feed "always") -----------------------------------

    def _build_pages(self) -> None:
        self.pages["/article/good"] = _static(ARTICLE_PAGE, "text/html; charset=utf-8")
        self.pages["/article/to-canary"] = _redirect(f"{self.canary.base_url}/article")
        self.pages["/article/to-metadata"] = _redirect(
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/")

    def full_text_feed(self) -> tuple[str, dict[str, str]]:
        """A feed whose items' pages: extract fine, redirect to the canary, redirect to the
        metadata address, live on a private address. Returns (path, {url: case})."""
        links = {f"{self.base_url}/article/good": "good",
                 f"{self.base_url}/article/to-canary": "to-canary",
                 f"{self.base_url}/article/to-metadata": "to-metadata",
                 f"http://10.0.0.1/{self.run}/story": "private-host"}
        body = rss([item(f"Full text {case}", url, f"Teaser for {case}.")
                    for url, case in links.items()])
        self.pages["/full-text.xml"] = _static(body.encode())
        return "/full-text.xml", links

    # --- streaming senders -------------------------------------------------------------

    def _record(self, path: str, sent: int, started: float) -> None:
        with self._lock:
            self.bytes_sent[path] = self.bytes_sent.get(path, 0) + sent
            self.seconds_open[path] = time.monotonic() - started

    def _endless(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b"<item><title>again</title></item>" * (CHUNK // 34)
        sent, started = 0, time.monotonic()
        handler.wfile.write(rss([]).encode()[:-len("</channel></rss>")])
        try:
            while time.monotonic() - started < 120:  # "forever", bounded for the test
                handler.wfile.write(chunk)
                sent += len(chunk)
        finally:
            self._record("/endless.xml", sent, started)

    def _huge(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b" " * CHUNK
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent, started = 0, time.monotonic()
        try:
            while sent < HUGE_BYTES:
                handler.wfile.write(frame)
                sent += len(chunk)
            handler.wfile.write(b"0\r\n\r\n")
        finally:
            self._record("/huge.xml", sent, started)

    def _gzip_bomb_sender(self) -> Callable[[BaseHTTPRequestHandler], None]:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        parts = [packer.compress(rss([]).encode()[:-len("</channel></rss>")])]
        block = b" " * CHUNK
        parts += [packer.compress(block) for _ in range(HUGE_BYTES // CHUNK)]
        parts.append(packer.flush())
        body = b"".join(parts)
        return _static(body, headers={"Content-Encoding": "gzip"})

    def _slowloris(self, handler: BaseHTTPRequestHandler) -> None:
        body = rss([item("Slow", self._url("slow", 0))]).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        sent, started = 0, time.monotonic()
        try:
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                sent += 1
                time.sleep(SLOWLORIS_PAUSE_S)
        finally:
            self._record("/slowloris.xml", sent, started)

    # --- HTTP ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def feed_url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> HostileServer:
        self.canary.__enter__()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.canary.__exit__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                with server._lock:
                    server.requests.append(self.path)
                feed = server.feeds.get(self.path)
                send = feed.send if feed else server.pages.get(self.path)
                # The poller hanging up (size cap, deadline) is the point of most routes.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if send is None:
                        _static(b"not found", "text/plain", 404)(self)
                    else:
                        send(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Clients hanging up mid-request is what this server is for: not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Canary:
    """A server on 127.0.0.2 that counts accepted connections (it answers with a feed, so
    a poller that did connect would have something to publish)."""

    def __init__(self) -> None:
        self.connections = 0
        canary = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                canary.connections += 1
                return True

        self._server = Server(("127.0.0.2", 0), _CanaryHandler)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Canary:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _CanaryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        body = rss([item("Internal secret", "https://internal.example/secret")]).encode()
        _static(body)(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
