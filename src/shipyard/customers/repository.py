"""Every query for customers; each one is scoped to an organisation.

The statements are built once, with bound parameters, and reused: building a `select()` costs more
CPU than running it on a warm connection (SQLAlchemy compiles each shape once and caches the SQL).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, bindparam, func, or_, select

from shipyard.kit import direct_reads
from shipyard.models import Customer, CustomerRow

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from shipyard.customers.schemas import CustomerFilter


_ONE_ACTIVE = (
    Customer.organization_id == bindparam("organization_id"),
    Customer.id == bindparam("customer_id"),
    Customer.archived_at.is_(None),
)
_GET = select(Customer).where(*_ONE_ACTIVE)
# The escape character of the search patterns, said explicitly: the databases' defaults differ.
LIKE_ESCAPE = "\\"
# Every mapped column, labelled with its attribute name (`metadata_`): rows that build a `Customer`
# or, by position, a `CustomerRow` (checked against each other here, at import).
_ROWS: direct_reads.RowShape[CustomerRow] = direct_reads.RowShape(CustomerRow, Customer)
_GET_ROW = _ROWS.select().where(*_ONE_ACTIVE)
# What a page of the list shows, labelled with the API's field names: the tenant, the archive mark
# and the version are not part of `CustomerRead`, so a page does not read them (decision 0064).
_LISTED = (
    Customer.id.label("id"),
    Customer.name.label("name"),
    Customer.email.label("email"),
    Customer.metadata_.label("metadata"),
    Customer.created_at.label("created_at"),
    Customer.updated_at.label("updated_at"),
)


async def get(session: AsyncSession, organization_id: str, customer_id: str) -> Customer | None:
    """The organisation's active customer with this ID.

    In a read-only request on PostgreSQL the row is read directly (kit/direct_reads.py) and the
    customer comes back detached: there is nothing it could be saved by. Everywhere else it is
    loaded into the session.
    """
    params = {"organization_id": organization_id, "customer_id": customer_id}
    rows = await direct_reads.fetch(session, _GET_ROW, params)
    if rows is not None:
        return Customer(**rows[0]) if rows else None
    return await session.scalar(_GET, params)


async def get_row(session: AsyncSession, organization_id: str, customer_id: str) -> CustomerRow | None:
    """The organisation's active customer as a read shows it: a row, never an ORM instance.

    For answers that change nothing (`GET .../customers/{id}`): building an instrumented `Customer`
    from the row cost more CPU than the read itself.
    """
    params = {"organization_id": organization_id, "customer_id": customer_id}
    found = _ROWS.build(await direct_reads.rows(session, _GET_ROW, params))
    return found[0] if found else None


async def list_page(
    session: AsyncSession, organization_id: str, filters: CustomerFilter, *, limit: int, after_id: str | None
) -> Sequence[Mapping[str, Any]]:
    """A page of active customers, newest first (fetches `limit + 1`): the driver's rows, by the API's field names.

    Rows, not ORM objects or row tuples: building a hundred objects only to read them once, into
    the page's JSON, is most of the CPU a page of customers costs.
    """
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "email": filters.email,
        "q": _contains_pattern(filters.q) if filters.q else None,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
        "after_id": after_id,
        "limit": limit + 1,
    }
    query = _list_query(
        email=bool(filters.email),
        q=bool(filters.q),
        created_after=filters.created_after is not None,
        created_before=filters.created_before is not None,
        after=bool(after_id),
    )
    bound = {name: value for name, value in params.items() if value}
    return await direct_reads.column_rows(session, query, bound)


@functools.cache
def _list_query(*, email: bool, q: bool, created_after: bool, created_before: bool, after: bool) -> Select[Any]:
    """The list statement for one combination of filters (32 at most, each built once)."""
    query = select(*_LISTED).where(
        Customer.organization_id == bindparam("organization_id"), Customer.archived_at.is_(None)
    )
    if email:
        query = query.where(Customer.email == bindparam("email"))
    if q:
        pattern = bindparam("q", type_=String())
        query = query.where(
            or_(
                func.lower(Customer.name).like(pattern, escape=LIKE_ESCAPE),
                func.lower(Customer.email).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    if created_after:
        query = query.where(Customer.created_at >= bindparam("created_after"))
    if created_before:
        query = query.where(Customer.created_at < bindparam("created_before"))
    if after:
        query = query.where(Customer.id < bindparam("after_id"))
    return query.order_by(Customer.id.desc()).limit(bindparam("limit"))


def _contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, any case; `%`, `_` and the escape match themselves."""
    escaped = text.lower().replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", f"{LIKE_ESCAPE}%")
    return f"%{escaped.replace('_', f'{LIKE_ESCAPE}_')}%"


def add(session: AsyncSession, customer: Customer) -> None:
    """Stage a new customer."""
    session.add(customer)
