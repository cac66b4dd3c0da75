"""A local HTTP server for the bundled sample feeds (offline demo and tests)."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.settings import SEEDS_DIR

SAMPLE_FEEDS_DIR = SEEDS_DIR / "feeds" / "sample"
SAMPLE_FEED_LIST = SEEDS_DIR / "feeds" / "sample.yaml"


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".rss": "application/rss+xml", ".atom": "application/atom+xml"}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        pass


class SampleFeedServer:
    """Serves a directory on 127.0.0.1 from a daemon thread; use as a context manager."""

    def __init__(self, directory: Path = SAMPLE_FEEDS_DIR, port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> SampleFeedServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
