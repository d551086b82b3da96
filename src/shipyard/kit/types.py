"""Field types shared by every domain's request models and query parameters."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Field

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: object) -> object:
    # Pydantic also reads a bare number as a Unix timestamp; an API filter should not guess.
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    msg = "expected an RFC 3339 date-time with a UTC offset, such as 2026-01-31T12:00:00Z"
    raise ValueError(msg)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    Field(json_schema_extra={"format": "date-time"}),
]
