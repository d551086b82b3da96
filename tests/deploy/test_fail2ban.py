"""deploy/fail2ban: the real fail2ban-regex matches the app's real `auth_failed` lines, and nothing else."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from shipyard.auth.failures import report_auth_failure
from shipyard.kit.logging import get_logger
from shipyard.kit.request_context import RequestContextMiddleware
from tests.fixtures.binaries import require_binary
from tests.fixtures.log_capture import CapturedLogs, production_logs

REPO = Path(__file__).resolve().parents[2]
FILTER = REPO / "deploy" / "fail2ban" / "filter.d" / "shipyard-auth.conf"
JAIL = REPO / "deploy" / "fail2ban" / "jail.d" / "shipyard.conf"
UNIT = REPO / "deploy" / "systemd" / "shipyard-web.service"

FAILURES = [
    ("203.0.113.7", "state_mismatch", {"provider": "google"}),
    ("198.51.100.23", "invalid_id_token", {"provider": "github", "detail": "signature did not verify"}),
    ("2001:db8::7", "rate_limited", {"bucket": "auth_login"}),
    ("203.0.113.8", "refresh_reuse_detected", {}),
]


async def _access_log_line() -> None:
    """One ordinary request through the real access-log middleware."""
    app = FastAPI(middleware=[Middleware(RequestContextMiddleware, metrics=None, access_log=True)])

    @app.get("/api/auth/login")
    async def login() -> dict[str, Any]:
        return {}

    transport = httpx.ASGITransport(app=app, client=("203.0.113.99", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/api/auth/login", headers={"User-Agent": '"client_ip": "6.6.6.6"'})).status_code == 200


async def _production_lines() -> CapturedLogs:
    with production_logs() as logs:
        for ip, reason, fields in FAILURES:
            report_auth_failure(reason=reason, client_ip=ip, **fields)
        await _access_log_line()
        # Lines that mention the event or the key without being a failure event must not match.
        get_logger("shipyard.rate_limit").warning("rate_limit_redis_unavailable", note='"event": "auth_failed"')
        get_logger("shipyard.auth").info("auth_succeeded", client_ip="192.0.2.50")
        report_auth_failure(reason="provider_error", client_ip=None, detail='x", "client_ip": "6.6.6.6", "y": "')
        report_auth_failure(reason="provider_unavailable", client_ip="192.0.2.60")  # the IdP is down: not the client
        report_auth_failure(reason="provider_error", client_ip="not an address", upstream={"client_ip": "6.6.6.6"})
    return logs


def _fail2ban_regex(log_file: Path, out: str) -> list[str]:
    binary = require_binary("fail2ban-regex", "fail2ban")
    done = subprocess.run(  # noqa: S603 - a fixed binary and our own files
        [binary, "--out", out, str(log_file), str(FILTER)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


async def test_every_failure_line_is_matched_with_its_address_and_time(tmp_path: Path) -> None:
    logs = await _production_lines()
    log_file = tmp_path / "shipyard.log"
    log_file.write_text(logs.text)
    failures = [
        line
        for line in logs.lines()
        if line["event"] == "auth_failed" and line["client_ip"] and line["reason"] != "provider_unavailable"
    ]
    assert len(failures) == len(FAILURES)

    rows = [ast.literal_eval(row.rstrip(",")) for row in _fail2ban_regex(log_file, "row")]
    assert [row[0] for row in rows] == [ip for ip, _, _ in FAILURES]
    # The date comes from the JSON "timestamp" (the datepattern), to the second.
    expected_times = [int(datetime.fromisoformat(line["timestamp"]).timestamp()) for line in failures]
    assert [int(row[1]) for row in rows] == expected_times


async def test_the_access_log_and_lookalike_lines_are_not_matched(tmp_path: Path) -> None:
    logs = await _production_lines()
    log_file = tmp_path / "shipyard.log"
    log_file.write_text(logs.text)
    matched = _fail2ban_regex(log_file, "msg")
    assert len(matched) == len(FAILURES)
    assert [json.loads(line)["event"] for line in matched] == ["auth_failed"] * len(FAILURES)
    addresses = "\n".join(_fail2ban_regex(log_file, "ip"))
    assert "6.6.6.6" not in addresses
    assert "192.0.2.50" not in addresses
    assert "192.0.2.60" not in addresses
    assert any(line["event"] == "request" for line in logs.lines())  # the access line was there to be missed


async def test_journal_formatted_lines_match_too(tmp_path: Path) -> None:
    # The systemd backend hands the filter "<host> <identifier>[<pid>]: <MESSAGE>".
    logs = await _production_lines()
    log_file = tmp_path / "journal.log"
    log_file.write_text("".join(f"app1 gunicorn[4242]: {line}\n" for line in logs.raw_lines()))
    assert _fail2ban_regex(log_file, "ip") == [ip for ip, _, _ in FAILURES]


def test_the_jail_reads_the_web_units_journal_and_parses_with_the_real_fail2ban(tmp_path: Path) -> None:
    require_binary("fail2ban-regex", "fail2ban")
    client = require_binary("fail2ban-client", "fail2ban")
    config = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", config)
    shutil.copy(FILTER, config / "filter.d" / FILTER.name)
    shutil.copy(JAIL, config / "jail.d" / JAIL.name)
    done = subprocess.run(  # noqa: S603 - a fixed binary and our own files
        [client, "-c", str(config), "-d"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    commands = [ast.literal_eval(line) for line in done.stdout.splitlines() if line.startswith("[")]
    jail = {tuple(command[2:3]): command[3] for command in commands if command[:2] == ["set", "shipyard-auth"]}
    assert ["add", "shipyard-auth", "systemd"] in commands
    assert jail[("addjournalmatch",)] == "_SYSTEMD_UNIT=shipyard-web.service"
    assert jail[("maxretry",)] == 10
    assert (jail[("findtime",)], jail[("bantime",)]) == ("10m", "1h")
    assert jail[("usedns",)] == "no"
    assert UNIT.exists()  # the unit the journal match names
