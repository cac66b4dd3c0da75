"""SSRF guard: the poller only connects to public addresses unless the operator says otherwise.

A feed list is operator input, but feed *redirects* and article links are publisher input:
without a guard, ``Location: http://169.254.169.254/`` would make the poller read a cloud
metadata service. The check sits where the address is chosen, not in a URL pre-check:
the HTTP client (aiohttp) asks :class:`GuardedResolver` for a host's addresses and
connects to exactly the addresses it returns, so the check and the connection use the
same answer and a DNS-rebinding reply between "check" and "connect" cannot slip in (TLS
still verifies the host *name*). The resolver refuses the host if any answer is not
allowed. IP-literal hosts never reach a resolver, so the fetcher checks those itself
(:meth:`AddressPolicy.refusal`) before every request, redirect hops included.
Environment proxies are not used (a proxy would resolve names itself).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddressError(OSError):
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


class GuardedResolver(AbstractResolver):
    """aiohttp resolver: resolve with the system resolver, refuse forbidden answers."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.inner: ThreadedResolver | None = None  # needs the running loop

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self.inner is None:
            self.inner = ThreadedResolver()
        answers = await self.inner.resolve(host, port, family)
        # Refuse if *any* answer is forbidden: a name that mixes public and private
        # answers is either misconfigured or an attack, and round-robin must not decide.
        for answer in answers:
            why = self.policy.refusal(answer["host"])
            if why is not None:
                raise BlockedAddressError(host, answer["host"], why)
        return answers

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()
