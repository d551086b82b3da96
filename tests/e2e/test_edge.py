"""Through Caddy over HTTPS: the API, the verify command, the one-hop proxy rule and the edge's own rules."""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from shipyard.ops.verify import run_checks, verify_command
from tests.e2e.conftest import Stack
from tests.e2e.servers import CaddyServer
from tests.fixtures.binaries import require_binary

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]

CUSTOMERS = "/api/v1/customers"


async def _create_customer(https: httpx.AsyncClient, stack: Stack, **headers: str) -> httpx.Response:
    return await https.post(
        CUSTOMERS,
        json={"name": "Ada", "email": f"ada-{secrets.token_hex(4)}@example.com"},
        headers={**stack.headers, "Idempotency-Key": secrets.token_hex(16), **headers},
    )


async def _audit_event(https: httpx.AsyncClient, stack: Stack, request_id: str) -> dict[str, Any]:
    events = await https.get("/api/v1/audit-events", params={"limit": 100}, headers=stack.headers)
    assert events.status_code == 200, events.text
    matching = [event for event in events.json()["data"] if event["request_id"] == request_id]
    assert len(matching) == 1, events.text
    event: dict[str, Any] = matching[0]
    return event


async def test_api_round_trip_works_through_the_edge(https: httpx.AsyncClient, stack: Stack) -> None:
    key = secrets.token_hex(16)
    body = {"name": "Grace", "email": f"grace-{key[:8]}@example.com"}
    headers = {**stack.headers, "Idempotency-Key": key}
    created = await https.post(CUSTOMERS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    replayed = await https.post(CUSTOMERS, json=body, headers=headers)
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == created.json()["id"]
    read = await https.get(created.headers["Location"], headers=stack.headers)
    assert read.status_code == 200
    assert read.headers["ETag"]
    listed = await https.get(CUSTOMERS, params={"email": body["email"]}, headers=stack.headers)
    assert [customer["id"] for customer in listed.json()["data"]] == [created.json()["id"]]


def test_verify_passes_against_the_real_stack(stack: Stack) -> None:
    results = run_checks(stack.base_url, stack.ca_file, http_url=stack.caddy.http_url)
    failed = [f"{result.name}: {result.detail} (fix: {result.fix})" for result in results if not result.ok]
    assert not failed
    assert {result.name for result in results} >= {
        "tls_certificate",
        "http_redirect",
        "hsts",
        "no_server_header",
        "health",
        "ready",
        "openapi",
        "problem_404",
        "request_id",
        "metrics_not_public",
        "redirect_headers",
        "unknown_host",
    }


def test_verify_command_exits_zero_with_the_ca_file_and_one_without(stack: Stack) -> None:
    cli = typer.Typer()
    cli.command()(verify_command)
    runner = CliRunner()
    args = [stack.base_url, "--http-url", stack.caddy.http_url]

    trusted = runner.invoke(cli, [*args, "--ca-file", str(stack.ca_file)])
    untrusted = runner.invoke(cli, args)

    assert trusted.exit_code == 0, trusted.output
    assert trusted.output.strip().endswith("0 failed")
    assert untrusted.exit_code == 1
    failure = next(line for line in untrusted.output.splitlines() if line.startswith("FAIL  tls_certificate"))
    assert "--ca-file" in failure


@pytest.mark.parametrize(
    "spoofed",
    ["203.0.113.9", "203.0.113.9, 198.51.100.7", "unknown, 10.0.0.1", "127.0.0.2"],
)
async def test_audit_log_records_the_real_peer_not_a_spoofed_forwarded_for(
    https: httpx.AsyncClient, stack: Stack, spoofed: str
) -> None:
    request_id = f"e2e-{secrets.token_hex(8)}"
    created = await _create_customer(
        https, stack, **{"X-Forwarded-For": spoofed, "X-Real-IP": "203.0.113.9", "X-Request-ID": request_id}
    )
    assert created.status_code == 201, created.text
    event = await _audit_event(https, stack, request_id)
    assert event["ip"] == "127.0.0.1"


async def test_forwarded_proto_and_host_from_the_client_are_replaced(https: httpx.AsyncClient, stack: Stack) -> None:
    created = await _create_customer(https, stack, **{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"})
    assert created.status_code == 201
    authentik = await https.get(
        "/auth/application/o/authorize/", headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    )
    forwarded = authentik.json()["headers"]
    assert forwarded["X-Forwarded-Host"] == f"localhost:{stack.caddy.port}"
    assert forwarded["X-Forwarded-Proto"] == "https"


async def test_auth_paths_go_to_authentik_with_the_real_peer(https: httpx.AsyncClient) -> None:
    response = await https.get("/auth/if/flow/default-authentication-flow/", headers={"X-Forwarded-For": "6.6.6.6"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/auth/if/flow/default-authentication-flow/"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert "server" not in response.headers


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json", "/api/v1/nothing-here", "/static/docs-init.js"])
async def test_no_response_names_its_server(https: httpx.AsyncClient, path: str) -> None:
    response = await https.get(path)
    assert "server" not in response.headers
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains; preload"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_pages_keep_their_own_csp_and_everything_else_gets_the_strict_default(https: httpx.AsyncClient) -> None:
    docs = await https.get("/docs")
    health = await https.get("/health")
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]
    assert health.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert docs.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
async def test_responses_are_compressed(https: httpx.AsyncClient, encoding: str) -> None:
    response = await https.get("/openapi.json", headers={"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding


async def test_metrics_are_404_in_public_and_served_on_the_loopback_site(
    https: httpx.AsyncClient, stack: Stack
) -> None:
    public = await https.get("/metrics")
    public_nested = await https.get("/metrics/anything")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.caddy.metrics_port}") as loopback:
        scraped = await loopback.get("/metrics")
        elsewhere = await loopback.get("/api/v1/me", headers=stack.headers)
    assert public.status_code == 404
    assert public_nested.status_code == 404
    assert b"http_request_duration_seconds" not in public.content
    assert scraped.status_code == 200
    assert "http_request_duration_seconds" in scraped.text
    assert elsewhere.status_code == 404


async def test_body_over_the_limit_is_refused_at_the_edge_without_a_5xx(https: httpx.AsyncClient, stack: Stack) -> None:
    oversized = json.dumps({"name": "x" * (2 * 1024 * 1024), "email": "big@example.com"}).encode()
    response = await https.post(
        CUSTOMERS,
        content=oversized,
        headers={**stack.headers, "Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(16)},
    )
    assert response.status_code == 413


async def test_access_log_is_json_lines_without_credentials(https: httpx.AsyncClient, stack: Stack) -> None:
    marker = f"/api/v1/customers?limit=1&e2e={secrets.token_hex(4)}"
    assert (await https.get(marker, headers=stack.headers)).status_code == 200
    lines = [json.loads(line) for line in stack.caddy.access_log.read_text().splitlines() if line.strip()]
    entry = next(line for line in lines if line["request"]["uri"] == marker)
    assert entry["status"] == 200
    assert entry["request"]["remote_ip"] == "127.0.0.1"
    assert stack.token not in stack.caddy.access_log.read_text()


def test_api_docs_render_under_the_content_security_policy(stack: Stack) -> None:
    chromium = subprocess.run(  # noqa: S603 - fixed arguments
        [
            require_binary("chromium", "chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--ignore-certificate-errors",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{stack.base_url}/docs",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "opblock" in chromium.stdout, chromium.stderr[-3000:]
    assert "Content Security Policy" not in chromium.stderr, chromium.stderr[-3000:]


# --- answers Caddy writes itself: they never reach the app, so the Caddyfile alone decides their headers ---

EDGE_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains; preload",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def _assert_edge_headers(response: httpx.Response) -> None:
    assert "server" not in response.headers, response.headers
    assert {name: response.headers.get(name) for name in EDGE_HEADERS} == EDGE_HEADERS
    assert response.headers["permissions-policy"]


def _assert_edge_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    _assert_edge_headers(response)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    problem = response.json()
    assert (problem["status"], problem["code"], problem["type"]) == (
        status,
        code,
        f"tag:shipyard.dev,2026:problems/{code}",
    )
    assert problem["title"]
    assert problem["detail"]


async def test_the_redirect_to_https_carries_the_headers(stack: Stack) -> None:
    async with httpx.AsyncClient() as plain:
        response = await plain.get(f"{stack.caddy.http_url}/api/v1/customers?limit=1")
    assert response.status_code == 308
    assert response.headers["location"] == f"https://localhost:{stack.caddy.port}/api/v1/customers?limit=1"
    _assert_edge_headers(response)


async def test_an_unknown_host_is_refused_with_a_problem_over_https_and_http(
    https: httpx.AsyncClient, stack: Stack
) -> None:
    over_https = await https.get("/api/v1/customers", headers={**stack.headers, "Host": "evil.example"})
    async with httpx.AsyncClient() as plain:
        over_http = await plain.get(f"{stack.caddy.http_url}/", headers={"Host": "evil.example"})
    _assert_edge_problem(over_https, 421, "unknown_host")
    _assert_edge_problem(over_http, 421, "unknown_host")


class _CaddyWithNothingBehind(CaddyServer):
    """The shipped Caddyfile while the app and Authentik are down (ready once it answers at all)."""

    def _probe(self) -> bool:
        if not self.root_ca.exists():
            return False
        try:
            httpx.get(f"{self.base_url}/health", verify=ssl.create_default_context(cafile=str(self.root_ca)), timeout=5)
        except httpx.HTTPError:
            return False
        return True


@pytest.fixture(scope="module")
def caddy_alone() -> Iterator[CaddyServer]:
    require_binary("caddy", "caddy")
    # Ports nothing listens on; retries end after 1 s instead of the production 30 s.
    with _CaddyWithNothingBehind(
        upstream="127.0.0.1:9", authentik="127.0.0.1:9", extra_env={"SHIPYARD_CADDY_TRY_DURATION": "1s"}
    ) as caddy:
        yield caddy


@pytest.mark.parametrize(
    ("path", "method"), [("/health", "GET"), ("/api/v1/customers", "POST"), ("/auth/flow/", "GET")]
)
async def test_a_502_while_the_app_or_the_identity_provider_is_down_is_a_problem_with_the_headers(
    caddy_alone: CaddyServer, path: str, method: str
) -> None:
    verify = ssl.create_default_context(cafile=str(caddy_alone.root_ca))
    async with httpx.AsyncClient(base_url=caddy_alone.base_url, verify=verify, timeout=30) as client:
        response = await client.request(method, path)
    _assert_edge_problem(response, 502, "upstream_unavailable")
    assert response.headers["retry-after"] == "5"
