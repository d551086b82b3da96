"""Checks and transformations of single setting values: database URLs, the secret key, redaction.

Kept apart from `settings.py` so that the one Settings class stays readable.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr


class InvalidSettingError(RuntimeError):
    """A setting has a value Shipyard cannot run with; the message names it and the fix."""


# The URL schemes people write, and the SQLAlchemy driver Shipyard ships for each.
_DATABASE_SCHEMES = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def normalize_database_url(url: str, *, setting: str = "DATABASE_URL") -> str:
    """`url` with the driver Shipyard ships (asyncpg, aiosqlite); any other form names `setting` and the fix.

    `postgresql://…` and `postgres://…` (what hosting providers and libpq print) mean asyncpg; a driver
    Shipyard does not install (psycopg, psycopg2) would otherwise fail deep inside SQLAlchemy.
    """
    scheme, sep, rest = url.strip().partition("://")
    driver = _DATABASE_SCHEMES.get(scheme.lower()) if sep else None
    if driver is None or not rest.strip("/"):
        raise InvalidSettingError(
            f"{setting} is not a database URL Shipyard can use ({redact_url(url)!r}): write"
            " postgresql://USER:PASSWORD@HOST:5432/DATABASE or sqlite:///PATH/TO/shipyard.db"
        )
    return f"{driver}://{rest}"


# A shell command, not a key.
SECRET_KEY_RECIPE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105
# Words of the placeholders that documentation and examples put where a secret belongs.
_PLACEHOLDER_WORDS = re.compile(
    r"change[-_ ]?me|replace[-_ ]?me|placeholder|example|your[-_ ]?secret|secret[-_ ]?key", re.IGNORECASE
)
# Bits of entropy below which a key is refused, estimated from its own characters: 32 random hex
# characters (128 real bits) estimate at about 110, a repeated or patterned string near zero.
_MIN_SECRET_KEY_BITS = 96


def weak_secret_key_reason(key: str) -> str | None:
    """Why `key` is no fit secret key (a known placeholder, or too little entropy), or None."""
    if _PLACEHOLDER_WORDS.search(key):
        return "it is a placeholder from the documentation"
    # Empirical entropy of the characters the key uses: "aaaa…" or "abababab…" scores near zero,
    # while 32+ characters of token_urlsafe score well above the floor.
    counts = [key.count(char) for char in set(key)]
    bits = -sum(count * math.log2(count / len(key)) for count in counts)
    if bits < _MIN_SECRET_KEY_BITS:
        return f"it has too little entropy (about {int(bits)} bits, at least {_MIN_SECRET_KEY_BITS} are needed)"
    return None


# Query parameters that carry a credential (libpq and asyncpg accept `?password=`).
_SECRET_QUERY_PARAM = re.compile(
    r"([?&](?:password|passwd|pwd|sslpassword|secret|token|api_?key)=)[^&#]*", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """Mask the password in a URL such as `postgresql://user:pw@host/db` (or `...?password=pw`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The authority ends at the query: an `@` after `?` (say, in an application name) is no credential.
    head, query_sep, query = rest.partition("?")
    if "@" in head:
        credentials, _, location = head.rpartition("@")
        user, has_password, _ = credentials.partition(":")
        head = f"{user}{':***' if has_password else ''}@{location}"
    return _SECRET_QUERY_PARAM.sub(r"\1***", f"{scheme}://{head}{query_sep}{query}")


def checked_sentry_dsn(dsn: SecretStr | None) -> SecretStr | None:
    """The DSN if Sentry is on; None when unset or empty (an env file's `SHIPYARD_SENTRY_DSN=` means off)."""
    if dsn is None or not dsn.get_secret_value():
        return None
    # Imported here: only a configured DSN pays for loading the SDK.
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(dsn.get_secret_value())
    except BadDsn:
        # Not the value: a DSN holds the project's key.
        raise InvalidSettingError(
            "SHIPYARD_SENTRY_DSN is not a Sentry DSN: copy it from the project's Client Keys page"
            " (https://KEY@HOST/PROJECT_ID), or unset it to turn Sentry off"
        ) from None
    return dsn
