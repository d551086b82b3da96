"""The production stack on loopback, once per session: PostgreSQL, PgBouncer, Redis, gunicorn, Caddy.

Each process runs from the shipped configuration in deploy/: the PgBouncer ini, the gunicorn
config, the Caddyfile, and the web unit's seccomp rules (tests/e2e/sandbox.py). Roles and grants
come from deploy/postgres/*.sql, migrations run under the DDL role through the real CLI, and the
app connects as the DML-only role through PgBouncer with SCRAM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shipyard.identity import service as identity_service
from shipyard.kit.db import create_database
from shipyard.settings import Settings
from tests.e2e.sandbox import policy_from_unit, write_policy
from tests.e2e.servers import DEPLOY, VENV_BIN, CaddyServer, Gunicorn, PgBouncerServer, group_of
from tests.fixtures.servers import LOOPBACK, PostgresServer, RedisServer

WEB_UNIT = DEPLOY / "systemd" / "shipyard-web.service"
ALL_SCOPES = ["customers:read", "customers:write", "invoices:read", "invoices:write", "tokens:write", "audit:read"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the `e2e` marker (the suite runs with --strict-markers)."""
    config.addinivalue_line("markers", "e2e: starts the production stack (PgBouncer, gunicorn, Caddy) on loopback")


class _FakeAuthentik(BaseHTTPRequestHandler):
    """Answers every request with what it received, so a test can see what Caddy forwarded."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """Stay quiet."""


@dataclass
class Stack:
    """The running stack and what a test needs to talk to it."""

    postgres: PostgresServer
    pgbouncer: PgBouncerServer
    redis: RedisServer
    gunicorn: Gunicorn
    caddy: CaddyServer
    env: dict[str, str]
    app_password: str
    token: str

    @property
    def base_url(self) -> str:
        """The public HTTPS site."""
        return self.caddy.base_url

    @property
    def ca_file(self) -> Path:
        """Caddy's internal root certificate."""
        return self.caddy.root_ca

    @property
    def headers(self) -> dict[str, str]:
        """Authorization for the all-scopes token."""
        return {"Authorization": f"Bearer {self.token}"}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts Caddy's internal CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def app_dsn(self) -> str:
        """libpq URL of the app role through PgBouncer."""
        return f"postgresql://shipyard_app:{self.app_password}@{LOOPBACK}:{self.pgbouncer.port}/shipyard"

    def cli(self, *args: str) -> str:
        """Run the `shipyard` command with the stack's production environment; return stdout."""
        return run_cli(self.env, *args)


def run_cli(env: dict[str, str], *args: str) -> str:
    """Run the `shipyard` console script with `env`; return its stdout, raise on failure."""
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(VENV_BIN / "shipyard"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        msg = f"shipyard {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        raise RuntimeError(msg)
    return result.stdout


def _bootstrap_token(database_url: str) -> str:
    """An organisation, its owner and an all-scopes token, as the app role through PgBouncer.

    In-process rather than `shipyard orgs create` + `shipyard tokens create`: each CLI start costs
    seconds of imports, and the CLI itself is not what this suite is about.
    """
    settings = Settings.model_validate({"env": "test", "database_url": database_url, "db_pgbouncer": True})

    async def work() -> str:
        database = create_database(settings)
        try:
            async with database.writer() as session:
                owner = await identity_service.get_or_create_user(session, "owner@acme.example")
                organization = await identity_service.create_organization(session, "Acme", slug="acme", owner=owner)
                await session.flush()  # the sessions do not autoflush; issue_token reads the membership
                issued = await identity_service.issue_token(
                    session, organization.id, owner.id, name="e2e", scopes=ALL_SCOPES, expires_in=None, principal=None
                )
                await session.commit()
                return issued.secret
        finally:
            await database.dispose()

    return asyncio.run(work())


def _production_env(pgbouncer_port: int, app_password: str, redis_url: str, public_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "SHIPYARD_ENV": "production",
        "SHIPYARD_SECRET_KEY": secrets.token_urlsafe(48),
        "SHIPYARD_PUBLIC_URL": public_url,
        # As deploy/env.example writes it.
        "DATABASE_URL": f"postgresql+asyncpg://shipyard_app:{app_password}@{LOOPBACK}:{pgbouncer_port}/shipyard",
        "SHIPYARD_DB_PGBOUNCER": "1",
        "REDIS_URL": redis_url,
        "SHIPYARD_TRUST_PROXY_HEADERS": "1",
        "SHIPYARD_LOG_FORMAT": "json",
        "SHIPYARD_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start everything (about 10 s), yield it, stop it."""
    sql = DEPLOY / "postgres"
    app_password, migrator_password = secrets.token_hex(16), secrets.token_hex(16)
    with contextlib.ExitStack() as running:
        postgres = running.enter_context(PostgresServer())
        postgres.psql((sql / "01-roles.sql").read_text())
        postgres.psql((sql / "02-grants.sql").read_text(), dbname="shipyard")
        postgres.psql(
            "SET password_encryption = 'scram-sha-256';\n"
            f"ALTER ROLE shipyard_app PASSWORD '{app_password}';\n"
            f"ALTER ROLE shipyard_migrator PASSWORD '{migrator_password}';\n",
        )
        verifier = postgres.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'shipyard_app'").strip()
        pgbouncer = running.enter_context(
            PgBouncerServer(postgres_port=postgres.port, userlist=f'"shipyard_app" "{verifier}"\n')
        )
        redis = running.enter_context(RedisServer())

        authentik = ThreadingHTTPServer((LOOPBACK, 0), _FakeAuthentik)
        running.callback(authentik.server_close)
        running.callback(authentik.shutdown)
        threading.Thread(target=authentik.serve_forever, daemon=True).start()

        caddy = CaddyServer(upstream="unix//placeholder", authentik=f"{LOOPBACK}:{authentik.server_address[1]}")
        env = _production_env(pgbouncer.port, app_password, redis.url(0), caddy.base_url)
        # What shipyard-migrate.service does: the DDL role, straight to PostgreSQL (not PgBouncer).
        migrator_url = f"postgresql+asyncpg://shipyard_migrator:{migrator_password}@{LOOPBACK}:{postgres.port}/shipyard"
        run_cli({**env, "SHIPYARD_MIGRATION_DATABASE_URL": migrator_url}, "migrate")
        token = _bootstrap_token(env["DATABASE_URL"])

        policy = write_policy(policy_from_unit(WEB_UNIT), tmp_path_factory.mktemp("sandbox") / "web.json")
        gunicorn = Gunicorn(env=env, socket_group=group_of(caddy.user), policy=policy)
        running.callback(gunicorn.stop)
        gunicorn.start()
        caddy.upstream = f"unix/{gunicorn.socket_path}"
        running.enter_context(caddy)
        yield Stack(postgres, pgbouncer, redis, gunicorn, caddy, env, app_password, token)


@pytest.fixture
async def https(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the public site that trusts Caddy's internal CA (and nothing else)."""
    async with httpx.AsyncClient(base_url=stack.base_url, verify=stack.ssl_context(), timeout=60) as client:
        yield client
