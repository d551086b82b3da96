"""Request and response models for webhook endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StrictBool,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shipyard.events.catalogue import SUBSCRIBABLE
from shipyard.kit.secret_response import CarriesSecret
from shipyard.kit.types import Text, text_pattern_after

MAX_EVENT_TYPES = 20


def _known_types(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - SUBSCRIBABLE)
    if unknown:
        msg = f"unknown event types: {', '.join(unknown)} (see GET /api/v1/events for what exists)"
        raise ValueError(msg)
    return sorted(set(value))


class _ListsTheSubscribableTypes:
    """Publishes the event types in the schema when the document is built: they are installed after import."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        generated = handler(schema)
        generated["enum"] = sorted(SUBSCRIBABLE)
        return generated


URL = Annotated[
    Text,
    Field(
        min_length=8,
        max_length=2048,
        description=(
            "An http(s) URL (https in production) whose host resolves only to public addresses; "
            "anything else is a 422 webhook_url_refused."
        ),
        # Published, not enforced here: the SSRF guard refuses other schemes as webhook_url_refused.
        json_schema_extra={"pattern": text_pattern_after("[Hh][Tt][Tt][Pp][Ss]?://")},
    ),
]
EventTypes = Annotated[
    # The schema lists the types the validator below accepts, so a client can know them beforehand.
    list[Annotated[Text, _ListsTheSubscribableTypes()]],
    Field(min_length=1, max_length=MAX_EVENT_TYPES, description="Event types to receive, or `*` for all."),
    AfterValidator(_known_types),
]
Description = Annotated[Text, Field(max_length=500)]


class WebhookEndpointCreate(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: URL
    event_types: EventTypes
    description: Description = ""


class WebhookEndpointUpdate(BaseModel):
    """Fields to change; `enabled: true` switches a disabled endpoint back on."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: URL | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None


class WebhookEndpointRead(BaseModel):
    """An endpoint. Its secret is shown only when created or rotated."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(
        description="`gone` (410), `failing` (retries used up), `blocked` (the URL now resolves to an address "
        "that may not be called) or `manual`."
    )
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="While set and in the future, deliveries are signed with the previous secret too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead, CarriesSecret):
    """A new endpoint with its signing secret, shown this once."""

    secret: str = Field(description="`whsec_...`; pass it unchanged to `standardwebhooks.Webhook`.")


class SecretRotated(CarriesSecret):
    """The new secret (shown once); the previous one keeps signing until `previous_secret_expires_at`."""

    secret: str
    previous_secret_expires_at: datetime


class AttemptRead(BaseModel):
    """One HTTP request of a delivery."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: datetime
    outcome: str
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_body: str | None = Field(description="The first 4 KiB of the receiver's answer.")


class DeliveryRead(BaseModel):
    """One event on its way to one endpoint."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    event_id: str = Field(description="Sent as `webhook-id`; the same on every attempt and redelivery.")
    event_type: str
    status: str = Field(description="`pending` (queued or waiting to retry), `succeeded` or `failed`.")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due, while pending.")
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    request_id: str | None = Field(description="The request that caused the event.")
    created_at: datetime
    completed_at: datetime | None


def _rfc3339_string(value: object) -> object:
    if not isinstance(value, str):
        msg = "must be an RFC 3339 date-time string with a zone"
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns ValueError (not TypeError) into a 422 entry
    return value


class RedeliverSince(BaseModel):
    """Which events to send again to one endpoint."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # JSON has no datetime type: an RFC 3339 string arrives, which strict mode would refuse. Only a
    # string: lax mode would also read a number as seconds or milliseconds, whichever looks likelier.
    since: Annotated[AwareDatetime, Strict(strict=False), BeforeValidator(_rfc3339_string)] = Field(
        description="Events created at or after this instant (RFC 3339, with a zone)."
    )


class RedeliveryStarted(BaseModel):
    """What a redelivery since an instant queued."""

    object: Literal["webhook_redelivery"] = "webhook_redelivery"
    endpoint_id: str
    since: datetime
    deliveries_created: int = Field(
        description="New deliveries, one per event the endpoint subscribes to that it has not received or "
        "is not about to receive."
    )
    next_since: datetime | None = Field(
        description="Set when more events remain than one call queues: call again with it as `since`."
    )


class DeliveryDetail(DeliveryRead):
    """A delivery with every attempt."""

    attempt_log: list[AttemptRead]
