"""Field types shared by every domain's request models and query parameters."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AwareDatetime, BeforeValidator, EmailStr, Field

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


def _iso_date(value: object) -> object:
    # Strict mode refuses every string for a date; JSON has no date type, so accept ISO 8601 text.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            msg = "expected an ISO 8601 date such as 2026-12-31"
            raise ValueError(msg) from None
    return value


IsoDateText = BeforeValidator(_iso_date)
"""For a `date` in a strict model: reads ISO 8601 text such as 2026-12-31."""


def _whole_number(value: object) -> object:
    # JSON Schema calls 2.0 an integer (RFC 8259 numbers carry no type), and so does the OpenAPI
    # document; accept it as 2. Strict int still refuses 2.5, true and "2" after this.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole_number)
"""Put last in `Annotated[StrictInt, Field(ge=..., le=...), WholeNumber]`: 2 and 2.0 pass, 2.5, true and "2" do not.

Last, because constraints given after a before-validator are published in the JSON schema as unknown
keywords (`ge`, `le`) instead of `minimum` and `maximum`.
"""


def _any_case(word: str) -> str:
    # ECMA-262 patterns in JSON Schema have no case-insensitive flag.
    return "".join(f"[{char.upper()}{char.lower()}]" if char.isalpha() else char for char in word)


# email-validator refuses these reserved names (RFC 6761 and others: they never receive mail). The
# schema says so with the very list the server applies, so the two cannot drift apart.
_SPECIAL_USE_DOMAIN = r"[@.](?:" + "|".join(_any_case(name) for name in sorted(SPECIAL_USE_DOMAIN_NAMES)) + r")$"

EmailAddress = Annotated[
    EmailStr,
    Field(
        description=(
            "An email address. Special-use domains that never receive mail are refused: "
            + ", ".join(f".{name}" for name in sorted(SPECIAL_USE_DOMAIN_NAMES))
            + "."
        ),
        json_schema_extra={"not": {"pattern": _SPECIAL_USE_DOMAIN}},
    ),
]
