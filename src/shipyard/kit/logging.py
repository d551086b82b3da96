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
REDACTED = "[REDACTED]"
# Keys that name a secret but carry something harmless we want to see.
_ALLOWED_KEYS = frozenset({"token_id", "token_cache_ttl_s", "token_last_used_resolution_s"})


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
    )


def _scrub_item(key: str, value: Any) -> Any:  # noqa: ANN401 - log values are arbitrary
    secret = _SECRET_KEY_VERDICTS.get(key)
    if secret is None:
        secret = key not in _ALLOWED_KEYS and _SECRET_KEYS.search(key) is not None
        if len(_SECRET_KEY_VERDICTS) < _MAX_REMEMBERED_KEYS:
            _SECRET_KEY_VERDICTS[key] = secret
    if secret:
        return REDACTED
    return scrub(value)


# Log lines reuse a small set of keys: the verdict on each is remembered (up to a bound).
_SECRET_KEY_VERDICTS: dict[str, bool] = {}
_MAX_REMEMBERED_KEYS = 1024


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
        # An event below its logger's level is dropped before any other work is done for it.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_LineFormatter(renderer, foreign_pre_chain=shared))
    # No file name, line and function looked up for each record (a walk up the stack): no renderer
    # here shows them. The logging HOWTO's "Optimization" section documents this switch.
    logging._srcfile = None  # noqa: SLF001 - the documented way to turn the lookup off
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours (and lacks the route template and principal).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class _LineFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders structlog's events and plain stdlib records (uvicorn, alembic) into the same lines.

    structlog's `ProcessorFormatter` copies each record and runs its processor list for every line;
    a structlog event needs only the renderer, so it gets just that (the access log's line included).
    """

    def __init__(self, renderer: Any, *, foreign_pre_chain: list[Any]) -> None:  # noqa: ANN401 - a structlog processor
        super().__init__(
            foreign_pre_chain=foreign_pre_chain,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
        self._render = renderer

    def format(self, record: logging.LogRecord) -> str:
        """The record's line."""
        fields = record.__dict__
        if isinstance(record.msg, dict) and "_name" in fields:
            # From structlog's chain (`wrap_for_formatter`): already processed, only to be rendered. A
            # copy, since a renderer may consume the dict and another handler may format this record.
            return str(self._render(fields.get("_logger"), fields["_name"], dict(record.msg)))
        return super().format(record)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for `name`."""
    return structlog.stdlib.get_logger(name)
