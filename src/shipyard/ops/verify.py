"""`shipyard verify URL`: the deployment guide's end-to-end check, run from the outside.

It talks to the public URL as any client would (standard library only, so it runs on a fresh
host) and checks what the operator would otherwise check by hand: the certificate, the
HTTP→HTTPS redirect, the security headers, the health and readiness probes, the API contract's
visible promises (OpenAPI 3.1, problem+json, request IDs) and that /metrics is not public.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.ops.verify_edge import check_redirect, check_redirect_headers, check_unknown_host
from shipyard.ops.verify_http import (
    CADDYFILE,
    ONE_YEAR_S,
    RENEWAL_OVERDUE_FRACTION,
    SAFE_REFERRER_POLICIES,
    CheckResult,
)
from shipyard.ops.verify_http import FetchError as _FetchError
from shipyard.ops.verify_http import Response as _Response
from shipyard.ops.verify_http import Target as _Target
from shipyard.ops.verify_http import describe as _describe
from shipyard.ops.verify_http import fail as _fail
from shipyard.ops.verify_http import make_target as _target
from shipyard.ops.verify_http import ok as _ok

__all__ = ["CheckResult", "check_redirect", "run_checks", "verify_command"]


def _name(rdns: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    fields = dict(attribute for rdn in rdns for attribute in rdn)
    return ", ".join(f"{key}={fields[key]}" for key in ("commonName", "organizationName") if key in fields)


def check_certificate(target: _Target) -> CheckResult:
    """The certificate verifies for the host name, and its renewal is not overdue."""
    name = "tls_certificate"
    try:
        with (
            socket.create_connection((target.host, target.port), timeout=target.timeout) as raw,
            target.context.wrap_socket(raw, server_hostname=target.host) as tls,
        ):
            cert: dict[str, Any] = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        return _fail(
            name,
            f"the certificate for {target.host} does not verify: {exc.verify_message}",
            "for a private CA (Caddy's `tls internal`), pass --ca-file with its root certificate; otherwise "
            "read Caddy's log (journalctl -u caddy) for ACME errors: ports 80 and 443 must reach Caddy",
        )
    except OSError as exc:
        return _fail(
            name,
            f"no TLS connection to {target.host}:{target.port}: {_describe(exc)}",
            "check that Caddy runs (systemctl status caddy) and that the firewall opens port 443",
        )
    now = time.time()
    not_after = ssl.cert_time_to_seconds(cert["notAfter"])
    not_before = ssl.cert_time_to_seconds(cert["notBefore"])
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    subject = _name(cert.get("subject", ())) or "SAN " + ",".join(names)
    remaining = not_after - now
    detail = f"subject {subject}; issuer {_name(cert.get('issuer', ()))}; expires in {remaining / 86400:.1f} days"
    if remaining <= 0:
        return _fail(name, f"{detail} (expired)", "read Caddy's log for renewal errors and restart Caddy")
    if remaining < (not_after - not_before) * RENEWAL_OVERDUE_FRACTION:
        return _fail(
            name,
            f"{detail}: renewal is overdue",
            "Caddy renews with a third of the lifetime left; read its log (journalctl -u caddy) for ACME errors",
        )
    return _ok(name, detail)


def check_hsts(response: _Response) -> CheckResult:
    """HSTS for at least a year, with includeSubDomains and preload."""
    name = "hsts"
    fix = f'set Strict-Transport-Security "max-age=63072000; includeSubDomains; preload" (see {CADDYFILE})'
    value = response.header("Strict-Transport-Security")
    if value is None:
        return _fail(name, "no Strict-Transport-Security header", fix)
    directives = {part.strip().split("=", 1)[0].lower(): part.strip() for part in value.split(";") if part.strip()}
    try:
        max_age = int(directives.get("max-age", "max-age=0").split("=", 1)[1].strip('"'))
    except (IndexError, ValueError):
        max_age = 0
    if max_age < ONE_YEAR_S or "includesubdomains" not in directives or "preload" not in directives:
        return _fail(name, f"Strict-Transport-Security: {value}", fix)
    return _ok(name, value)


def check_security_headers(response: _Response) -> list[CheckResult]:
    """nosniff, frame denial, a referrer policy, a permissions policy and a CSP."""
    results: list[CheckResult] = []
    csp = response.header("Content-Security-Policy") or ""
    expectations: list[tuple[str, str, bool]] = [
        ("X-Content-Type-Options", "nosniff", response.header("X-Content-Type-Options") == "nosniff"),
        ("X-Frame-Options", "DENY", (response.header("X-Frame-Options") or "").upper() == "DENY"),
        (
            "Referrer-Policy",
            " or ".join(sorted(SAFE_REFERRER_POLICIES)),
            (response.header("Referrer-Policy") or "").lower() in SAFE_REFERRER_POLICIES,
        ),
        ("Permissions-Policy", "a policy", bool(response.header("Permissions-Policy"))),
        (
            "Content-Security-Policy",
            "a policy with default-src and frame-ancestors",
            "default-src" in csp and "frame-ancestors" in csp,
        ),
    ]
    for header, wanted, passed in expectations:
        name = f"header_{header.lower().replace('-', '_')}"
        seen = response.header(header)
        if passed:
            results.append(_ok(name, f"{header}: {seen}"))
        else:
            fix = f"send {header} ({wanted}) from Caddy, see {CADDYFILE}"
            results.append(_fail(name, f"{header} is {seen or 'missing'}", fix))
    return results


def check_no_server_header(response: _Response) -> CheckResult:
    """Neither Caddy nor the app server names itself."""
    value = response.header("Server")
    if value is None:
        return _ok("no_server_header", "no Server header")
    return _fail(
        "no_server_header",
        f"Server: {value}",
        f"remove it in Caddy with `-Server` in `header` and `header_down -Server` in reverse_proxy ({CADDYFILE})",
    )


def check_request_id(response: _Response, sent: str) -> CheckResult:
    """A well-formed X-Request-ID comes back unchanged."""
    echoed = response.header("X-Request-ID")
    if echoed == sent:
        return _ok("request_id", f"X-Request-ID {sent} echoed")
    return _fail(
        "request_id",
        f"sent X-Request-ID {sent}, got {echoed or 'none'}",
        "the proxy must pass X-Request-ID through to the app and back (Caddy does by default)",
    )


def _check_status(
    target: _Target, name: str, path: str, fix: str, headers: dict[str, str] | None = None
) -> tuple[CheckResult, _Response | None]:
    try:
        response = target.get(path, headers)
    except _FetchError as exc:
        return _fail(name, f"GET {path} failed: {exc}", fix), None
    if response.status == 200:  # noqa: PLR2004 - HTTP OK
        return _ok(name, f"GET {path} is 200"), response
    return _fail(name, f"GET {path} is {response.status}: {response.body[:200]!r}", fix), response


def check_openapi(target: _Target) -> CheckResult:
    """The API description is served and is OpenAPI 3.1."""
    result, response = _check_status(target, "openapi", "/openapi.json", "the app must serve /openapi.json")
    if response is None or not result.ok:
        return result
    try:
        version = str(response.json().get("openapi", ""))
    except (ValueError, AttributeError):
        return _fail("openapi", "/openapi.json is not a JSON object", "check the app's logs")
    if not version.startswith("3.1"):
        return _fail("openapi", f"openapi is {version!r}, not 3.1", "upgrade the app")
    return _ok("openapi", f"OpenAPI {version}")


def check_problem_404(target: _Target) -> CheckResult:
    """An unknown API path is an RFC 9457 problem+json 404."""
    name = "problem_404"
    path = f"/api/v1/shipyard-verify-{secrets.token_hex(6)}"
    fix = "the proxy must pass unknown paths to the app, which answers problem+json"
    try:
        response = target.get(path, {"Accept": "application/json"})
    except _FetchError as exc:
        return _fail(name, f"GET {path} failed: {exc}", fix)
    content_type = response.header("Content-Type") or ""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if (
        response.status == 404  # noqa: PLR2004 - the status under test
        and content_type.startswith("application/problem+json")
        and isinstance(problem, dict)
        and problem.get("status") == 404  # noqa: PLR2004 - the status under test
        and "title" in problem
    ):
        return _ok(name, f"404 {content_type}, code {problem.get('code')}")
    return _fail(name, f"GET {path} is {response.status} {content_type or '(no content type)'}", fix)


def check_metrics_not_public(target: _Target) -> CheckResult:
    """/metrics is not served to the internet."""
    name = "metrics_not_public"
    try:
        response = target.get("/metrics")
    except _FetchError as exc:
        return _ok(name, f"GET /metrics got no answer ({exc})")
    if response.status == 200 or b"# HELP" in response.body:  # noqa: PLR2004 - HTTP OK
        return _fail(
            name,
            "GET /metrics is public",
            f"answer /metrics with 404 at the edge (`handle /metrics* {{ respond 404 }}`, {CADDYFILE})",
        )
    return _ok(name, f"GET /metrics is {response.status}")


def run_checks(
    url: str,
    ca_file: str | Path | None = None,
    *,
    http_url: str | None = None,
    timeout: float = 10.0,
) -> list[CheckResult]:
    """Every check against the deployment at `url`, in the order an operator would read them."""
    target = _target(url, ca_file, http_url, timeout)
    results = [check_certificate(target), check_redirect(target), check_redirect_headers(target)]
    request_id = f"shipyard-verify-{secrets.token_hex(8)}"
    health, response = _check_status(
        target,
        "health",
        "/health",
        "the app is not answering through Caddy: systemctl status shipyard-web; journalctl -u caddy",
        {"X-Request-ID": request_id},
    )
    results.append(health)
    if response is None:
        results.append(_fail("headers", "no response to inspect", "fix the health check first"))
    else:
        results += [
            check_hsts(response),
            *check_security_headers(response),
            check_no_server_header(response),
            check_request_id(response, request_id),
        ]
    results.append(
        _check_status(
            target,
            "ready",
            "/ready",
            "a dependency is down: the 503 problem's `failing` member names it; journalctl -u shipyard-web",
        )[0],
    )
    results += [
        check_openapi(target),
        check_problem_404(target),
        check_metrics_not_public(target),
        check_unknown_host(target),
    ]
    return results


def verify_command(
    url: Annotated[str, typer.Argument(help="The public HTTPS URL, e.g. https://app.example.com.")],
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="Trust this CA bundle (PEM), e.g. Caddy's internal root.", exists=True),
    ] = None,
    http_url: Annotated[
        str | None,
        typer.Option("--http-url", help="Where plain HTTP listens (default: the same host, port 80)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
) -> None:
    """Check a deployment from the outside: TLS, redirect, headers, probes, API contract, /metrics."""
    results = run_checks(url, ca_file, http_url=http_url, timeout=timeout)
    width = max(len(result.name) for result in results)
    for result in results:
        if result.ok:
            typer.echo(f"ok    {result.name:<{width}}  {result.detail}")
        else:
            typer.echo(f"FAIL  {result.name:<{width}}  {result.detail}. Fix: {result.fix}")
    failed = [result for result in results if not result.ok]
    typer.echo(f"{len(results)} checks, {len(failed)} failed")
    if failed:
        raise typer.Exit(code=1)
