"""Both Caddyfiles: `caddy validate`, `caddy fmt`, and what their adapted JSON says Caddy will do."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.settings import Settings
from tests.fixtures.binaries import require_binary

REPO = Path(__file__).resolve().parents[2]
CADDY_DIR = REPO / "deploy" / "caddy"
VARIANTS = ["Caddyfile", "Caddyfile.multi"]
ENV = {
    "SHIPYARD_DOMAIN": "app.example.com",
    "SHIPYARD_CADDY_TLS": "ops@example.com",
    "SHIPYARD_APP_UPSTREAMS": "10.0.1.11:8000 10.0.1.12:8000",
}


@pytest.fixture(autouse=True, scope="module")
def _caddy_installed() -> None:
    require_binary("caddy", "caddy")


def _caddy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed binary, arguments from this file
        ["caddy", *args],  # noqa: S607 - Debian's caddy, from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **(env or ENV)},
    )


def _adapted(variant: str) -> dict[str, Any]:
    result = _caddy("adapt", "--config", str(CADDY_DIR / variant), "--adapter", "caddyfile")
    assert result.returncode == 0, result.stderr
    adapted: dict[str, Any] = json.loads(result.stdout)
    return adapted


def _walk(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _handlers(config: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [node for node in _walk(config) if node.get("handler") == kind]


def _public_server(config: dict[str, Any]) -> dict[str, Any]:
    servers = config["apps"]["http"]["servers"]
    return next(server for server in servers.values() if any(":443" in a or a == ":443" for a in server["listen"]))


@pytest.mark.parametrize("variant", VARIANTS)
def test_caddy_validate_accepts_the_config(variant: str) -> None:
    result = _caddy("validate", "--config", str(CADDY_DIR / variant), "--adapter", "caddyfile")
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_caddy_fmt_leaves_the_file_unchanged(variant: str) -> None:
    result = _caddy("fmt", str(CADDY_DIR / variant))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (CADDY_DIR / variant).read_text()


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_missing_domain_or_tls_setting_is_refused(variant: str) -> None:
    result = _caddy(
        "validate",
        "--config",
        str(CADDY_DIR / variant),
        env={k: v for k, v in ENV.items() if k != "SHIPYARD_CADDY_TLS"},
    )
    assert result.returncode != 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_app_proxy_overwrites_forwarded_for_and_drops_the_upstream_server_header(variant: str) -> None:
    proxies = _handlers(_adapted(variant), "reverse_proxy")
    assert proxies
    for proxy in proxies:
        headers = proxy["headers"]
        assert headers["request"]["set"]["X-Forwarded-For"] == ["{http.request.remote.host}"]
        assert "X-Forwarded-For" not in headers["request"].get("add", {})
        assert "Server" in headers["response"]["delete"]


def _app_proxies(variant: str) -> list[dict[str, Any]]:
    """The proxies to Shipyard itself; Authentik's, on port 9000, is not one."""
    proxies = _handlers(_adapted(variant), "reverse_proxy")
    return [p for p in proxies if not any(u["dial"].endswith(":9000") for u in p["upstreams"])]


@pytest.mark.parametrize("variant", VARIANTS)
def test_app_proxies_retry_while_the_app_is_unavailable(variant: str) -> None:
    app_proxies = _app_proxies(variant)
    assert app_proxies
    for proxy in app_proxies:
        assert proxy["load_balancing"]["try_duration"] > 0


def test_five_vps_variant_probes_each_app_hosts_readiness_every_second() -> None:
    # /ready, not /health: a draining host (shipyard drain on) and a release that is not ready
    # answer 503 there, and the edge must stop sending to them within a rolling deploy's pause.
    # The read-only MCP unit on the identity host (port 8765) is one process, never drained.
    app_proxies = [
        proxy
        for proxy in _app_proxies("Caddyfile.multi")
        if not any(upstream["dial"].endswith(":8765") for upstream in proxy["upstreams"])
    ]
    assert app_proxies
    for proxy in app_proxies:
        active = proxy["health_checks"]["active"]
        assert active["uri"] == "/ready"
        assert active["interval"] <= 1_000_000_000  # nanoseconds in Caddy's JSON


