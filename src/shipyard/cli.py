"""The `shipyard` command: serve, migrate, check-config, orgs and tokens."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

import shipyard.domains  # noqa: F401  # installs the domains' scopes, which `tokens create` checks
from shipyard.backup.cli import add_commands as add_backup_commands
from shipyard.cli_errors import EXIT_CONFIG, explain
from shipyard.identity import repository as identity_repository
from shipyard.identity import service as identity_service
from shipyard.kit.cli_transaction import command_settings, in_transaction, refuse
from shipyard.kit.db import create_database
from shipyard.members.cli import add_commands as add_members_commands
from shipyard.models import ApiToken
from shipyard.models.base import utcnow
from shipyard.ops.backups_pg_cli import ops_app
from shipyard.ops.secrets_cli import add_commands as add_secrets_commands
from shipyard.ops.verify import verify_command
from shipyard.release.cli import add_commands as add_release_commands
from shipyard.settings import MissingSettingsError, Settings
from shipyard.webhooks.listen_cli import webhooks_app
from shipyard.worker_cli import add_commands as add_worker_commands

# Tracebacks never show local variables: those hold settings, URLs with passwords and token secrets.
app = typer.Typer(
    help="Shipyard: a production-grade, secure, AI-friendly SaaS platform.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
orgs_app = typer.Typer(help="Manage organisations.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(tokens_app, name="tokens")
app.add_typer(ops_app, name="ops")
app.add_typer(webhooks_app, name="webhooks")


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"shipyard {version('shipyard')}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Shipyard: a production-grade, secure, AI-friendly SaaS platform."""


