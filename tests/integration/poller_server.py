"""A scriptable HTTP server for poller tests that records every request it receives.

Routes map a path to a function ``(request) -> Reply``; the server runs in a daemon thread
(one thread per connection, so a slow route does not hold up the others) on a loopback
address of the test's choosing (127.0.0.1, 127.0.0.2 ... are distinct hosts for the
poller's per-host limits).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    at: float  # time.monotonic() when the request line arrived
    host: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Slow responses: send the body in chunks of this many bytes, pausing between them.
    trickle_bytes: int = 0
    trickle_pause_s: float = 0.0
    # Endless body (no Content-Length): keep sending this chunk until the client leaves.
    endless_chunk: bytes = b""


Route = Callable[[Seen], Reply]


class RecordingServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                seen = Seen(time.monotonic(), self.server.server_address[0], self.path,  # type: ignore[index]
                            {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(seen)
                route = server.routes.get(self.path.split("?")[0])
                reply = route(seen) if route else Reply(404, b"no such feed")
                # The poller hanging up (size cap, deadline) is the point of some tests.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.endless_chunk:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    while True:
                        self.wfile.write(reply.endless_chunk)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.trickle_bytes:
                    for start in range(0, len(reply.body), reply.trickle_bytes):
                        self.wfile.write(reply.body[start:start + reply.trickle_bytes])
                        self.wfile.flush()
                        time.sleep(reply.trickle_pause_s)
                else:
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, handler: Route | Reply) -> str:
        self.routes[path] = handler if callable(handler) else (lambda _seen: handler)
        return self.url(path)

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def rss(name: str, items: int = 3, extra: str = "", start: int = 0) -> bytes:
    """A small valid feed; item URLs are unique per ``name``."""
    entries = "".join(
        f"<item><title>{name} story {i}</title><link>https://news.example/{name}/{i}</link>"
        f"<pubDate>Mon, 0{1 + i % 9} Sep 2025 10:00:00 GMT</pubDate></item>"
        for i in range(start, start + items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title>{extra}{entries}</channel></rss>").encode()