def test_single_vps_does_not_probe_its_only_upstream() -> None:
    # A failed probe would leave no upstream, and Caddy 2.6 answers a POST with 503 at once then
    # (tests/e2e/test_resilience.py has the stall that shows it).
    app_proxies = _app_proxies("Caddyfile")
    assert app_proxies
    assert all("health_checks" not in proxy for proxy in app_proxies)


def test_single_vps_proxies_to_the_gunicorn_socket() -> None:
    upstreams = [u["dial"] for p in _app_proxies("Caddyfile") for u in p["upstreams"]]
    assert "unix//run/shipyard/shipyard.sock" in upstreams


def test_single_vps_opens_a_new_socket_connection_per_request() -> None:
    # A pooled connection closed by a worker that a reload retires would fail a POST (not retried).
    app_proxies = _app_proxies("Caddyfile")
    assert app_proxies
    assert all(proxy["transport"]["keep_alive"]["enabled"] is False for proxy in app_proxies)


def test_five_vps_variant_balances_every_app_host() -> None:
    upstreams = [[u["dial"] for u in p["upstreams"]] for p in _handlers(_adapted("Caddyfile.multi"), "reverse_proxy")]
    assert ["10.0.1.11:8000", "10.0.1.12:8000"] in upstreams


@pytest.mark.parametrize("variant", VARIANTS)
def test_request_body_limit_matches_the_apps(variant: str) -> None:
    limits = {node["max_size"] for node in _handlers(_public_server(_adapted(variant)), "request_body")}
    assert limits == {Settings().max_body_bytes}


@pytest.mark.parametrize("variant", VARIANTS)
def test_security_headers_and_server_removal(variant: str) -> None:
    header_ops = [node["response"] for node in _handlers(_adapted(variant), "headers") if "response" in node]
    sets = {name: values for op in header_ops for name, values in op.get("set", {}).items()}
    assert sets["Strict-Transport-Security"] == ["max-age=63072000; includeSubDomains; preload"]
    assert sets["X-Content-Type-Options"] == ["nosniff"]
    assert sets["X-Frame-Options"] == ["DENY"]
    assert sets["Referrer-Policy"] == ["strict-origin-when-cross-origin"]
    assert sets["Permissions-Policy"]
    assert "frame-ancestors 'none'" in sets["Content-Security-Policy"][0]
    assert any("Server" in op.get("delete", []) and op.get("deferred") for op in header_ops)


@pytest.mark.parametrize("variant", VARIANTS)
def test_public_metrics_answer_404(variant: str) -> None:
    server = _public_server(_adapted(variant))
    routes = [node for node in _walk(server) if "match" in node and "handle" in node]
    metrics = [r for r in routes if any(m.get("path") == ["/metrics*"] for m in r["match"])]
    assert metrics
    assert [h.get("status_code") for h in _handlers(metrics[0], "static_response")] == [404]


@pytest.mark.parametrize("variant", VARIANTS)
def test_compression_and_json_access_log_with_roll(variant: str) -> None:
    config = _adapted(variant)
    encoders = _handlers(config, "encode")
    assert encoders
    assert set(encoders[0]["encodings"]) == {"zstd", "gzip"}
    logs = config["logging"]["logs"]
    access = next(log for name, log in logs.items() if name != "default")
    assert access["encoder"]["format"] == "json"
    assert access["writer"]["output"] == "file"
    assert access["writer"]["roll_size_mb"] >= 1
    assert access["writer"]["roll_keep"] >= 1


