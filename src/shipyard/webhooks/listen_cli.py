"""`shipyard webhooks listen`: receive the development organisation's webhooks on this machine.

Like `stripe listen`: a temporary endpoint pointing at a loopback listener is registered, each
delivery (sent by the ordinary outbox and worker) is verified and printed, and the endpoint is
deleted when the command stops. Refused in production (docs/decisions/0035).
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import sys
import time
from types import FrameType
from typing import Annotated

import typer

from shipyard.audit import service as audit
from shipyard.identity import repository as identity_repository
from shipyard.kit.db import create_database
from shipyard.kit.ids import new_id
from shipyard.kit.logging import configure_logging
from shipyard.models import WebhookEndpoint
from shipyard.settings import LogFormat, Settings
from shipyard.webhooks import repository, signing
from shipyard.webhooks.listener import Listener, Received
from shipyard.webhooks.service import TARGET, WebhookConfig

webhooks_app = typer.Typer(help="Work with webhooks locally.", no_args_is_help=True)
POLL_S = 0.2


async def _register(settings: Settings, org: str, url: str, secret: str) -> str:
    database = create_database(settings)
    try:
        async with database.writer() as session:
            organization = await identity_repository.get_organization_by_slug(session, org)
            if organization is None:
                raise _fail(f"no organisation with slug {org!r} (create one with `shipyard orgs create`)")
            endpoint_id = new_id("we")
            box = WebhookConfig.from_settings(settings).box
            repository.add(
                session,
                WebhookEndpoint(
                    id=endpoint_id,
                    organization_id=organization.id,
                    url=url,
                    description="shipyard webhooks listen (temporary)",
                    event_types=["*"],
                    secret_ciphertext=box.encrypt(secret, associated=endpoint_id),
                    local_listener=True,
                ),
            )
            await session.flush()
            audit.record(session, None, "webhook_endpoint.created", target_type=TARGET, target_id=endpoint_id)
            await session.commit()
            return endpoint_id
    finally:
        await database.dispose()


async def _remove(settings: Settings, endpoint_id: str) -> None:
    database = create_database(settings)
    try:
        async with database.writer() as session:
            endpoint = await repository.endpoint_by_id(session, endpoint_id)
            if endpoint is not None:
                await repository.remove(session, endpoint)
                await session.flush()
                audit.record(session, None, "webhook_endpoint.deleted", target_type=TARGET, target_id=endpoint_id)
                await session.commit()
    finally:
        await database.dispose()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _print(received: Received, *, as_json: bool) -> None:
    if received.event is None:
        # Reported on stderr, never on stdout: stdout carries verified events only.
        typer.echo(f"refused {received.webhook_id or '(no webhook-id)'}: {received.error}", err=True)
        return
    event = received.event
    if as_json:
        typer.echo(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    else:
        typer.echo(f"{event.get('type')}  {event.get('id')}")
        typer.echo(json.dumps(event, indent=2, ensure_ascii=False))


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@webhooks_app.command("listen")
def listen(
    org: Annotated[str, typer.Option(help="Organisation slug whose events to receive.")] = "default",
    port: Annotated[int, typer.Option(help="Loopback port to listen on (0: a free one).", min=0, max=65535)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (the event) per line.")] = False,
    max_events: Annotated[int | None, typer.Option(help="Stop after this many verified events.", min=1)] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
) -> None:
    """Receive, verify and print the organisation's webhooks on this machine (development only)."""
    settings = Settings()
    # stdout carries the events; logs and status lines go to stderr.
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level, stream=sys.stderr)
    if settings.is_production:
        raise _fail("`shipyard webhooks listen` is for development and is refused when SHIPYARD_ENV=production")
    if settings.webhooks_require_https:
        raise _fail("SHIPYARD_WEBHOOK_REQUIRE_HTTPS is on, but the local listener is plain http; unset it to listen")
    secret = signing.new_secret()
    try:
        listener = Listener(secret, port)
    except OSError as exc:
        raise _fail(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass another --port or 0") from None
    endpoint_id = asyncio.run(_register(settings, org, listener.url, secret))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    listener.start()
    typer.echo(f"Listening on {listener.url} for {org!r} (temporary endpoint {endpoint_id}); Ctrl-C stops.", err=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    verified = 0
    try:
        while max_events is None or verified < max_events:
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                received = listener.received.get(timeout=POLL_S)
            except queue.Empty:
                continue
            _print(received, as_json=as_json)
            verified += received.event is not None
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()
        asyncio.run(_remove(settings, endpoint_id))
        typer.echo(f"Removed temporary endpoint {endpoint_id}.", err=True)
    if max_events is not None and verified < max_events:
        raise _fail(f"stopped after {verified} of {max_events} events")
