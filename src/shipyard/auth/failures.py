"""One log event per authentication failure, in the shape fail2ban matches (deploy/fail2ban/).

The event is named `auth_failed`, logged at WARNING, and carries `client_ip` and a stable snake_case
`reason`. The fail2ban filter reads exactly those two keys, so they are a contract with operators:
rename neither. This only logs; the caller records the audit event.

What the event can never carry: secrets (the log scrubber in kit/redaction.py runs on every line, and
JWT-looking values are masked here as well) and anything that could make fail2ban ban an address of
an attacker's choosing. `client_ip` is re-parsed as an IP address, and every extra field is flattened
to a bounded scalar, so no nested object can smuggle in a second `"client_ip"` key.
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.kit.logging import get_logger
from shipyard.kit.rate_limit import normalise_ip

EVENT = "auth_failed"
# Codes the sign-in code emits today; any snake_case code is accepted, these are the documented ones.
KNOWN_REASONS = frozenset(
    {
        "state_mismatch",
        "login_expired",
        "invalid_login_attempt",
        "provider_error",
        "provider_unavailable",
        "issuer_mismatch",
        "code_exchange_failed",
        "invalid_id_token",
        "nonce_mismatch",
        "userinfo_mismatch",
        "rate_limited",
        "refresh_reuse_detected",
        "invalid_session",
        "csrf_failed",
    }
)
# Long enough for an error description from a provider, short enough to keep a flood of failures cheap.
MAX_FIELD_CHARS = 256

_REASON = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A JWT (an ID token, say): three base64url segments, the first a JSON header ("eyJ" is `{"`).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
# Keys the log pipeline sets itself; a field with one of these names would replace or clash with it.
_RESERVED = frozenset({"event", "level", "logger", "timestamp", "request_id", "reason", "client_ip", "provider"})

log = get_logger("shipyard.auth")


def report_auth_failure(
    *,
    reason: str,
    client_ip: str | None,
    provider: str | None = None,
    **fields: Any,  # noqa: ANN401 - context for a person reading the log; flattened below
) -> None:
    """Log one `auth_failed` event (WARNING) for fail2ban and the operators; never raises on odd input values."""
    if not _REASON.fullmatch(reason):
        msg = f"reason must be a snake_case code, got {reason!r}"
        raise ValueError(msg)
    if clashing := _RESERVED.intersection(fields):
        msg = f"reserved log keys cannot be passed as fields: {sorted(clashing)}"
        raise ValueError(msg)
    log.warning(
        EVENT,
        client_ip=normalise_ip(client_ip),
        reason=reason,
        provider=_flat(provider),
        **{name: _flat(value) for name, value in fields.items()},
    )


def _flat(value: Any) -> str | int | float | bool | None:  # noqa: ANN401 - any caller value
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    text = _JWT.sub("[REDACTED]", text)
    if len(text) > MAX_FIELD_CHARS:
        text = text[: MAX_FIELD_CHARS - 1] + "…"
    return text
