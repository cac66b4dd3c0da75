"""The SSRF guard: which addresses are refused, and that the connect step enforces it."""

import asyncio

import pytest

from pipeline.poller.fetch import Fetcher, FetchError, FetchPolicy, RawResponse, Transport
from pipeline.poller.netguard import AddressPolicy, BlockedAddressError, GuardedResolver

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


def test_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    with pytest.raises(BlockedAddressError, match="loopback"):
        asyncio.run(GuardedResolver(DEFAULT).resolve("localhost", 80))


def test_resolver_passes_allowed_answers_through() -> None:
    allowed = GuardedResolver(AddressPolicy.from_strings(False, ["127.0.0.0/8", "::1/128"]))
    answers = asyncio.run(allowed.resolve("localhost", 80))
    assert answers and all(a["port"] == 80 for a in answers)


def fetch_error(url: str, transport: Transport | None = None) -> FetchError:
    async def fetch() -> None:
        async with Fetcher(FetchPolicy(), transport=transport) as fetcher:
            await fetcher.fetch(url)
    with pytest.raises(FetchError) as caught:
        asyncio.run(fetch())
    return caught.value


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/feed", "http://[::1]/feed",
                                 "http://localhost:9/feed", "http://10.0.0.8/feed"])
def test_fetching_a_forbidden_host_fails_with_blocked_address(url: str) -> None:
    error = fetch_error(url)
    assert error.reason_class == "blocked_address", error.reason


def test_redirect_hops_are_checked_too() -> None:
    """A public feed redirecting to the metadata service: the hop is refused."""
    async def public_then_metadata(url: str, headers: dict[str, str]) -> RawResponse:
        assert "169.254" not in url, "the forbidden hop must never be requested"
        return RawResponse(302, {"location": "http://169.254.169.254/latest/meta-data"})

    error = fetch_error("http://public.test/feed", public_then_metadata)
    assert error.reason_class == "blocked_address"
    assert "link-local" in error.reason


class _Answers:
    """A stand-in for the system resolver: fixed answers for every name."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict]:
        return [{"hostname": host, "host": a, "port": port, "family": 2, "proto": 0,
                 "flags": 0} for a in self.addresses]


def test_a_name_mixing_public_and_private_answers_is_refused() -> None:
    """DNS round-robin must not decide whether the metadata service gets a request."""
    resolver = GuardedResolver(DEFAULT)
    resolver.inner = _Answers("93.184.215.14", "169.254.169.254")  # type: ignore[assignment]
    with pytest.raises(BlockedAddressError, match="169.254.169.254.*link-local"):
        asyncio.run(resolver.resolve("mixed.example", 80))
    resolver.inner = _Answers("93.184.215.14")  # type: ignore[assignment]
    assert [a["host"] for a in asyncio.run(resolver.resolve("public.example", 80))] == [
        "93.184.215.14"]
