"""`shipyard verify`: the answers Caddy writes itself, the HTTP→HTTPS redirect and an unknown Host.

They never reach the app, so only the edge's configuration gives them the security headers and
keeps them from naming the server (handle_errors, the explicit HTTP site and the catch-all site in
deploy/caddy/Caddyfile).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from shipyard.ops.verify_http import CADDYFILE, CheckResult, FetchError, Response, Target, fail, ok

HTTP_REDIRECTS = frozenset({301, 308})
HTTP_CLIENT_ERROR = 400
HTTP_SERVER_ERROR = 500


def _is_our_https_site(location: str, target: Target) -> bool:
    """`location` is an https:// URL on the verified host AND port.

    A prefix match would accept `https://app.example.com:8443/` and `https://app.example.com.evil.example/`.
    """
    parts = urlsplit(location)
    try:
        port = parts.port or 443
    except ValueError:  # a port that is not a number
        return False
    return parts.scheme == "https" and (parts.hostname or "").lower() == target.host.lower() and port == target.port


def _header_gaps(response: Response) -> list[str]:
    """What an answer lacks of the edge's promises: no Server header, HSTS, nosniff."""
    gaps = []
    if (server := response.header("Server")) is not None:
        gaps.append(f"Server: {server}")
    if response.header("Strict-Transport-Security") is None:
        gaps.append("no Strict-Transport-Security")
    if response.header("X-Content-Type-Options") != "nosniff":
        gaps.append("no X-Content-Type-Options: nosniff")
    return gaps


def check_redirect(target: Target) -> CheckResult:
    """Plain HTTP answers with a permanent redirect to HTTPS on the verified host and port."""
    name = "http_redirect"
    fix = "Caddy redirects HTTP to HTTPS by itself when it can listen on port 80: open port 80 in the firewall"
    try:
        response = target.get("/", tls=False)
    except FetchError as exc:
        return fail(name, f"http://{target.http_host}:{target.http_port}/ did not answer: {exc}", fix)
    location = response.header("Location") or ""
    if response.status in HTTP_REDIRECTS and _is_our_https_site(location, target):
        return ok(name, f"{response.status} to {location}")
    return fail(name, f"HTTP answered {response.status} with Location {location or '(none)'}", fix)


def check_redirect_headers(target: Target) -> CheckResult:
    """The redirect, which Caddy writes itself, carries the security headers and names no server."""
    name = "redirect_headers"
    fix = f"answer plain HTTP from an explicit `http://` site that imports the headers ({CADDYFILE})"
    try:
        response = target.get("/", tls=False)
    except FetchError as exc:
        return fail(name, f"http://{target.http_host}:{target.http_port}/ did not answer: {exc}", fix)
    if gaps := _header_gaps(response):
        return fail(name, f"the {response.status} answer to plain HTTP has " + ", ".join(gaps), fix)
    return ok(name, f"the {response.status} answer to plain HTTP carries the headers")


def check_unknown_host(target: Target) -> CheckResult:
    """A Host this deployment does not serve is refused, with the headers, never answered by the app."""
    name = "unknown_host"
    fix = f"add the catch-all site (`http://, https://` with `error 421`) and handle_errors ({CADDYFILE})"
    host = f"shipyard-verify-{secrets.token_hex(6)}.invalid"
    try:
        # The TLS name stays the deployment's; only the Host header is foreign.
        response = target.get("/", {"Host": host})
    except FetchError as exc:
        return ok(name, f"Host {host} got no answer ({exc})")
    refused = HTTP_CLIENT_ERROR <= response.status < HTTP_SERVER_ERROR
    gaps = _header_gaps(response)
    if refused and not gaps:
        return ok(name, f"Host {host} is refused with {response.status} and the headers")
    seen = [f"status {response.status}", *gaps]
    return fail(name, f"Host {host} got " + ", ".join(seen), fix)
