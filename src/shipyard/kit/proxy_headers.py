"""Trust exactly one reverse proxy hop for the client address, scheme and host.

Over a unix socket the server sees no peer address, so uvicorn's own proxy-header support either
trusts nothing or (with `forwarded_allow_ips="*"`) the LEFT-most X-Forwarded-For entry, which the
client controls. The edge (Caddy) appends the real peer, so the RIGHT-most entry is the only one
the one trusted hop vouches for. X-Forwarded-Prefix is never honoured.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from shipyard.kit.asgi import header

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

_SCHEMES = frozenset({"http", "https"})


def rightmost_forwarded_for(value: str) -> str | None:
    """The last address in an X-Forwarded-For list, if it is a valid IP."""
    candidate = value.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ProxyHeadersMiddleware:
    """Rewrites the ASGI scope from the trusted proxy's X-Forwarded-* headers; outermost when enabled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply X-Forwarded-For (right-most), -Proto and -Host."""
        if scope["type"] in {"http", "websocket"}:
            forwarded_for = header(scope, b"x-forwarded-for")
            if forwarded_for and (client_ip := rightmost_forwarded_for(forwarded_for)):
                scope["client"] = (client_ip, 0)
            proto = (header(scope, b"x-forwarded-proto") or "").rsplit(",", 1)[-1].strip().lower()
            if proto in _SCHEMES:
                scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
            forwarded_host = (header(scope, b"x-forwarded-host") or "").rsplit(",", 1)[-1].strip()
            if forwarded_host and forwarded_host.isprintable() and " " not in forwarded_host:
                scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"host"] + [
                    (b"host", forwarded_host.encode("latin-1"))
                ]
        await self.app(scope, receive, send)
