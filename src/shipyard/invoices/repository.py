"""Every query for invoices; each one is scoped to an organisation.

The statements are built once, with bound parameters, and reused: building a `select()` costs more
CPU than running it (SQLAlchemy compiles each shape once and caches the SQL).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Text, bindparam, cast, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB

from shipyard.kit import direct_reads, idempotency
from shipyard.models import Customer, Invoice, InvoiceRow
from shipyard.models.base import Base

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from shipyard.invoices.schemas import InvoiceFilter
    from shipyard.kit.final_write import StoredResponse


_ONE = (
    Invoice.organization_id == bindparam("organization_id"),
    Invoice.customer_id == bindparam("customer_id"),
    Invoice.id == bindparam("invoice_id"),
)
_GET = select(Invoice).where(*_ONE)
# Every mapped column, labelled with its attribute name: rows that build an `Invoice` or, by
# position, an `InvoiceRow` (checked against each other here, at import).
_ROWS: direct_reads.RowShape[InvoiceRow] = direct_reads.RowShape(InvoiceRow, Invoice)
_GET_ROW = _ROWS.select().where(*_ONE)
# What a page of the list shows, labelled with the API's field names: not the tenant nor the
# version, which `InvoiceRead` leaves out (decision 0064).
_LISTED = tuple(
    getattr(Invoice, name).label(name)
    for name in (
        "id",
        "customer_id",
        "number",
        "status",
        "currency",
        "line_items",
        "total",
        "due_date",
        "memo",
        "created_at",
        "updated_at",
        "finalized_at",
        "paid_at",
        "voided_at",
    )
)


async def get(session: AsyncSession, organization_id: str, customer_id: str, invoice_id: str) -> Invoice | None:
    """The organisation's invoice with this ID, if it belongs to `customer_id`.

    In a read-only request on PostgreSQL the row is read directly (kit/direct_reads.py) and the
    invoice comes back detached; everywhere else it is loaded into the session (to be changed).
    """
    params = {"organization_id": organization_id, "customer_id": customer_id, "invoice_id": invoice_id}
    rows = await direct_reads.fetch(session, _GET_ROW, params)
    if rows is not None:
        return Invoice(**rows[0]) if rows else None
    return await session.scalar(_GET, params)


async def get_row(session: AsyncSession, organization_id: str, customer_id: str, invoice_id: str) -> InvoiceRow | None:
    """The organisation's invoice as a read shows it: a row, never an ORM instance.

    For answers that change nothing (`GET .../invoices/{id}`): building an instrumented `Invoice`
    from the row costs more CPU than the read itself.
    """
    params = {"organization_id": organization_id, "customer_id": customer_id, "invoice_id": invoice_id}
    found = _ROWS.build(await direct_reads.rows(session, _GET_ROW, params))
    return found[0] if found else None


async def list_page(
    session: AsyncSession, organization_id: str, filters: InvoiceFilter, *, limit: int, after_id: str | None
) -> Sequence[Mapping[str, Any]]:
    """A page of invoices, newest first (fetches `limit + 1`): the driver's rows, by the API's field names."""
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "customer_id": filters.customer_id,
        "status": filters.status,
        "customer_email": filters.customer_email,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
        "after_id": after_id,
        "limit": limit + 1,
    }
    present = frozenset(name for name, value in params.items() if value)
    query, bound = _list_query(present), {name: params[name] for name in present}
    return await direct_reads.column_rows(session, query, bound)


@functools.cache
def _list_query(present: frozenset[str]) -> Select[Any]:
    """The list statement for one combination of filters (64 at most, each built once)."""
    query = select(*_LISTED).where(Invoice.organization_id == bindparam("organization_id"))
    if "customer_id" in present:
        query = query.where(Invoice.customer_id == bindparam("customer_id"))
    if "status" in present:
        query = query.where(Invoice.status == bindparam("status"))
    if "customer_email" in present:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.organization_id == bindparam("organization_id"), Customer.email == bindparam("customer_email")
        )
    if "created_after" in present:
        query = query.where(Invoice.created_at >= bindparam("created_after"))
    if "created_before" in present:
        query = query.where(Invoice.created_at < bindparam("created_before"))
    if "after_id" in present:
        query = query.where(Invoice.id < bindparam("after_id"))
    return query.order_by(Invoice.id.desc()).limit(bindparam("limit"))


_INVOICES = Base.metadata.tables["invoices"]
_AUDIT_EVENTS = Base.metadata.tables["audit_events"]
_EVENTS = Base.metadata.tables["events"]
_ORGANIZATIONS = Base.metadata.tables["organizations"]

_NEXT_NUMBER = (
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("organization_id"))
    # `updated_at` explicitly: a column's `onupdate` is not applied to an UPDATE inside a CTE.
    .values(
        invoice_seq=_ORGANIZATIONS.c.invoice_seq + 1,
        updated_at=bindparam("numbered_at", type_=_ORGANIZATIONS.c.updated_at.type),
    )
    .returning(_ORGANIZATIONS.c.invoice_seq)
)
# (table, parameter prefix, JSON column that also carries the number, or None)
_NUMBERED_ROWS = ((_INVOICES, "invoice", None), (_AUDIT_EVENTS, "audit", "details"), (_EVENTS, "event", "payload"))


@functools.cache
def _numbered_insert_for_postgresql(*, storing: bool) -> Select[Any]:
    """Number, then insert the invoice, its audit event and its outbox event: one statement.

    The organisation's row lock taken by the UPDATE is held until commit; the statement runs last,
    after the response is built, so the lock covers it and the commit (docs/decisions/0056, 0065).
    With `storing`, it also stores the idempotent response with the number in it, and its second
    column counts the stored rows (0: the claim was lost). The JSON columns get the number merged in
    (`||` replaces the key).
    """
    numbered = _NEXT_NUMBER.cte("numbered")
    number = numbered.c.invoice_seq
    inserts = []
    for table, prefix, json_column in _NUMBERED_ROWS:
        values: list[Any] = []
        for column in table.c:
            if column.name == "number":
                values.append(number)
            elif column.name == json_column:
                merged = cast(bindparam(f"{prefix}_{column.name}", type_=column.type), JSONB)
                values.append(
                    merged.op("||", return_type=JSONB)(func.jsonb_build_object(literal_column("'number'"), number))
                )
            else:
                values.append(bindparam(f"{prefix}_{column.name}", type_=column.type))
        inserts.append(
            insert(table)
            .from_select([c.name for c in table.c], select(*values).select_from(numbered))
            .cte(f"{prefix}_row")
        )
    if not storing:
        return select(number).add_cte(*inserts)
    # A subquery, not `UPDATE ... FROM numbered`: the claim's row is found by its own key alone.
    digits = func.convert_to(cast(select(number).scalar_subquery(), Text), literal_column("'UTF8'"))
    stored = idempotency.completion_with_value(digits).returning(literal_column("1")).cte("stored_row")
    return select(number, select(func.count()).select_from(stored).scalar_subquery()).add_cte(*inserts, stored)


def _numbered(row: dict[str, Any], json_column: str | None, number: int) -> dict[str, Any]:
    if json_column is None:
        return {**row, "number": number}
    return {**row, json_column: {**row[json_column], "number": number}}


async def insert_numbered(
    session: AsyncSession,
    invoice: dict[str, Any],
    audit_event: dict[str, Any],
    outbox_event: dict[str, Any],
    stored: StoredResponse | None = None,
) -> tuple[int, bool]:
    """Take the organisation's next invoice number and insert the invoice with it.

    The invoice's audit event and outbox event are inserted with it, the number added to their
    `details` and `payload`, and `stored` (the idempotent response around the number) is stored:
    everything that needs the number is written at once, as the transaction's last statement, so
    the row lock that serialises the organisation's creators is held for as short a time as
    possible. Numbers stay gapless: if the transaction rolls back, so does the count. Returns the
    number and whether `stored` was stored (True without one).
    """
    rows = {"invoice": invoice, "audit": audit_event, "event": outbox_event}
    connection = await session.connection()
    numbering = {"organization_id": invoice["organization_id"], "numbered_at": invoice["created_at"]}
    kept = True
    if connection.dialect.name == "postgresql":
        params = {f"{prefix}_{name}": value for prefix, row in rows.items() for name, value in row.items()}
        params |= numbering | (idempotency.completion_params(stored) if stored else {})
        found = (await session.execute(_numbered_insert_for_postgresql(storing=stored is not None), params)).first()
        number = None if found is None else found[0]
        kept = stored is None or (found is not None and found[1] == 1)
    else:
        # SQLite's write transaction holds the whole database from its BEGIN IMMEDIATE: order is free.
        number = await session.scalar(_NEXT_NUMBER, numbering)
        if number is not None:
            for table, prefix, json_column in _NUMBERED_ROWS:
                await session.execute(insert(table), _numbered(rows[prefix], json_column, int(number)))
            if stored is not None:
                kept = await idempotency.store_with_value(session, stored, str(number).encode())
    if number is None:
        msg = f"organisation {invoice['organization_id']} vanished while numbering an invoice"
        raise LookupError(msg)
    return int(number), kept


@dataclass(frozen=True, slots=True)
class NumberedInsert:
    """`insert_numbered`, deferred to the request's end (kit/final_write.py); the number replaces `placeholder`."""

    invoice: dict[str, Any]
    audit_event: dict[str, Any]
    outbox_event: dict[str, Any]
    placeholder: bytes

    async def __call__(self, session: AsyncSession, stored: StoredResponse | None) -> tuple[bytes, bool]:
        """Number and insert; the number's digits and whether `stored` was stored."""
        number, kept = await insert_numbered(session, self.invoice, self.audit_event, self.outbox_event, stored)
        return str(number).encode(), kept


async def remove(session: AsyncSession, invoice: Invoice) -> None:
    """Delete an invoice row."""
    await session.delete(invoice)
