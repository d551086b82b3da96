"""The secret-key ring and `shipyard secrets rotate-key`, against the test's real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.kit.crypto import DecryptionError, SecretBox
from shipyard.kit.db import create_database
from shipyard.models import WebhookEndpoint
from shipyard.settings import Settings
from shipyard.webhooks.service import SECRET_PURPOSE
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.tenants import Tenant

pytestmark = pytest.mark.timeout(240)
OLD_KEY = "Old-Zq8vN3xT1pLr6Wd0Ya5Kc2He9Ub4Mf7Gs-Jo"
NEW_KEY = "New-Rt5yP0aQ3mXc8Vb1Nz6Lk4Jh7Gf2Ds9Aw-Eu"
OLDEST_KEY = "Oldest-Hy4uI7oP2aS5dF8gJ1kL3zX6cV9bN0mQ"


async def _store_endpoints(settings: Settings, tenant: Tenant, key: str, count: int, first: int = 0) -> list[str]:
    box = SecretBox(key, SECRET_PURPOSE)
    database = create_database(settings)
    ids = []
    try:
        async with database.writer() as session:
            for number in range(first, first + count):
                endpoint = WebhookEndpoint(
                    organization_id=tenant.organization_id,
                    url=f"https://hooks.example.com/{number}",
                    event_types=["*"],
                    secret_ciphertext="placeholder",
                )
                session.add(endpoint)
                await session.flush()
                endpoint.secret_ciphertext = box.encrypt(f"whsec_secret_{number}", associated=endpoint.id)
                if number == 0:
                    endpoint.previous_secret_ciphertext = box.encrypt("whsec_previous", associated=endpoint.id)
                ids.append(endpoint.id)
            await session.commit()
    finally:
        await database.dispose()
    return ids


async def _stored(settings: Settings) -> dict[str, tuple[str, str | None]]:
    database = create_database(settings)
    try:
        async with database.reader() as session:
            rows = await session.scalars(select(WebhookEndpoint))
            return {row.id: (row.secret_ciphertext, row.previous_secret_ciphertext) for row in rows}
    finally:
        await database.dispose()


def test_previous_keys_decrypt_and_only_the_current_one_encrypts() -> None:
    old = SecretBox(OLD_KEY, SECRET_PURPOSE)
    ring = SecretBox(NEW_KEY, SECRET_PURPOSE, previous_keys=[OLD_KEY])
    sealed = old.encrypt("whsec_x", associated="we_1")
    assert ring.open(sealed, associated="we_1") == ("whsec_x", False)
    resealed = ring.encrypt("whsec_x", associated="we_1")
    assert ring.open(resealed, associated="we_1") == ("whsec_x", True)
    with pytest.raises(DecryptionError):
        old.decrypt(resealed, associated="we_1")
    with pytest.raises(DecryptionError):
        SecretBox(NEW_KEY, SECRET_PURPOSE).decrypt(sealed, associated="we_1")


def test_previous_keys_are_read_comma_separated() -> None:
    settings = Settings.model_validate({"env": "test", "secret_key_previous": f" {OLD_KEY} ,{NEW_KEY},"})
    assert settings.previous_secret_keys == [OLD_KEY, NEW_KEY]
    assert OLD_KEY not in str(settings.redacted())


async def test_rotate_key_reencrypts_everything_once_and_in_one_transaction(
    settings: Settings, tenant: Tenant, database_urls: tuple[str, str], tmp_path: Path
) -> None:
    ids = await _store_endpoints(settings, tenant, OLD_KEY, 3)
    # Stored last (IDs sort by time), so a run that lacks its key fails after re-encrypting the others.
    ids += await _store_endpoints(settings, tenant, OLDEST_KEY, 1, first=3)
    before = await _stored(settings)
    cli = Cli(cli_env(tmp_path / "pycache", tmp_path, SHIPYARD_DATABASE_URL=database_urls[0]), tmp_path)

    unreadable = cli.run("secrets", "rotate-key", SHIPYARD_SECRET_KEY=NEW_KEY, SHIPYARD_SECRET_KEY_PREVIOUS=OLD_KEY)
    assert unreadable.returncode == 1
    assert f"SHIPYARD_SECRET_KEY_PREVIOUS: webhook endpoint {ids[3]}" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr
    assert OLD_KEY not in unreadable.stderr + unreadable.stdout
    assert await _stored(settings) == before

    ring = f"{OLD_KEY},{OLDEST_KEY}"
    rotated = cli.run("secrets", "rotate-key", SHIPYARD_SECRET_KEY=NEW_KEY, SHIPYARD_SECRET_KEY_PREVIOUS=ring)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 5 secrets of 4 webhook endpoints" in rotated.stdout
    assert "webhook endpoints: 4/4" in rotated.stderr
    new_only = SecretBox(NEW_KEY, SECRET_PURPOSE)
    after = await _stored(settings)
    for number, endpoint_id in enumerate(ids):
        current, previous = after[endpoint_id]
        assert new_only.decrypt(current, associated=endpoint_id) == f"whsec_secret_{number}"
        if number == 0:
            assert previous is not None
            assert new_only.decrypt(previous, associated=endpoint_id) == "whsec_previous"

    again = cli.run("secrets", "rotate-key", SHIPYARD_SECRET_KEY=NEW_KEY, SHIPYARD_SECRET_KEY_PREVIOUS=ring)
    assert again.returncode == 0, again.stderr
    assert "re-encrypted 0 secrets of 4 webhook endpoints" in again.stdout
    assert await _stored(settings) == after
