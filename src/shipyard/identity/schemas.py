"""Request and response models for tokens and the current principal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictInt

from shipyard.identity.scopes import SCOPES, Scope
from shipyard.kit.secret_response import CarriesSecret
from shipyard.kit.types import Label, WholeNumber


class TokenCreate(BaseModel):
    """A new API token."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Label = Field(min_length=1, max_length=100)
    # JSON has no enum type: a scope arrives as a string, which strict mode would refuse for an enum.
    scopes: list[Annotated[Scope, Strict(strict=False)]] = Field(min_length=1, max_length=len(SCOPES))
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
