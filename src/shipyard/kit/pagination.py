"""Cursor pagination: newest first, keyed on the time-ordered ID."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel, Field
from pydantic_core import SchemaSerializer, core_schema

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


class PageWriter:
    """A page of `item_model` written straight from rows to the bytes `Page[item_model]` would give.

    Validating a hundred rows into models and FastAPI validating and dumping the page again cost
    more than half a page's CPU (decision 0064). The rows come from our own database, where every
    value was validated on its way in, so a page is serialised in one pydantic-core call with the
    item model's own field serialisers (the same formats: timestamps, unicode, nulls), from plain
    dicts that the caller builds in the model's field order (nested models too: a dict per model,
    in its field order; an enum as its value). The route keeps `response_model=Page[...]` for its
    OpenAPI and returns the `Response` this gives, which FastAPI sends as it is.
    """

    def __init__(self, item_model: type[BaseModel]) -> None:
        item = _as_plain_data(item_model.__pydantic_core_schema__)
        self.field_names = tuple(item["fields"])
        self._serializer = SchemaSerializer(
            core_schema.typed_dict_schema(
                {
                    "data": core_schema.typed_dict_field(core_schema.list_schema(item)),
                    "next_cursor": core_schema.typed_dict_field(core_schema.nullable_schema(core_schema.str_schema())),
                }
            )
        )

    def json(self, items: Iterable[Mapping[str, Any]], limit: int) -> bytes:
        """The page's JSON: at most `limit` items (repositories fetch `limit + 1`) and the next cursor."""
        data = list(items)
        cursor = encode_cursor(data[limit - 1]["id"]) if len(data) > limit else None
        return self._serializer.to_json({"data": data[:limit], "next_cursor": cursor})

    def response(self, items: Iterable[Mapping[str, Any]], limit: int) -> Response:
        """The page as FastAPI would have sent the model: 200, `application/json`."""
        return Response(self.json(items, limit), media_type="application/json")


def _as_plain_data(schema: Any, shared: Mapping[str, Any] | None = None, seen: frozenset[str] = frozenset()) -> Any:  # noqa: ANN401 - a pydantic-core schema, a dict of many shapes
    """The serialisation schema of `schema` for plain data: models become dicts, enums their values.

    Only what can be written exactly passes: a model with a serialiser, a computed field or a field
    renamed or hidden on output would come out differently, so it is refused (a `TypeError` at
    import, not a wrong response). A model used twice is shared (`definitions`) and inlined here;
    a recursive one is refused.
    """
    shared = shared or {}
    kind = schema["type"]
    if kind == "definitions":
        shared = {**shared, **{d["ref"]: d for d in schema["definitions"]}}
        return _as_plain_data(schema["schema"], shared, seen)
    if kind == "definition-ref":
        ref = schema["schema_ref"]
        if ref in seen or ref not in shared:
            msg = f"{ref} is recursive: a page of it cannot be written from rows"
            raise TypeError(msg)
        return _as_plain_data(shared[ref], shared, seen | {ref})
    if kind == "model":
        fields_schema = schema["schema"]
        plain = fields_schema["type"] == "model-fields" and not fields_schema.get("computed_fields")
        fields: dict[str, Any] = fields_schema.get("fields", {})
        renamed = any("serialization_alias" in f or "serialization_exclude" in f for f in fields.values())
        if not plain or renamed or "serialization" in schema:
            msg = f"{schema['cls'].__name__} is not a plain model: a page of it cannot be written from rows"
            raise TypeError(msg)
        return core_schema.typed_dict_schema(
            {
                name: core_schema.typed_dict_field(_as_plain_data(f["schema"], shared, seen))
                for name, f in fields.items()
            },
            config=schema.get("config"),
        )
    if kind == "enum":
        # A StrEnum or IntEnum column holds the member's value: written as that value, as the enum would be.
        values: dict[str, core_schema.CoreSchema] = {"str": core_schema.str_schema(), "int": core_schema.int_schema()}
        if schema.get("sub_type") not in values:
            msg = f"{schema['cls'].__name__} is neither a str nor an int enum"
            raise TypeError(msg)
        return values[schema["sub_type"]]
    # A validator's wrapper serialises through its inner schema (unless it brings a serialiser).
    if kind in {"list", "nullable", "default", "function-after", "function-before", "function-wrap"}:
        inner = "items_schema" if kind == "list" else "schema"
        return {**schema, inner: _as_plain_data(schema[inner], shared, seen)}
    return schema
