"""The SSRF guard: which addresses are refused, and that the connect step enforces it."""

import asyncio

import httpx
import pytest

from pipeline.poller.fetch import Fetcher, FetchError, FetchPolicy
from pipeline.poller.netguard import AddressPolicy, BlockedAddressError, GuardedNetworkBackend

DEFAULT = AddressPolicy()


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.1", "private"), ("172.16.5.4", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("fd00::1", "private"), ("100.64.0.1", "non-global"),
    ("240.0.0.1", "private"),
])
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert DEFAULT.refusal(address) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.refusal(address) is None


def test_operator_can_allow_ranges_or_everything() -> None:
    loopback_only = AddressPolicy.from_strings(False, ["127.0.0.0/8"])
    assert loopback_only.refusal("127.0.0.1") is None
    assert loopback_only.refusal("10.0.0.1") == "private"
    assert AddressPolicy.from_strings(True, []).refusal("10.0.0.1") is None


def test_connect_step_refuses_a_name_that_resolves_to_loopback() -> None:
    backend = GuardedNetworkBackend(DEFAULT)
    with pytest.raises(BlockedAddressError, match="loopback"):
        asyncio.run(backend.connect_tcp("localhost", 80, timeout=5))


def test_fetch_of_a_loopback_url_fails_with_blocked_address_class() -> None:
    async def fetch() -> None:
        async with Fetcher(FetchPolicy()) as fetcher:
            await fetcher.fetch("http://127.0.0.1:9/feed")
    with pytest.raises(FetchError) as caught:
        asyncio.run(fetch())
    assert caught.value.reason_class == "blocked_address"


def test_redirect_hops_are_checked_too() -> None:
    """A public feed redirecting to the metadata service: the hop is refused."""
    class PublicThenMetadata(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = Fetcher(FetchPolicy()).client._transport

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "public.test":
                return httpx.Response(302, headers={"location": "http://169.254.169.254/x"})
            return await self.inner.handle_async_request(request)

    async def fetch() -> None:
        async with Fetcher(FetchPolicy(), transport=PublicThenMetadata()) as fetcher:
            await fetcher.fetch("http://public.test/feed")
    with pytest.raises(FetchError) as caught:
        asyncio.run(fetch())
    assert caught.value.reason_class == "blocked_address"
    assert "link-local" in caught.value.reason
