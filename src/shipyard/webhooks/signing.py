"""Standard Webhooks signing, done by the `standardwebhooks` package rather than by hand."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh `whsec_<base64>` secret; receivers pass it to `Webhook(secret)` unchanged."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(secrets_in_use: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """`v1,<sig>` for each secret, space-separated: during a rotation the receiver may hold either."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_in_use)


def headers(secrets_in_use: list[str], message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets_in_use, message_id, timestamp, body),
    }
