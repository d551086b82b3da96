"""The request ID on every SQL statement sent to PostgreSQL, so a slow query names its request.

A `sqlcommenter`-style comment, `/* request_id='...' */`, is appended to each statement run while a
request (or a job acting for one) is under way. PostgreSQL writes the statement's text, comment
included, in its `log_min_duration_statement` and `auto_explain` lines, in `pg_stat_activity.query`
and in its error lines, so an operator greps the server's log for the ID found in the access line.

Why a comment and not `SET LOCAL application_name` (decisions/0028): the comment rides on a statement
that is being sent anyway, so it costs no round trip, and it survives PgBouncer in transaction mode
because it is part of the statement. `SET LOCAL` costs a round trip per transaction and does nothing
in the autocommit reads of `request_reader` (no transaction to be local to). The price: statement
text now differs from request to request, so asyncpg's prepared-statement cache no longer hits across
requests (within one request it still does). Behind PgBouncer the cache is off anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import event

from shipyard.kit.context import current_request_id

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, ExecutionContext
    from sqlalchemy.engine.interfaces import DBAPICursor
    from sqlalchemy.ext.asyncio import AsyncEngine


def request_id_comment(request_id: str) -> str:
    """The comment for `request_id`, quoted as sqlcommenter does so that no value can close it."""
    # Accepted request IDs (`^[A-Za-z0-9._:-]{1,128}$`) come through unchanged and stay greppable;
    # anything else (a job's label, say) is percent-encoded, so neither `*/` nor a quote survives.
    return f" /* request_id='{quote(request_id, safe=':')}' */"


def tag_statements_with_request_id(engine: AsyncEngine) -> None:
    """Append the current request's ID to every statement `engine` (and its option engines) runs."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _append_comment(
        _conn: Connection,
        _cursor: DBAPICursor,
        statement: str,
        parameters: object,
        _context: ExecutionContext | None,
        _executemany: bool,
    ) -> tuple[str, object]:
        request_id = current_request_id()
        if request_id is None:
            return statement, parameters
        return statement + request_id_comment(request_id), parameters