def _readme_validate_command() -> str:
    lines = [line for line in (REPO / "deploy" / "README.md").read_text().splitlines() if "caddy validate --" in line]
    assert len(lines) == 1, lines
    return lines[0].removeprefix("sudo -u caddy ")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_guides_validate_command_works_on_debians_caddy(variant: str, tmp_path: Path) -> None:
    # The example as an operator fills it in, with every optional line switched on.
    example = (CADDY_DIR / "shipyard.env.example").read_text().replace("#SHIPYARD_", "SHIPYARD_")
    env_file = tmp_path / "shipyard.env"
    env_file.write_text(example + f"SHIPYARD_CADDY_LOG={tmp_path / 'access.log'}\n")
    command = (
        _readme_validate_command()
        .replace("/etc/caddy/shipyard.env", str(env_file))
        .replace("/etc/caddy/Caddyfile", str(CADDY_DIR / variant))
    )
    result = subprocess.run(  # noqa: S603 - the guide's own command line, run by the POSIX shell
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def _public_servers(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTTPS and plain-HTTP servers (not the loopback metrics site)."""
    servers = config["apps"]["http"]["servers"].values()
    return [server for server in servers if not any(a.startswith("127.0.0.1") for a in server["listen"])]


def _deferred_response_headers(node: object) -> list[dict[str, Any]]:
    return [h["response"] for h in _handlers(node, "headers") if h.get("response", {}).get("deferred")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_public_server_answers_its_own_errors_as_problems_with_the_headers(variant: str) -> None:
    servers = _public_servers(_adapted(variant))
    assert len(servers) == 2  # HTTPS and plain HTTP
    for server in servers:
        errors = server["errors"]
        # One error route per site on this server (the domain's and the catch-all), each with the headers.
        header_ops = _deferred_response_headers(errors)
        assert len(header_ops) == len(errors["routes"]) >= 1
        for headers in header_ops:
            assert headers["set"]["Strict-Transport-Security"] == ["max-age=63072000; includeSubDomains; preload"]
            assert headers["set"]["X-Content-Type-Options"] == ["nosniff"]
            assert headers["set"]["X-Frame-Options"] == ["DENY"]
            assert headers["set"]["Content-Type"] == ["application/problem+json"]
            assert "Server" in headers["delete"]
        bodies = [node["body"] for node in _handlers(errors, "static_response")]
        codes = {json.loads(body.replace("{http.error.status_code}", "502"))["code"] for body in bodies}
        assert {"upstream_unavailable", "request_too_large", "unknown_host", "http_502"} <= codes


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_public_server_refuses_an_unknown_host_with_421(variant: str) -> None:
    for server in _public_servers(_adapted(variant)):
        last = server["routes"][-1]
        assert "match" not in last  # any Host the sites above did not claim
        assert [node["status_code"] for node in _handlers(last, "error")] == [421]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_plain_http_redirect_carries_the_headers_and_keeps_the_port(variant: str) -> None:
    config = _adapted(variant)
    plain = next(server for server in _public_servers(config) if ":80" in server["listen"])
    redirect_route = next(route for route in plain["routes"] if route.get("match") == [{"host": ["app.example.com"]}])
    [redirect] = _handlers(redirect_route, "static_response")
    assert redirect["status_code"] == 308
    assert redirect["headers"]["Location"] == ["https://{http.request.host}:443{http.request.uri}"]
    [headers] = _deferred_response_headers(redirect_route)
    assert "Server" in headers["delete"]
    assert headers["set"]["Strict-Transport-Security"]


def _declared_length_pattern(variant: str) -> re.Pattern[str]:
    patterns = [
        matcher["header_regexp"]["Content-Length"]["pattern"]
        for matcher in _walk(_adapted(variant))
        if "Content-Length" in matcher.get("header_regexp", {})
    ]
    assert len(patterns) == 1, patterns
    return re.compile(patterns[0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_declared_length_over_one_mebibyte_is_refused_before_the_app(variant: str) -> None:
    # Go's RE2 and Python agree on this pattern's syntax (classes, counted repeats, anchors).
    pattern = _declared_length_pattern(variant)
    limit = 1024 * 1024
    boundary = [*range(limit - 1000, limit + 1000), *range(0, 20_000_000, 99_991), *(10**k for k in range(12))]
    for length in boundary:
        assert bool(pattern.fullmatch(str(length))) == (length > limit), length
    assert pattern.fullmatch(f"00{limit + 1}")
    assert not pattern.fullmatch(f"00{limit}")
    assert not pattern.fullmatch("")
    assert not pattern.fullmatch("-5")
