"""The SSRF guard: webhooks reach public addresses only, checked when saved and again when sent.

A URL is checked twice because DNS can change between the two: a name that resolved to a public
address at creation may point at 127.0.0.1 or at the cloud metadata service (169.254.169.254) by
the time it is delivered to. At delivery the connection opens to the exact address that was checked
(kit/pinned_http.py; the real name stays in the URL, `Host` and TLS), so a second lookup cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}
RESOLVE_TIMEOUT_S = 5.0


class UnsafeURLError(ValueError):
    """The URL may not receive webhooks; the message says why, safely for an API client."""


class UnresolvableHostError(UnsafeURLError):
    """The host does not resolve (now): refused when registering, a network failure when delivering."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect, and what to call it in `Host` and SNI."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


class Guard:
    """Which URLs webhooks may reach under the given policy."""

    def __init__(self, *, require_https: bool, allowed_networks: list[str]) -> None:
        self.require_https = require_https
        self.allowed: list[IPNetwork] = [ipaddress.ip_network(net, strict=False) for net in allowed_networks]

    def check_syntax(self, url: str) -> SplitResult:
        """The URL's parts, or `UnsafeURLError` for a scheme, host or form webhooks may not use."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeURLError("The URL is malformed.") from exc
        schemes = {"https"} if self.require_https else {"http", "https"}
        if parts.scheme not in schemes:
            raise UnsafeURLError("The URL must use https." if self.require_https else "The URL must be http(s).")
        if not parts.hostname:
            raise UnsafeURLError("The URL has no host.")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURLError("The URL may not carry credentials; verify signatures instead.")
        if port == 0:
            raise UnsafeURLError("The URL's port is invalid.")
        return parts

    def address_allowed(self, address: IPAddress, *, loopback: bool = False) -> bool:
        """Public addresses, plus the explicitly allowed networks (tests), plus loopback if `loopback`."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if loopback and address.is_loopback:
            return True
        if any(address in network for network in self.allowed):
            return True
        # `is_global` is false for private, loopback, link-local (the metadata service), CGNAT,
        # unspecified and reserved ranges alike; multicast is never a webhook receiver.
        return address.is_global and not address.is_multicast

    async def resolve(self, url: str, *, loopback: bool = False) -> Target:
        """Check `url` and every address its host resolves to; `UnsafeURLError` if any is refused.

        `loopback` admits this machine's own addresses, and nothing else that is not public: the
        caller grants it to a development listener's endpoint only (`shipyard webhooks listen`).
        """
        parts = self.check_syntax(url)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        addresses = await _addresses(host, port)
        refused = [address for address in addresses if not self.address_allowed(address, loopback=loopback)]
        if refused:
            raise UnsafeURLError(f"The URL's host resolves to a non-public address ({refused[0]}).")
        return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError, TimeoutError) as exc:
        raise UnresolvableHostError("The URL's host does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnresolvableHostError("The URL's host does not resolve.")
    return addresses
