"""Polite, bounded, SSRF-guarded async HTTP fetching (feeds and, for full text, article pages).

One :class:`Fetcher` per process: a pooled ``httpx.AsyncClient`` (keep-alive, gzip/deflate/
brotli), a global concurrency limit, a per-host limit with a minimum spacing between request
starts, connect/read timeouts plus a total deadline per fetch (a server trickling one byte a
second cannot hold a slot forever), a streaming size cap checked on the *decoded* bytes (so a
gzip bomb is cut off too), and redirects followed here, hop by hop, so that every hop goes
through the SSRF guard and the poller can tell permanent (301/308) from temporary moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from pipeline.poller.netguard import AddressPolicy, BlockedAddressError, GuardedNetworkBackend

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, "
               "text/xml;q=0.8, */*;q=0.5")
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
# Response headers the poller's etiquette needs; the rest are dropped.
KEPT_HEADERS = ("content-type", "etag", "last-modified", "cache-control", "expires",
                "retry-after", "date", "age")


class FetchError(Exception):
    """Fetching failed before an HTTP status could be used.

    ``reason`` is for operators (logs, feed health); ``reason_class`` is a short stable label
    (metrics, ``FeedState.last_error_class``).
    """

    def __init__(self, url: str, reason: str, reason_class: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.reason_class = reason_class


@dataclass(frozen=True)
class Validators:
    """HTTP cache validators remembered between polls (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Hop:
    """One redirect that was followed."""

    status: int
    url: str
    location: str

    @property
    def permanent(self) -> bool:
        return self.status in PERMANENT_REDIRECTS


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    body: bytes
    headers: dict[str, str]
    redirects: tuple[Hop, ...] = ()
    elapsed_s: float = 0.0
    bytes_received: int = 0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str = "newspipe/0.1 (+https://github.com/newspipe/newspipe)"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 15.0
    total_timeout_s: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 50
    per_host_concurrency: int = 2
    per_host_interval_s: float = 1.0
    addresses: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> FetchPolicy:
        values: dict[str, Any] = dict(
            user_agent=user_agent_with_contact(settings.user_agent,
                                               settings.poller_contact_url),
            connect_timeout_s=settings.poller_connect_timeout_s,
            read_timeout_s=settings.poller_read_timeout_s,
            total_timeout_s=settings.fetch_timeout_s,
            max_bytes=settings.max_feed_bytes,
            max_redirects=settings.poller_max_redirects,
            concurrency=settings.poller_concurrency,
            per_host_concurrency=settings.poller_per_host_concurrency,
            per_host_interval_s=settings.poller_per_host_interval_s,
            addresses=AddressPolicy.from_strings(settings.poller_allow_private_networks,
                                                 settings.poller_allowed_networks),
        )
        values.update(overrides)
        return cls(**values)


def user_agent_with_contact(user_agent: str, contact_url: str | None) -> str:
    """Publishers look for a way to reach whoever polls them; put it in the User-Agent."""
    if not contact_url or contact_url in user_agent:
        return user_agent
    return f"{user_agent} (+{contact_url})"


class HostLimiter:
    """At most ``limit`` requests in flight per host, and request *starts* at least
    ``interval_s`` apart. Start times are reserved before sleeping, so waiters queue up
    in order instead of all waking at once."""

    def __init__(self, limit: int, interval_s: float):
        self.limit = limit
        self.interval_s = interval_s
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[float]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        semaphore, next_start = self._hosts.setdefault(
            host, (asyncio.Semaphore(self.limit), [0.0]))
        async with semaphore:
            if self.interval_s > 0:
                now = time.monotonic()
                start = max(now, next_start[0])
                next_start[0] = start + self.interval_s
                if start > now:
                    await asyncio.sleep(start - now)
            yield


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the SSRF-checking network backend underneath."""

    def __init__(self, addresses: AddressPolicy, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(addresses),
        )


class Fetcher:
    """Use as ``async with Fetcher(policy) as fetcher: await fetcher.fetch(url)``.

    ``transport`` replaces the network (unit tests); the SSRF guard lives in the default
    transport, so an injected transport is trusted.
    """

    def __init__(self, policy: FetchPolicy, transport: httpx.AsyncBaseTransport | None = None):
        self.policy = policy
        limits = httpx.Limits(max_connections=policy.concurrency,
                              max_keepalive_connections=policy.concurrency,
                              keepalive_expiry=30.0)
        self.client = httpx.AsyncClient(
            transport=transport or GuardedTransport(policy.addresses, limits),
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(connect=policy.connect_timeout_s,
                                  read=policy.read_timeout_s,
                                  write=policy.read_timeout_s,
                                  pool=policy.total_timeout_s),
            follow_redirects=False,
            trust_env=False,
        )
        self._global = asyncio.Semaphore(policy.concurrency)
        self._hosts = HostLimiter(policy.per_host_concurrency, policy.per_host_interval_s)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str, validators: Validators = Validators(),
                    accept: str = FEED_ACCEPT) -> FetchResult:
        """GET ``url`` politely. Any HTTP status is returned (the caller decides what a
        404 or a 429 means); transport failures raise :class:`FetchError`."""
        headers = {"Accept": accept}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        hops: list[Hop] = []
        visited = {url}
        current = url
        budget = self.policy.total_timeout_s
        received = 0
        while True:
            host = _host_of(current)
            async with self._hosts.slot(host), self._global:
                started = time.monotonic()
                status, response_headers, body, location, size = await self._one_request(
                    current, headers, budget)
                budget -= time.monotonic() - started
                received += size
            if location is None:
                return FetchResult(url, current, status, body, response_headers, tuple(hops),
                                   self.policy.total_timeout_s - budget, received)
            target = urljoin(current, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise FetchError(url, f"redirect to a non-HTTP URL: {target[:200]}",
                                 "bad_redirect")
            hops.append(Hop(status, current, target))
            if target in visited:
                raise FetchError(url, f"redirect loop via {target}", "redirect_loop")
            if len(hops) > self.policy.max_redirects:
                raise FetchError(url, f"too many redirects (> {self.policy.max_redirects})",
                                 "too_many_redirects")
            visited.add(target)
            current = target

    async def _one_request(self, url: str, headers: dict[str, str], budget: float
                           ) -> tuple[int, dict[str, str], bytes, str | None, int]:
        """status, kept headers, body, redirect location (or None), raw bytes received."""
        try:
            async with asyncio.timeout(max(budget, 0.001)):
                request = self.client.build_request("GET", url, headers=headers)
                response = await self.client.send(request, stream=True)
                try:
                    kept = {name: response.headers[name] for name in KEPT_HEADERS
                            if name in response.headers}
                    status = response.status_code
                    if status in REDIRECT_STATUSES and "location" in response.headers:
                        return status, kept, b"", response.headers["location"], 0
                    body = b""
                    if status == 200:
                        body = await self._read_capped(response, url)
                    return status, kept, body, None, response.num_bytes_downloaded
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise FetchError(url, f"no complete response within {self.policy.total_timeout_s:g}s"
                             " (total deadline)", "timeout") from exc
        except httpx.TimeoutException as exc:
            raise FetchError(url, f"timed out ({type(exc).__name__})", "timeout") from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(url, f"unsupported URL scheme: {exc}", "invalid_url") from exc
        except (httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            raise FetchError(url, f"invalid URL: {exc}", "invalid_url") from exc
        except httpx.DecodingError as exc:
            raise FetchError(url, f"cannot decode response body: {exc}", "decoding") from exc
        except httpx.RemoteProtocolError as exc:
            raise FetchError(url, f"broken HTTP response: {exc}", "protocol") from exc
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, BlockedAddressError):
                raise FetchError(url, str(cause), "blocked_address") from exc
            raise FetchError(url, f"network error: {exc or type(exc).__name__}",
                             "network") from exc

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(url, f"response too large ({declared} bytes > limit {limit})",
                             "too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():  # decoded: caps gzip bombs as well
            size += len(chunk)
            if size > limit:  # abort mid-stream: a lying or missing Content-Length
                raise FetchError(url, f"response too large (over limit {limit} bytes)",
                                 "too_large")
            chunks.append(chunk)
        return b"".join(chunks)


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
