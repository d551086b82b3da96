"""Request and response models for customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shipyard.kit.types import EmailAddress, Label, Text, keys_named_by_pattern

MAX_METADATA_KEYS = 50


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_KEYS:
        msg = f"at most {MAX_METADATA_KEYS} keys"
        raise ValueError(msg)
    return value


Metadata = Annotated[
    dict[Annotated[Label, Field(min_length=1, max_length=40)], Annotated[Text, Field(max_length=500)]],
    AfterValidator(_check_metadata),
    Field(
        description="Up to 50 string pairs for your own use; keys up to 40 characters, values up to 500.",
        json_schema_extra=keys_named_by_pattern,
    ),
]
Name = Annotated[Label, Field(min_length=1, max_length=200)]


class CustomerCreate(BaseModel):
    """A new customer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    email: EmailAddress
    metadata: Metadata = Field(default_factory=dict)


class CustomerUpdate(BaseModel):
    """Fields to change; omitted fields are left as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name | None = None
    email: EmailAddress | None = None
    metadata: Metadata | None = None


class CustomerRead(BaseModel):
    """A customer."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["customer"] = "customer"
    name: str
    email: str
    metadata: dict[str, str] = Field(validation_alias="metadata_")
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    """Optional filters for listing customers."""

    email: str | None = None
    # Case-insensitive substring of the name or the email (the person's search box).
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
