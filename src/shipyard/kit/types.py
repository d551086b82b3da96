"""Field types shared by every domain's request models and query parameters."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: object) -> object:
    # Pydantic also reads a bare number as a Unix timestamp; an API filter should not guess.
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    msg = "expected an RFC 3339 date-time with a UTC offset, such as 2026-01-31T12:00:00Z"
    raise ValueError(msg)


def _in_utc(value: datetime) -> datetime:
    # The database stores UTC. An instant whose offset moves it past year 1 or 9999 (0001-01-01T00:00+00:01)
    # has no UTC form; converting here refuses it as invalid input instead of overflowing in the query.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        msg = "the date-time lies outside the years 1 to 9999 once converted to UTC"
        raise ValueError(msg) from None


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    AfterValidator(_in_utc),
    Field(json_schema_extra={"format": "date-time"}),
]
