"""Redaction: what keeps a credential out of logs, error reports, MCP answers and Sentry events.

A security boundary rather than logging plumbing: `scrub` masks credential-looking values anywhere in a
value, and `redact_secrets` is the structlog processor that applies it (and masks secret-named keys) on
every log line. Error reports, the MCP tool-call log and the Sentry hook call `scrub` directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

# Keys whose values are never logged, whatever they hold.
_SECRET_KEYS = re.compile(r"(authorization|cookie|password|passwd|secret|token|api[_-]?key|credential)", re.IGNORECASE)
# Values that look like credentials wherever they appear: our tokens, Authorization header values,
# URL passwords, and `password=...`-style pairs in free text (libpq DSNs in driver errors, say).
_SECRET_VALUES = (
    (re.compile(r"shp_[A-Za-z0-9]+_[A-Za-z0-9]+"), "shp_[REDACTED]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_[REDACTED]"),
    (re.compile(r"(?i)\b((?:bearer|basic)\s+)[^\s\"',]+"), r"\1[REDACTED]"),
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
    (
        re.compile(
            r"(?i)\b([a-z_]*(?:password|passwd|secret|api[_-]?key)[a-z_]*|(?:access_|refresh_|id_)?token)"
            r"([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"(?i)\b((?:set-)?cookie[\"']?\s*[=:]\s*[\"']?)[^\"'\n]+"), r"\1[REDACTED]"),
    # A JWT (an ID token, say) wherever it appears: its header is base64url JSON, so it starts with "eyJ".
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[REDACTED_JWT]"),
)
REDACTED = "[REDACTED]"
# Keys that name a secret but carry something harmless we want to see.
_ALLOWED_KEYS = frozenset({"token_id", "token_cache_ttl_s", "token_last_used_resolution_s"})
# Keys set by the processors that run just before redaction (`add_log_level`, `add_logger_name`,
# `_add_timestamp`), which overwrite whatever a caller passed under them: a level name, a logger name
# chosen in code, the clock. Never input, never a secret, so not worth reading on every line.
PRODUCED_KEYS = frozenset({"level", "logger", "timestamp"})
# Values with nothing in them to scrub (a secret-named key is still masked whatever its value).
_SCALARS = frozenset({int, float, bool, type(None)})


def scrub(value: Any) -> Any:  # noqa: ANN401 - log values are arbitrary
    """Mask anything that looks like a credential inside `value`."""
    if isinstance(value, str):
        if not _may_hold_secret(value.lower()):
            return value
        for pattern, replacement in _SECRET_VALUES:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, Mapping):
        return {key: _scrub_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _may_hold_secret(lowered: str) -> bool:
    # Lower-case substrings without which none of the patterns above can match. Most values hold none
    # of them, and this runs for every value of every log line: plain `in` tests, no regex, no generator.
    return (
        "shp_" in lowered
        or "whsec_" in lowered
        or "bearer" in lowered
        or "basic" in lowered
        or "://" in lowered
        or "passw" in lowered
        or "secret" in lowered
        or "apikey" in lowered
        or "api_key" in lowered
        or "api-key" in lowered
        or "token" in lowered
        or "cookie" in lowered
        or "eyj" in lowered
    )


def _secret_key(key: str) -> bool:
    secret = _SECRET_KEY_VERDICTS.get(key)
    if secret is None:
        secret = key not in _ALLOWED_KEYS and _SECRET_KEYS.search(key) is not None
        if len(_SECRET_KEY_VERDICTS) < _MAX_REMEMBERED_KEYS:
            _SECRET_KEY_VERDICTS[key] = secret
    return secret


def _scrub_item(key: str, value: Any) -> Any:  # noqa: ANN401 - log values are arbitrary
    return REDACTED if _secret_key(key) else scrub(value)


# Log lines reuse a small set of keys: the verdict on each is remembered (up to a bound).
_SECRET_KEY_VERDICTS: dict[str, bool] = {}
_MAX_REMEMBERED_KEYS = 1024


def redact_secrets(logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: the last line of defence against a secret reaching a log."""
    # Foreign records come with no logger (`ProcessorFormatter` passes None), so only the produced keys
    # are skipped for them; our loggers add the keys their callers vouch for (see `get_logger`).
    unscrubbed: frozenset[str] = getattr(logger, "unscrubbed_keys", PRODUCED_KEYS)
    verdicts = _SECRET_KEY_VERDICTS
    # Only values of existing keys are replaced, which iterating a dict's items allows.
    for key, value in event_dict.items():
        if key in unscrubbed:
            continue
        secret = verdicts.get(key)
        if secret is None:
            secret = _secret_key(key)
        if secret:
            event_dict[key] = REDACTED
        elif value.__class__ not in _SCALARS:
            event_dict[key] = scrub(value)
    return event_dict
