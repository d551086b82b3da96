"""Request and response models for invoices. Money is integer minor units; strict types refuse `false` as 0."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic_extra_types.currency_code import ISO4217

from shipyard.kit.types import IsoDateText, Label, Text, WholeNumber
from shipyard.models import InvoiceStatus

MAX_LINE_ITEMS = 100
# Below 2**53, so every total survives a round trip through a JavaScript number.
MAX_TOTAL = 999_999_999_999_999

Quantity = Annotated[StrictInt, Field(ge=1, le=1_000_000), WholeNumber]
UnitAmount = Annotated[
    StrictInt, Field(ge=0, le=99_999_999_999, description="Price per unit in minor units (cents)."), WholeNumber
]
Currency = Annotated[ISO4217, Field(description="ISO 4217 code, e.g. EUR.")]


DueDate = Annotated[date | None, IsoDateText, Field(description="ISO 8601 date.")]


class LineItemIn(BaseModel):
    """A line on an invoice."""

    model_config = ConfigDict(extra="forbid", strict=True)

    description: Annotated[Label, Field(min_length=1, max_length=500)]
    quantity: Quantity
    unit_amount: UnitAmount


class LineItemOut(LineItemIn):
    """A line with its server-computed amount."""

    amount: int = Field(description="quantity * unit_amount, in minor units.")


def _check_total(items: list[LineItemIn]) -> list[LineItemIn]:
    # Checked on the list itself, so the problem's pointer names `#/line_items`.
    if sum(item.quantity * item.unit_amount for item in items) > MAX_TOTAL:
        msg = f"the invoice total may not exceed {MAX_TOTAL} minor units"
        raise ValueError(msg)
    return items


LineItems = Annotated[
    list[LineItemIn],
    Field(
        min_length=1,
        max_length=MAX_LINE_ITEMS,
        # A sum over the lines is beyond JSON Schema; the description is where the document says it.
        description=f"The total (the sum of quantity * unit_amount) may not exceed {MAX_TOTAL:,} minor units.",
    ),
    AfterValidator(_check_total),
]


class InvoiceCreate(BaseModel):
    """A new draft invoice."""

    model_config = ConfigDict(extra="forbid", strict=True)

    currency: Currency
    line_items: LineItems
    due_date: DueDate = None
    memo: Annotated[Text, Field(max_length=2000)] = ""


class InvoiceUpdate(BaseModel):
    """Fields of a draft to change; omitted fields stay as they are. `"due_date": null` clears the due date."""

    model_config = ConfigDict(extra="forbid", strict=True)

    currency: Currency | None = None
    line_items: LineItems | None = None
    due_date: DueDate = None
    memo: Annotated[Text, Field(max_length=2000)] | None = None


class InvoiceRead(BaseModel):
    """An invoice."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["invoice"] = "invoice"
    customer_id: str
    number: int = Field(description="Sequential per organisation, starting at 1.")
    status: InvoiceStatus
    currency: str
    line_items: list[LineItemOut]
    total: int = Field(description="Sum of line amounts, in minor units.")
    due_date: date | None
    memo: str
    created_at: datetime
    updated_at: datetime
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """Optional filters for listing invoices."""

    customer_id: str | None = None
    status: str | None = None
    customer_email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
