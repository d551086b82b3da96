"""Every query for customers; each one is scoped to an organisation.

The statements are built once, with bound parameters, and reused: building a `select()` costs more
CPU than running it on a warm connection (SQLAlchemy compiles each shape once and caches the SQL).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit.db import DRIVER_ERRORS, direct_reader
from shipyard.models import Customer


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    """Optional filters for listing customers."""

    email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


_GET = select(Customer).where(
    Customer.organization_id == bindparam("organization_id"),
    Customer.id == bindparam("customer_id"),
    Customer.archived_at.is_(None),
)


# The same query for `direct_reader`: every mapped column, by attribute name (`metadata_`).
_COLUMNS = {prop.columns[0].name: prop.key for prop in Customer.__mapper__.column_attrs}
_GET_DIRECT = (
    f"SELECT {', '.join(f'{column} AS {key}' for column, key in _COLUMNS.items())} FROM customers "  # noqa: S608 - column names from the model
    "WHERE organization_id = $1 AND id = $2 AND archived_at IS NULL"
)


async def get(session: AsyncSession, organization_id: str, customer_id: str) -> Customer | None:
    """The organisation's active customer with this ID.

    In a read-only request on PostgreSQL the row is fetched directly and the customer comes back
    detached: there is nothing it could be saved by. Everywhere else it is loaded into the session.
    """
    driver = await direct_reader(session)
    if driver is not None:
        try:
            row = await driver.fetchrow(_GET_DIRECT, organization_id, customer_id)
        except DRIVER_ERRORS:
            pass  # the session runs it again below, and reports what went wrong the usual way
        else:
            return None if row is None else Customer(**row)
    return await session.scalar(_GET, {"organization_id": organization_id, "customer_id": customer_id})


class CustomerRow(NamedTuple):
    """A customer as a list shows it: the `Customer` columns, by the same names, without the ORM."""

    id: str
    organization_id: str
    name: str
    email: str
    metadata_: dict[str, Any]
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


_ROW_COLUMNS = [Customer.__table__.c[column].label(key) for column, key in _COLUMNS.items()]


async def list_page(
    session: AsyncSession, organization_id: str, filters: CustomerFilter, *, limit: int, after_id: str | None
) -> list[CustomerRow]:
    """A page of active customers, newest first (fetches `limit + 1`).

    Rows, not ORM objects: building and then reading a hundred instrumented instances is most of
    the CPU a page of customers costs.
    """
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "email": filters.email,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
        "after_id": after_id,
        "limit": limit + 1,
    }
    query = _list_query(
        email=bool(filters.email),
        created_after=filters.created_after is not None,
        created_before=filters.created_before is not None,
        after=bool(after_id),
    )
    result = await session.execute(query, {name: value for name, value in params.items() if value})
    return [CustomerRow._make(row) for row in result]


@functools.cache
def _list_query(*, email: bool, created_after: bool, created_before: bool, after: bool) -> Select[Any]:
    """The list statement for one combination of filters (16 at most, each built once)."""
    query = select(*_ROW_COLUMNS).where(
        Customer.organization_id == bindparam("organization_id"), Customer.archived_at.is_(None)
    )
    if email:
        query = query.where(Customer.email == bindparam("email"))
    if created_after:
        query = query.where(Customer.created_at >= bindparam("created_after"))
    if created_before:
        query = query.where(Customer.created_at < bindparam("created_before"))
    if after:
        query = query.where(Customer.id < bindparam("after_id"))
    return query.order_by(Customer.id.desc()).limit(bindparam("limit"))


def add(session: AsyncSession, customer: Customer) -> None:
    """Stage a new customer."""
    session.add(customer)
