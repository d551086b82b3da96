"""An HTTP client whose connections are named by host but opened to an address checked beforehand.

Requests carry the receiver's real URL, so the connection pool keys kept-alive connections by host
name, and TLS checks the certificate against that name. Only opening a connection differs: it goes
to the address the caller checked (webhooks: the SSRF guard), handed over for the duration of one
request, never to a second DNS answer. (Sending to the address itself, with the name only in `Host` and SNI, made the
pool key connections by address: a connection whose certificate was checked for one host could
then carry a request for another host at the same address.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore2
import httpx2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_pinned: ContextVar[IPAddress | None] = ContextVar("shipyard_pinned_address", default=None)


class UnpinnedConnectionError(httpcore2.ConnectError):
    """A connection was asked for outside `pinned_to`: nothing checked where it would go."""


class _PinnedBackend(httpcore2.AsyncNetworkBackend):
    # No unix sockets: the base class refuses them, and no transport here is given one.
    def __init__(self) -> None:
        self._network = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it so
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        address = _pinned.get()
        if address is None:
            msg = f"no checked address for {host}:{port}"
            raise UnpinnedConnectionError(msg)
        return await self._network.connect_tcp(
            str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class PinnedTransport(httpx2.AsyncHTTPTransport):
    """httpx's transport with the pinning network backend under its connection pool."""

    def __init__(self, *, limits: httpx2.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its pool in __init__ and takes no network backend; this is the same pool
        # (same TLS context and limits) with ours. `_pool` has held it since httpx 0.18.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context,  # noqa: SLF001 - see above
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )


def client(*, timeout_s: float, keep_alive: int) -> httpx2.AsyncClient:
    """A client with pinned connections, no proxies from the environment and no redirects.

    A proxy would connect somewhere nobody checked; a redirect would go to an unchecked URL.
    """
    limits = httpx2.Limits(max_connections=max(keep_alive, 100), max_keepalive_connections=keep_alive)
    return httpx2.AsyncClient(
        transport=PinnedTransport(limits=limits), follow_redirects=False, trust_env=False, timeout=timeout_s
    )


@contextmanager
def pinned_to(address: IPAddress) -> Iterator[None]:
    """Open any connection the requests made inside this block need to `address`, the checked one."""
    token = _pinned.set(address)
    try:
        yield
    finally:
        _pinned.reset(token)
