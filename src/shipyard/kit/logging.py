"""structlog configuration: JSON lines in production, readable console output in development."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import structlog

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
)
# Lower-case substrings without which none of the patterns above can match.
_MARKERS = (
    *("shp_", "whsec_", "bearer", "basic", "://"),
    *("passw", "secret", "apikey", "api_key", "api-key", "token", "cookie"),
)
REDACTED = "[REDACTED]"
# Keys that name a secret but carry something harmless we want to see.
_ALLOWED_KEYS = frozenset({"token_id", "token_cache_ttl_s", "token_last_used_resolution_s"})


def scrub(value: Any) -> Any:  # noqa: ANN401 - log values are arbitrary
    """Mask anything that looks like a credential inside `value`."""
    if isinstance(value, str):
        # Most values hold none of the markers; skip the regexes for them (this runs on every log line).
        lowered = value.lower()
        if not any(marker in lowered for marker in _MARKERS):
            return value
        for pattern, replacement in _SECRET_VALUES:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, Mapping):
        return {key: _scrub_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _scrub_item(key: str, value: Any) -> Any:  # noqa: ANN401 - log values are arbitrary
    if key not in _ALLOWED_KEYS and _SECRET_KEYS.search(key):
        return REDACTED
    return scrub(value)


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:  # noqa: ANN401
    """Structlog processor: the last line of defence against a secret reaching a log."""
    for key in list(event_dict):
        event_dict[key] = _scrub_item(key, event_dict[key])
    return event_dict


def configure_logging(*, json_lines: bool, level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route structlog and stdlib logging (uvicorn, gunicorn, alembic) through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        ),
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours (and lacks the route template and principal).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for `name`."""
    return structlog.stdlib.get_logger(name)
