"""Request and response models for tokens and the current principal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StrictInt
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from shipyard.identity.scopes import SCOPES
from shipyard.kit.secret_response import CarriesSecret
from shipyard.kit.types import Label, WholeNumber


def _declared_scope(name: str) -> str:
    if name not in SCOPES:
        *first, last = (repr(scope) for scope in SCOPES)
        expected = f"{', '.join(first)} or {last}" if first else last
        raise PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})
    return name


def _at_most_every_scope(names: list[str]) -> list[str]:
    if len(names) > len(SCOPES):
        raise PydanticCustomError(
            "too_long",
            "List should have at most {max_length} items after validation, not {actual_length}",
            {"field_type": "List", "max_length": len(SCOPES), "actual_length": len(names)},
        )
    return names


class ScopeName(str):
    """A declared scope's name, published as the `Scope` enum.

    The scopes are installed by the composition layer after this module is imported (decision 0055),
    so the list is read when a request is validated and when the OpenAPI document is built, never at
    import.
    """

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:  # noqa: ANN401  # pydantic's hook signature
        """A string, checked against the installed scopes."""
        return core_schema.no_info_after_validator_function(_declared_scope, core_schema.str_schema(), ref="Scope")

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The `Scope` component, its values read now."""
        reference = handler(schema)
        published = handler.resolve_ref_schema(reference)
        published.update(enum=list(SCOPES), title="Scope", description="A permission a token can carry.")
        return reference


class ScopeList(list[str]):
    """The scopes a new token asks for: at most as many as are declared (read at validation, not import)."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:  # noqa: ANN401  # pydantic's hook signature
        """A non-empty list of scope names, no longer than the installed list."""
        return core_schema.no_info_after_validator_function(
            _at_most_every_scope, core_schema.list_schema(handler.generate_schema(ScopeName), min_length=1)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The array's schema, its `maxItems` read now."""
        generated = handler(schema)
        # The keys in the order a fixed `max_length` produced, so the published document keeps its bytes.
        return {"items": generated["items"], "type": "array", "maxItems": len(SCOPES), "minItems": 1}


class TokenCreate(BaseModel):
    """A new API token."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Label = Field(min_length=1, max_length=100)
    scopes: ScopeList
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650), WholeNumber] | None = Field(
        default=None, description="Omit for a token that never expires."
    )


class TokenRead(BaseModel):
    """An API token as listed; the secret is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["api_token"] = "api_token"
    name: str
    display_prefix: str = Field(description="The first characters of the secret, to recognise it.")
    scopes: list[str]
    created_by_user_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None


class TokenCreated(TokenRead, CarriesSecret):
    """A freshly created token, with its secret. Store it now: it is not shown again."""

    token: str


class OrganizationRead(BaseModel):
    """An organisation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str


class MeRead(BaseModel):
    """The authenticated caller, its organisation and its effective scopes."""

    actor_type: Literal["user", "token"]
    user_id: str
    token_id: str | None
    role: str
    scopes: list[str]
    organization: OrganizationRead
