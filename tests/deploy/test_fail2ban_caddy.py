"""deploy/fail2ban's Caddy filter: the real fail2ban-regex finds refused sign-ins in Caddy's JSON access log.

Caddy's lines are written here in the shape Caddy 2.6 writes them (deploy/caddy/Caddyfile.multi,
``format json``); the cluster check (tests/deploy/cluster/test_hardening_services.py) runs the same
filter over the edge's real log.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.binaries import require_binary

pytestmark = pytest.mark.database_independent

REPO = Path(__file__).resolve().parents[2]
FILTER = REPO / "deploy" / "fail2ban" / "filter.d" / "shipyard-auth-caddy.conf"
JAIL = REPO / "deploy" / "fail2ban" / "jail.d" / "shipyard-caddy.conf"
START = 1_765_000_000.1234567


def _line(at: float, remote_ip: str, uri: str, status: int, user_agent: str = "Mozilla/5.0") -> str:
    return json.dumps(
        {
            "level": "info",
            "ts": at,
            "logger": "http.log.access.log0",
            "msg": "handled request",
            "request": {
                "remote_ip": remote_ip,
                "remote_port": "41234",
                "proto": "HTTP/2.0",
                "method": "GET",
                "host": "app.example.com",
                "uri": uri,
                "headers": {"User-Agent": [user_agent]},
            },
            "user_id": "",
            "duration": 0.012,
            "size": 300,
            "status": status,
            "resp_headers": {"Content-Type": ["application/problem+json"]},
        },
        separators=(",", ":"),
    )


def _matched(tmp_path: Path, lines: list[str]) -> list[str]:
    binary = require_binary("fail2ban-regex", "fail2ban")
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - a fixed binary and our own files
        [binary, "--out", "ip", str(log), str(FILTER)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


def test_refused_sign_ins_match_with_the_client_address(tmp_path: Path) -> None:
    lines = [
        _line(START, "203.0.113.7", "/api/auth/callback?state=x&code=y", 400),
        _line(START + 1, "2001:db8::7", "/api/auth/login", 429),
        _line(START + 2, "198.51.100.23", "/api/auth/refresh", 401),
        _line(START + 3, "198.51.100.24", "/api/auth/logout", 403),
    ]
    assert _matched(tmp_path, lines) == ["203.0.113.7", "2001:db8::7", "198.51.100.23", "198.51.100.24"]


def test_successes_outages_other_paths_and_forged_text_do_not_match(tmp_path: Path) -> None:
    forged = '"uri":"/api/auth/callback","status":400,"remote_ip":"6.6.6.6"'
    lines = [
        _line(START, "203.0.113.7", "/api/auth/callback?state=x&code=y", 303),  # signed in
        _line(START + 1, "203.0.113.8", "/api/auth/callback", 503),  # the provider is down
        _line(START + 2, "203.0.113.9", "/api/v1/customers", 401),  # an API token, not a sign-in
        _line(START + 3, "203.0.113.10", "/api/v1/me", 401, user_agent=forged),
        _line(START + 4, "203.0.113.11", f"/health?{forged}", 400),
    ]
    assert _matched(tmp_path, lines) == []


def test_the_jail_reads_caddys_log_with_the_filter() -> None:
    jail = JAIL.read_text(encoding="utf-8")
    assert "[shipyard-auth-caddy]" in jail
    assert "filter   = shipyard-auth-caddy" in jail
    caddyfile = (REPO / "deploy" / "caddy" / "Caddyfile.multi").read_text(encoding="utf-8")
    # The log the jail reads is the Caddyfile's default.
    assert "{$SHIPYARD_CADDY_LOG:/var/log/caddy/shipyard-access.log}" in caddyfile
    assert "logpath  = /var/log/caddy/shipyard-access.log" in jail
