"""SSRF guard: the poller only connects to public addresses unless the operator says otherwise.

A feed list is operator input, but feed *redirects* and article links are publisher input:
without a guard, ``Location: http://169.254.169.254/`` would make the poller read a cloud
metadata service. The check lives in the connect step, not in a URL pre-check:
:class:`GuardedNetworkBackend` resolves the host once, refuses the connection if any
resolved address is not allowed, and then connects to the checked IP itself. Because
httpcore hands the hostname separately to the TLS layer (SNI and certificate check use the
name, the socket uses the IP), nothing re-resolves the name between check and connect, so a
DNS-rebinding answer cannot slip in. Every redirect hop and every pooled connection goes
through this path. Environment proxies are disabled (``trust_env=False``) for the same
reason: a proxy would do its own resolution.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(httpcore.ConnectError):
    """The host resolves to an address the operator has not allowed."""

    def __init__(self, host: str, address: str, why: str):
        super().__init__(f"refused to connect to {host} ({address}): {why} address; "
                         "allow it with NEWSPIPE_POLLER_ALLOWED_NETWORKS")
        self.host = host
        self.address = address


@dataclass(frozen=True)
class AddressPolicy:
    """Which destination addresses are allowed.

    Public unicast is always allowed. ``allow_private`` opens everything (trusted networks
    only); ``allowed_networks`` opens specific ranges, e.g. ``127.0.0.0/8`` for the demo.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_strings(cls, allow_private: bool, networks: Iterable[str]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def refusal(self, address: str) -> str | None:
        """``None`` if allowed, else the kind of address (the reason it is refused)."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, not "public IPv6"
        kind = non_public_kind(ip)
        if kind is None or self.allow_private:
            return None
        if any(ip in net for net in self.allowed_networks if net.version == ip.version):
            return None
        return kind


def non_public_kind(ip: IPAddress) -> str | None:
    """Why an address is not public unicast, or ``None`` when it is."""
    for kind, test in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                       ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if test:
            return kind
    if not ip.is_global:  # shared address space 100.64/10 and friends
        return "non-global"
    return None


async def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    # getaddrinfo returns each address once per protocol; keep the resolver's order.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, connect to the first one (the checked IP)."""

    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port, timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
        # Refuse if *any* answer is forbidden: a name that mixes public and private
        # answers is either misconfigured or an attack, and round-robin must not decide.
        for address in addresses:
            why = self.policy.refusal(address)
            if why is not None:
                raise BlockedAddressError(host, address, why)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        # Try the checked addresses in the resolver's order (e.g. ::1 then 127.0.0.1).
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed for feeds")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
