"""`shipyard secrets rotate-key`: re-encrypt every stored secret with the current SHIPYARD_SECRET_KEY.

Procedure (docs/operations/secrets.md): set the new key as SHIPYARD_SECRET_KEY and the old one in
SHIPYARD_SECRET_KEY_PREVIOUS, restart, run this command, then drop the old key. It runs in one
transaction (all rows or none), skips what the current key already opened (so a second run changes
nothing), and reports its progress on stderr.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

import typer
from sqlalchemy import func, select

from shipyard.kit.crypto import DecryptionError, SecretBox
from shipyard.kit.db import create_database
from shipyard.kit.logging import configure_logging
from shipyard.models import WebhookEndpoint
from shipyard.settings import LogFormat, Settings
from shipyard.webhooks.service import SECRET_PURPOSE

secrets_app = typer.Typer(help="Manage the secret key and what it encrypts.", no_args_is_help=True)
_BATCH = 500


@dataclass
class Rotation:
    """What a run found and changed."""

    checked: int = 0
    reencrypted: int = 0


class UnreadableSecretError(RuntimeError):
    """A stored secret opens with no key of the ring: the key it was made with is missing."""


def _rewrap(box: SecretBox, ciphertext: str, row_id: str) -> str | None:
    try:
        plaintext, current = box.open(ciphertext, associated=row_id)
    except DecryptionError:
        msg = (
            f"SHIPYARD_SECRET_KEY_PREVIOUS: webhook endpoint {row_id}'s secret opens with none of the keys;"
            " add the key it was encrypted with (nothing was changed)"
        )
        raise UnreadableSecretError(msg) from None
    return None if current else box.encrypt(plaintext, associated=row_id)


async def rotate(settings: Settings) -> Rotation:
    """Re-encrypt every webhook signing secret (current and previous) with the current key, in one transaction."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox(key, SECRET_PURPOSE, previous_keys=settings.previous_secret_keys)
    database = create_database(settings)
    rotation = Rotation()
    try:
        async with database.writer() as session:
            total = await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0
            # Keyset pages by id: a bounded amount in memory, and a row never read twice.
            last_id = ""
            while True:
                after = WebhookEndpoint.id > last_id
                statement = select(WebhookEndpoint).where(after).order_by(WebhookEndpoint.id).limit(_BATCH)
                page = list(await session.scalars(statement))
                if not page:
                    break
                for endpoint in page:
                    rotation.checked += 1
                    if (fresh := _rewrap(box, endpoint.secret_ciphertext, endpoint.id)) is not None:
                        endpoint.secret_ciphertext = fresh
                        rotation.reencrypted += 1
                    previous = endpoint.previous_secret_ciphertext
                    if previous and (fresh := _rewrap(box, previous, endpoint.id)) is not None:
                        endpoint.previous_secret_ciphertext = fresh
                        rotation.reencrypted += 1
                last_id = page[-1].id
                await session.flush()
                typer.echo(f"webhook endpoints: {rotation.checked}/{total}", err=True)
            await session.commit()
    finally:
        await database.dispose()
    return rotation


@secrets_app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt stored secrets with SHIPYARD_SECRET_KEY (older keys in SHIPYARD_SECRET_KEY_PREVIOUS)."""
    settings = Settings()
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level, stream=sys.stderr)
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        typer.echo("error: SHIPYARD_SECRET_KEY: set the new key before rotating to it", err=True)
        raise typer.Exit(code=1)
    try:
        rotation = asyncio.run(rotate(settings))
    except UnreadableSecretError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"re-encrypted {rotation.reencrypted} secrets of {rotation.checked} webhook endpoints")


def add_commands(app: typer.Typer) -> None:
    """Register `shipyard secrets ...` on the main command."""
    app.add_typer(secrets_app, name="secrets")
