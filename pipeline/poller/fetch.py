"""HTTP fetching of feeds: conditional GET, size cap, errors turned into clear reasons."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class FetchError(Exception):
    """Fetching a feed failed; ``reason`` is a short operator-facing explanation."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Validators:
    """HTTP cache validators remembered between polls (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    url: str
    status: int
    body: bytes
    content_type: str | None
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch_feed(client: httpx.Client, url: str, validators: Validators,
               max_bytes: int) -> FetchResult:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                         "text/xml;q=0.8, */*;q=0.5"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code == 304:
                return FetchResult(url, 304, b"", None, validators)
            if response.status_code >= 400:
                raise FetchError(url, f"HTTP {response.status_code} {response.reason_phrase}")
            body = _read_capped(response, url, max_bytes)
            return FetchResult(
                url=url,
                status=response.status_code,
                body=body,
                content_type=response.headers.get("content-type"),
                validators=Validators(response.headers.get("etag"),
                                      response.headers.get("last-modified")),
            )
    except httpx.TimeoutException as exc:
        raise FetchError(url, f"timed out ({type(exc).__name__})") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(url, "too many redirects") from exc
    except httpx.TransportError as exc:
        raise FetchError(url, f"network error: {exc or type(exc).__name__}") from exc
    except httpx.InvalidURL as exc:
        raise FetchError(url, f"invalid URL: {exc}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise FetchError(url, f"unsupported URL scheme: {exc}") from exc


def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(url, f"response too large ({declared} bytes > limit {max_bytes})")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:  # abort mid-stream: a lying or missing Content-Length
            raise FetchError(url, f"response too large (over limit {max_bytes} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def make_client(user_agent: str, timeout_s: float) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": user_agent},
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
