"""Cursor pagination: newest first, keyed on the time-ordered ID."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from shipyard.kit.problems import ProblemError

ItemT = TypeVar("ItemT")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Every list pages over IDs from `shipyard.kit.ids.new_id`: a lowercase prefix and a 26-character ULID.
_ULID = "[0-9A-HJKMNP-TV-Z]{26}"
_ID = re.compile(rf"(?P<prefix>[a-z]{{2,16}})_{_ULID}")

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-100).")]


def cursor_pattern(prefix: str) -> str:
    """The published form of a cursor of the list whose IDs start `prefix_`: the last ID of a page."""
    return f"^{prefix}_{_ULID}$"


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next page."""

    data: list[ItemT]
    next_cursor: str | None = Field(description="Opaque; null on the last page.")


class PageParams(BaseModel):
    """Where a page starts and how long it is."""

    limit: int
    after_id: str | None


def encode_cursor(last_id: str) -> str:
    """The cursor that resumes after `last_id`: the ID itself, so the schema can publish its exact form."""
    return last_id


def decode_cursor(cursor: str, prefix: str | None = None) -> str:
    """The ID a cursor resumes after; a 400 problem when it is not an ID (or not one of this list)."""
    match = _ID.fullmatch(cursor)
    # A cursor from another list (an invoice cursor on the customers list, say) would silently
    # restart or end the walk; refuse it instead, as a client bug worth hearing about.
    if match is None or (prefix is not None and match["prefix"] != prefix):
        raise ProblemError(400, "invalid_cursor", "The cursor is malformed; pass back a next_cursor unchanged.")
    return cursor


def page_params_for(prefix: str) -> Callable[..., Awaitable[PageParams]]:
    """FastAPI dependency for `limit` and `cursor`; only cursors of the list whose IDs start `prefix_` pass."""
    # The pattern is published, not enforced by FastAPI (a 422): the check below answers the
    # documented 400 `invalid_cursor` for anything else.
    cursor_query = Query(
        default=None,
        max_length=200,
        description="A previous page's next_cursor.",
        json_schema_extra={"pattern": cursor_pattern(prefix)},
    )

    async def dependency(limit: LimitQuery = DEFAULT_LIMIT, cursor: str | None = cursor_query) -> PageParams:
        return PageParams(limit=limit, after_id=decode_cursor(cursor, prefix) if cursor is not None else None)

    return dependency


def make_page(items: list[ItemT], rows_ids: list[str], limit: int) -> tuple[list[ItemT], str | None]:
    """Trim the look-ahead row and compute the next cursor (repositories fetch `limit + 1`)."""
    if len(items) > limit:
        return items[:limit], encode_cursor(rows_ids[limit - 1])
    return items, None
