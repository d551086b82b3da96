"""Field types shared by every domain's request models and query parameters."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, EmailStr, Field, StrictStr

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


# Control characters other than tab, line feed and carriage return (C0, DEL, C1). PostgreSQL refuses NUL
# while SQLite would store the rest: refusing them here gives one rule on both. The same class is
# published as the schema's pattern, so a client (or a fuzzer) knows the rule before it sends.
_CONTROL_CLASS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
# Lone surrogates (JSON's "\ud800" decodes to one) cannot be encoded by either database. No schema
# pattern can name them (an ECMA-262 pattern sees an emoji as two surrogates), so only the server says so.
_UNSTORABLE = re.compile(f"[{_CONTROL_CLASS}\ud800-\udfff]")
# Characters that show nothing by themselves: controls, format characters (bidi overrides and isolates,
# zero-width spaces and joiners, the BOM), spaces and separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BMP_END = 0x10000
_SURROGATES_START, _SURROGATES_END = 0xD800, 0xDFFF


def _invisible_class() -> str:
    # The Basic Multilingual Plane's invisible characters as one regex class, in `\uXXXX` form, which both
    # Python's `re` and ECMA-262 (the schema's pattern dialect) read the same way. Outside the BMP a
    # pattern without the `u` flag sees surrogate halves, so the rule stops at U+FFFF on both sides.
    ranges: list[tuple[int, int]] = []
    for code in range(_BMP_END):
        if _SURROGATES_START <= code <= _SURROGATES_END or unicodedata.category(chr(code)) not in _INVISIBLE_CATEGORIES:
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


TEXT_PATTERN = f"^[^{_CONTROL_CLASS}]*$"


# For a pattern that also fixes how a text starts (a URL's scheme): the rest of the text after `prefix`.
def text_pattern_after(prefix: str) -> str:
    """A `Text` pattern whose value must begin with `prefix` (a regex, anchored at the start)."""
    return f"^{prefix}[^{_CONTROL_CLASS}]*$"


def keys_named_by_pattern(schema: dict[str, Any]) -> None:
    """Publish a dict's key rule as `propertyNames`, which is what JSON Schema means by it.

    Pydantic turns a key type with a pattern into `patternProperties`, which only constrains the
    values of keys that match and lets every other key through: the server's rule would be unsaid.
    """
    pattern_properties = schema.pop("patternProperties", None)
    if not pattern_properties:
        return
    ((key_pattern, value_schema),) = pattern_properties.items()
    schema.setdefault("propertyNames", {})["pattern"] = key_pattern
    schema["additionalProperties"] = value_schema


# Storable text with at least one visible character; `Label` publishes this and checks the same class.
LABEL_PATTERN = f"^[^{_CONTROL_CLASS}]*[^{_invisible_class()}][^{_CONTROL_CLASS}]*$"
_VISIBLE = re.compile(f"[^{_invisible_class()}]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        msg = "must not contain control characters (such as NUL) or unpaired surrogates"
        raise ValueError(msg)
    return value


def _visible(value: str) -> str:
    # Stops at the first visible character, so a real name costs one step.
    if _VISIBLE.search(value) is None:
        msg = "must contain a visible character, not only spaces, zero-width or bidi control characters"
        raise ValueError(msg)
    return value


# Every string a request body carries is one of these two. Length limits are added where used:
# `Annotated[Text, Field(max_length=500)]`.
Text = Annotated[StrictStr, AfterValidator(_storable), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
# A name or label people read (a customer, a token, an invoice line): it must show something.
Label = Annotated[
    StrictStr,
    AfterValidator(_storable),
    AfterValidator(_visible),
    Field(json_schema_extra={"pattern": LABEL_PATTERN}),
]