_DURATION = re.compile(r"^(\d+)([dhm])$")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h` or `90m` as a timedelta."""
    match = _DURATION.fullmatch(text.strip())
    # Zero is refused too: an empty lifetime must not turn into "never expires".
    if not match or int(match.group(1)) == 0:
        msg = f"expected a positive duration like 30d, 12h or 90m, got {text!r}"
        raise typer.BadParameter(msg)
    amount, unit = int(match.group(1)), match.group(2)
    return (
        timedelta(days=amount) if unit == "d" else timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
    )


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (as SHIPYARD_MIGRATION_DATABASE_URL's DDL role when set)."""
    from shipyard.kit.migrate import upgrade

    settings = command_settings()
    upgrade(settings, revision)
    typer.echo(f"database migrated to {revision}")


@app.command("check-config")
def check_config() -> None:
    """Print the effective configuration with secrets redacted; exit 1 if production would refuse it."""
    settings = Settings()
    typer.echo(json.dumps(settings.redacted(), indent=2, sort_keys=True, default=str))
    for warning in settings.production_warnings():
        typer.echo(f"warning: {warning}", err=True)
    if settings.is_production and (missing := settings.missing_for_production()):
        raise refuse("missing required settings: " + ", ".join(missing))


def _print_bootstrap(base: str, secret: str) -> None:
    typer.echo(
        "\n".join(
            [
                "",
                "=" * 72,
                "First run: created organisation 'default' and an admin API token.",
                "It is shown ONCE. Store it now:",
                "",
                f"    {secret}",
                "",
                "Try it:",
                f"    export SHIPYARD_TOKEN={secret}",
                f'    curl -s -H "Authorization: Bearer $SHIPYARD_TOKEN" {base}/api/v1/me',
                '    curl -s -X POST -H "Authorization: Bearer $SHIPYARD_TOKEN" \\',
                "         -H 'Content-Type: application/json' \\",
                '         -H "Idempotency-Key: $(uuidgen || date +%s%N)" \\',
                f'         -d \'{{"name":"Ada","email":"ada@example.com"}}\' {base}/api/v1/customers',
                f"API docs: {base}/docs",
                "=" * 72,
                "",
            ],
        ),
    )


def _base_url(settings: Settings, host: str, port: int) -> str:
    """Where the server can be reached: SHIPYARD_PUBLIC_URL when set, else the address it binds."""
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104  # nosec B104 - compared, not bound
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _ping_database(settings: Settings) -> None:
    async def ping() -> None:
        database = create_database(settings)
        try:
            await database.ping(timeout_s=settings.db_pool_timeout_s)
        finally:
            await database.dispose()

    asyncio.run(ping())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default from settings).")] = None,
) -> None:
    """Run Shipyard in one process (uvicorn). Production runs it under gunicorn; see deploy/."""
    settings = command_settings(logs_on_stdout=True)
    try:
        settings.require_production_ready()
    except MissingSettingsError as exc:
        raise refuse(str(exc)) from None
    host = host or settings.host
    port = port or settings.port
    if settings.is_production:
        # Fail here, in one line, rather than in the lifespan of a server that already said it started.
        _ping_database(settings)
    elif settings.is_sqlite:
        # The embedded default needs no separate step: `shipyard serve` on a fresh clone just works.
        from shipyard.kit.migrate import upgrade

        upgrade(settings)
    if not settings.is_production:
        created = in_transaction(settings, identity_service.bootstrap)
        if created is not None:
            _print_bootstrap(_base_url(settings, host, port), created.issued.secret)
    import uvicorn

    from shipyard.app import create_app
    from shipyard.kit.server_limits import ServerLimits, limited_protocol

    limits = ServerLimits(
        header_timeout_s=settings.server_header_timeout_s,
        body_timeout_s=settings.server_body_timeout_s,
        max_header_bytes=settings.server_max_header_bytes,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # Bare on the network, the server bounds every connection itself (kit/server_limits.py).
        http=limited_protocol(limits),
        timeout_keep_alive=settings.server_keep_alive_s,
    )


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Argument(help="Display name.")],
    slug: Annotated[str | None, typer.Option(help="URL slug (derived from the name by default).")] = None,
    owner_email: Annotated[str, typer.Option(help="Email of the owner (created if new).")] = "admin@localhost",
) -> None:
    """Create an organisation with an owner."""
    settings = command_settings()

    async def work(session: AsyncSession) -> str:
        owner = await identity_service.get_or_create_user(session, owner_email)
        organization = await identity_service.create_organization(session, name, slug=slug, owner=owner)
        return organization.slug

    typer.echo(f"created organisation {in_transaction(settings, work)}")


AS_JSON = typer.Option("--json", help="Print a JSON array with stable field names (docs/cli.md).")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@orgs_app.command("list")
def orgs_list(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """List organisations (slug, id and name per line, or --json)."""
    settings = command_settings()
    organizations = in_transaction(settings, identity_repository.list_organizations)
    if as_json:
        rows = [
            {"id": org.id, "slug": org.slug, "name": org.name, "created_at": _iso(org.created_at)}
            for org in organizations
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    for organization in organizations:
        typer.echo(f"{organization.slug}\t{organization.id}\t{organization.name}")


@tokens_app.command("create")
def tokens_create(
    org: Annotated[str, typer.Option(help="Organisation slug.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes, e.g. customers:read,invoices:read.")],
    expires_in: Annotated[str | None, typer.Option(help="Lifetime such as 30d, 12h or 90m.")] = None,
    user: Annotated[str | None, typer.Option(help="Creator's email (default: the org's first owner).")] = None,
) -> None:
    """Create an API token and print its secret once."""
    settings = command_settings()
    lifetime = parse_duration(expires_in) if expires_in is not None else None
    wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]

    async def work(session: AsyncSession) -> str:
        organization = await identity_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise refuse(f"no organisation with slug {org!r}")
        creator = (
            await identity_repository.get_user_by_email(session, user)
            if user
            else await identity_repository.first_owner(session, organization.id)
        )
        if creator is None:
            raise refuse("no such user" if user else "the organisation has no owner")
        issued = await identity_service.issue_token(
            session, organization.id, creator.id, name=name, scopes=wanted, expires_in=lifetime, principal=None
        )
        return issued.secret

    typer.echo(in_transaction(settings, work))


def _status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked " + token.revoked_at.isoformat()
    if token.expires_at is None:
        return "active"
    return ("expired " if token.expires_at <= utcnow() else "expires ") + token.expires_at.isoformat()


def _token_row(token: ApiToken) -> dict[str, object]:
    state = (
        "revoked" if token.revoked_at else "expired" if token.expires_at and token.expires_at <= utcnow() else "active"
    )
    return {
        "id": token.id,
        "prefix": token.display_prefix,
        "name": token.name,
        "scopes": list(token.scopes),
        "state": state,
        "created_at": _iso(token.created_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "last_used_at": _iso(token.last_used_at),
    }


@tokens_app.command("list")
def tokens_list(
    org: Annotated[str, typer.Option(help="Organisation slug.")],
    as_json: Annotated[bool, AS_JSON] = False,
) -> None:
    """List an organisation's tokens (never their secrets), one per line or --json."""
    settings = command_settings()

    async def work(session: AsyncSession) -> list[ApiToken]:
        organization = await identity_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise refuse(f"no organisation with slug {org!r}")
        return list(await identity_repository.list_tokens_by_org(session, organization.id))

    tokens = in_transaction(settings, work)
    if as_json:
        typer.echo(json.dumps([_token_row(token) for token in tokens], indent=2))
        return
    for t in tokens:
        typer.echo(f"{t.id}\t{t.display_prefix}…\t{t.name}\t{','.join(t.scopes)}\t{_status(t)}")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's ID (tok_...).")],
    org: Annotated[str, typer.Option(help="Organisation slug.")],
) -> None:
    """Revoke a token; running processes stop accepting it within the token cache TTL (5 s)."""
    settings = command_settings()

    async def work(session: AsyncSession) -> None:
        organization = await identity_repository.get_organization_by_slug(session, org)
        token = await identity_repository.get_token(session, organization.id, token_id) if organization else None
        if token is None:
            raise refuse(f"no token {token_id!r} in organisation {org!r}")
        await identity_service.revoke_token(session, None, token)

    in_transaction(settings, work)
    typer.echo(f"revoked {token_id}")


app.command("verify")(verify_command)


@app.command()
def mcp() -> None:
    """Serve the read-only MCP server over stdio, as the API token in SHIPYARD_MCP_TOKEN."""
    # No command_settings() here: it logs to stdout, and over stdio stdout carries the protocol.
    from shipyard.mcp.stdio import main as serve_mcp

    serve_mcp()


def main() -> None:
    """Entry point of the `shipyard` console script."""
    try:
        app()
    except Exception as exc:
        command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
        line = explain(exc, command)
        if line is None:
            raise
        # The traceback stays available to whoever turns on DEBUG; the operator reads one line.
        logging.getLogger("shipyard.cli").debug("start-up failed", exc_info=exc)
        typer.echo(f"error: {line}", err=True)
        sys.exit(EXIT_CONFIG)


add_worker_commands(app)
add_backup_commands(app)
add_secrets_commands(app)
add_release_commands(app)
add_members_commands(app)
