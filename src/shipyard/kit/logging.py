"""structlog configuration: JSON lines in production, readable console output in development.

Our own loggers take structlog's native path: a level-filtering bound logger whose processors render the
line, handed to a `structlog.WriteLogger` that writes it to the stream. No stdlib `LogRecord`, handler or
formatter is involved, which is most of what a line used to cost (the access log writes one per request).
Stdlib logging carries only foreign loggers (uvicorn, gunicorn, alembic, taskiq, mcp): their records get
the same processors and renderer, and are written by a writer on the same stream.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar, Token
from typing import IO, Any, cast

import orjson
import structlog
from structlog.typing import FilteringBoundLogger

from shipyard.kit.redaction import PRODUCED_KEYS, redact_secrets

# Foreign loggers whose DEBUG lines repeat a database call with its arguments (aiosqlite logs every call it
# hands its thread, bound values included). Those values are row data and credentials (an ID token, a PKCE
# verifier, a nonce) that no pattern recognises, so these loggers write INFO and above only, whatever the
# root level. SQLAlchemy's own statement log is kept: its engines hide bound values (kit/db.py).
_STATEMENT_DATA_LOGGERS = ("aiosqlite", "asyncpg")
_NO_KEYS: frozenset[str] = frozenset()


# The request being answered, for every line logged while it is (`bind_request_id`). One plain
# contextvar, read by a processor: structlog's `bind_contextvars`/`unbind_contextvars` per request cost
# several times more and the request ID is the only field bound for every request.
_REQUEST_ID: ContextVar[str | None] = ContextVar("shipyard_log_request_id", default=None)


def bind_request_id(request_id: str) -> Token[str | None]:
    """Add `request_id` to every line logged in the current context; undo with `unbind_request_id`."""
    return _REQUEST_ID.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    """Restore the request ID that was bound before `bind_request_id` returned `token`."""
    _REQUEST_ID.reset(token)


def _add_request_id(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # After `merge_contextvars`, and only if absent: a job bound with its own request ID (worker
    # context) keeps it, as it did when the request's ID was a structlog contextvar too.
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _add_timestamp(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # What `TimeStamper(fmt="iso", utc=True)` writes (`datetime.now(UTC).isoformat()`, "Z" for "+00:00",
    # no fraction at a whole second) in a third of its time: the date and time of day are formatted
    # once a second, each line adds only its microseconds.
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    second, prefix = _current_second
    if seconds != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _remember_second(seconds, prefix)
    microseconds = nanoseconds // 1000
    event_dict["timestamp"] = f"{prefix}.{microseconds:06d}Z" if microseconds else f"{prefix}Z"
    return event_dict


# The last second formatted, and its text; replaced whole (one assignment), so threads never see half.
_current_second: tuple[int, str] = (-1, "")


def _remember_second(seconds: int, prefix: str) -> None:
    global _current_second  # noqa: PLW0603 - a one-entry cache shared by every line
    _current_second = (seconds, prefix)


class _Writer(structlog.WriteLogger):
    """structlog's writer, named (for the `logger` key) and carrying the keys its callers vouch for.

    `WriteLogger` takes its lock per file, so every writer on one stream (each logger's, and the
    foreign records' handler) writes whole lines under one lock: lines never interleave.
    """

    def __init__(self, file: IO[str], name: str, trusted_keys: frozenset[str]) -> None:
        super().__init__(file)  # type: ignore[arg-type]  # WriteLogger only writes and flushes: any text stream
        self.name = name
        self.unscrubbed_keys = trusted_keys | PRODUCED_KEYS


class _WriterFactory:
    """structlog's logger factory: one writer per logger, made once, for every later call."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._writers: dict[tuple[str, frozenset[str]], _Writer] = {}

    def __call__(self, name: str = "", trusted_keys: frozenset[str] = _NO_KEYS) -> _Writer:
        writer = self._writers.get((name, trusted_keys))
        if writer is None:
            writer = self._writers[name, trusted_keys] = _Writer(self._file, name, trusted_keys)
        return writer


class _ForeignHandler(logging.Handler):
    """Foreign stdlib records, rendered by structlog's formatter and written by a structlog writer."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record's line (what `StreamHandler.emit` does, through the shared writer)."""
        try:
            self._writer.msg(self.format(record))
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must not raise: report on stderr, as stdlib handlers do
            self.handleError(record)


def _json_dumps(obj: Any, *, default: Callable[[Any], Any]) -> str:  # noqa: ANN401 - any event dict
    """orjson: the access line's JSON in about a sixth of the stdlib encoder's time (a line per request).

    What orjson refuses (integers beyond 64 bits, strings that are not valid UTF-8) raises a `TypeError`
    subclass; the stdlib encoder, which wrote every line before, then writes it as it always did.
    """
    try:
        return orjson.dumps(obj, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(obj, default=default)


def configure_logging(*, json_lines: bool, level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route structlog and stdlib logging (uvicorn, gunicorn, alembic) through one renderer."""
    root = logging.getLogger()
    root.setLevel(level.upper())  # also validates `level`
    out = stream or sys.stdout
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_timestamp,
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_dumps)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # The foreign handler's writer first: it registers the stream's lock before any other writer exists.
    handler = _ForeignHandler(_Writer(out, "", _NO_KEYS))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    structlog.configure(
        processors=[*shared, renderer],
        # A call below the level is a no-op method: no event dict, no processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        logger_factory=_WriterFactory(out),
        # `get_logger`'s loggers keep their bound logger while this configuration lasts (see `_Logger`).
        cache_logger_on_first_use=False,
    )
    # No file name, line and function looked up for each record (a walk up the stack): no renderer
    # here shows them. The logging HOWTO's "Optimization" section documents this switch.
    logging._srcfile = None  # noqa: SLF001 - the documented way to turn the lookup off
    root.handlers[:] = [handler]
    # uvicorn's own access log would duplicate ours (and lacks the route template and principal).
    logging.getLogger("uvicorn.access").disabled = True
    for name in _STATEMENT_DATA_LOGGERS:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "alembic"):
        adopted = logging.getLogger(name)
        adopted.handlers[:] = []
        adopted.propagate = True
        # The root's level decides for them too: a `uvicorn.Config(log_level=...)` built earlier in the
        # process sets uvicorn's loggers' own levels, and they would keep filtering after this call.
        adopted.setLevel(logging.NOTSET)
        adopted.disabled = False


class _Logger:
    """What `get_logger` returns: the bound logger assembled for the current structlog configuration.

    structlog's lazy proxy assembles a bound logger on every call unless told to cache the first one for
    good, and cached, a logger would miss a later `configure` (a test capturing logs, or restoring the
    configuration it saved). This one keeps its bound logger for as long as the configuration is the
    same, and assembles a new one when it changes: a call costs a look at the configuration.
    """

    __slots__ = ("_args", "_assembled")

    def __init__(self, name: str, trusted_keys: frozenset[str]) -> None:
        self._args = (name, trusted_keys)
        # The configuration a bound logger was assembled for, and that logger: one tuple, replaced
        # whole, so that a thread never pairs one configuration with another's logger.
        self._assembled: tuple[tuple[object, ...], Any] = ((), None)

    def __getattr__(self, attribute: str) -> Any:  # noqa: ANN401 - whatever the bound logger has
        if attribute.startswith("__"):
            # Protocol lookups (copy, pickle, introspection) are about this object, not a bound logger.
            raise AttributeError(attribute)
        config = structlog.get_config()
        current = (config["logger_factory"], config["wrapper_class"], config["processors"], config["context_class"])
        assembled_for, bound = self._assembled
        if current != assembled_for:
            bound = structlog.get_logger(*self._args).bind()
            self._assembled = (current, bound)
        return getattr(bound, attribute)


def get_logger(name: str, *, trusted_keys: frozenset[str] = _NO_KEYS) -> FilteringBoundLogger:
    """A structlog logger for `name`.

    `trusted_keys` are keys whose values every caller of this logger builds from code alone (literals,
    numbers, route templates, our own IDs), never from request input or anything that may hold a
    secret: redaction does not read them. Any other key's value is scrubbed on every line.
    """
    return cast("FilteringBoundLogger", _Logger(name, trusted_keys))
