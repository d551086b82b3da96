"""Routes for `/api/v1/customers/{customer_id}/invoices` and the org-wide `/api/v1/invoices`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.customers import service as customer_service
from shipyard.identity.auth import InvoicesRead, InvoicesWrite
from shipyard.identity.principal import Principal
from shipyard.invoices import service as invoice_service
from shipyard.invoices.schemas import InvoiceCreate, InvoiceFilter, InvoiceRead, InvoiceUpdate
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.etag import check_if_match, etag_for
from shipyard.kit.pagination import Page, PageParams, PageWriter, page_params_for
from shipyard.kit.problems import ResourceNotFoundError, problem_responses
from shipyard.kit.types import EmailAddress, Timestamp
from shipyard.models import Customer, Invoice, InvoiceRow, InvoiceStatus

router = APIRouter(prefix=API_V1, tags=["invoices"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("inv"))]
ITEM = "/customers/{customer_id}/invoices/{invoice_id}"

INVOICE_PAGE = PageWriter(InvoiceRead)


def _read(invoice: Invoice | InvoiceRow, response: Response) -> InvoiceRead:
    response.headers["ETag"] = etag_for(invoice.id, invoice.version)
    return InvoiceRead.model_validate(invoice)


def listed_invoice(row: Mapping[str, Any]) -> dict[str, Any]:
    """A listed invoice as `InvoiceRead` shows it, keys (and each line's) in its field order.

    The lines are rebuilt: PostgreSQL's jsonb keeps an object's keys in its own order, not the
    model's (tests/invoices/test_page_json.py pins the bytes).
    """
    return {
        "id": row["id"],
        "object": "invoice",
        "customer_id": row["customer_id"],
        "number": row["number"],
        "status": row["status"],
        "currency": row["currency"],
        "line_items": [
            {
                "description": line["description"],
                "quantity": line["quantity"],
                "unit_amount": line["unit_amount"],
                "amount": line["amount"],
            }
            for line in row["line_items"]
        ],
        "total": row["total"],
        "due_date": row["due_date"],
        "memo": row["memo"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "finalized_at": row["finalized_at"],
        "paid_at": row["paid_at"],
        "voided_at": row["voided_at"],
    }


def _page(invoices: Sequence[Mapping[str, Any]], limit: int) -> Response:
    return INVOICE_PAGE.response(map(listed_invoice, invoices), limit)


async def _customer(session: AsyncSession, principal: Principal, customer_id: str) -> Customer:
    customer = await customer_service.get(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    return customer


async def _invoice(session: AsyncSession, principal: Principal, customer_id: str, invoice_id: str) -> Invoice:
    invoice = await invoice_service.get(session, principal, customer_id, invoice_id)
    if invoice is None:
        raise ResourceNotFoundError("invoice", invoice_id)
    return invoice


StatusFilter = Annotated[InvoiceStatus | None, Query(description="Only invoices in this status.")]
# Aware only: a timestamp without an offset is ambiguous, and the database compares in UTC.
CreatedAfter = Annotated[Timestamp | None, Query(description="Created at or after (RFC 3339, with a UTC offset).")]
CreatedBefore = Annotated[Timestamp | None, Query(description="Created before (RFC 3339, with a UTC offset).")]


@router.get("/invoices", response_model=Page[InvoiceRead], responses=problem_responses(400, 422))
async def list_all_invoices(
    principal: InvoicesRead,
    session: DBSession,
    paging: Paging,
    status: StatusFilter = None,
    customer_email: Annotated[
        EmailAddress | None, Query(description="Only invoices of the customer with this email.")
    ] = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
) -> Response:
    """Every invoice of the organisation, newest first."""
    filters = InvoiceFilter(
        status=status,
        customer_email=str(customer_email) if customer_email else None,
        created_after=created_after,
        created_before=created_before,
    )
    invoices = await invoice_service.list_page(
        session, principal, filters, limit=paging.limit, after_id=paging.after_id
    )
    return _page(invoices, paging.limit)


@router.get(
    "/customers/{customer_id}/invoices", response_model=Page[InvoiceRead], responses=problem_responses(400, 404, 422)
)
async def list_customer_invoices(
    customer_id: str,
    principal: InvoicesRead,
    session: DBSession,
    paging: Paging,
    status: StatusFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
) -> Response:
    """A customer's invoices, newest first."""
    await _customer(session, principal, customer_id)
    filters = InvoiceFilter(
        customer_id=customer_id, status=status, created_after=created_after, created_before=created_before
    )
    invoices = await invoice_service.list_page(
        session, principal, filters, limit=paging.limit, after_id=paging.after_id
    )
    return _page(invoices, paging.limit)


@router.post(
    "/customers/{customer_id}/invoices",
    status_code=201,
    response_model=InvoiceRead,
    responses=problem_responses(404, 409, 413, 415, 422),
)
async def create_invoice(
    customer_id: str, body: InvoiceCreate, principal: InvoicesWrite, session: DBSession, response: Response
) -> InvoiceRead:
    """Create a draft invoice with the next number. Totals are computed by the server."""
    # Read as a row: only its ID is needed, and loading an ORM instance cost a tenth of the creation.
    customer = await customer_service.read(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    invoice = await invoice_service.create(session, principal, customer, body)
    response.headers["Location"] = f"{API_V1}/customers/{customer_id}/invoices/{invoice.id}"
    return _read(invoice, response)


@router.get(ITEM, response_model=InvoiceRead, responses=problem_responses(404))
async def read_invoice(
    customer_id: str, invoice_id: str, principal: InvoicesRead, session: DBSession, response: Response
) -> InvoiceRead:
    """One invoice, with its ETag."""
    invoice = await invoice_service.read(session, principal, customer_id, invoice_id)
    if invoice is None:
        raise ResourceNotFoundError("invoice", invoice_id)
    return _read(invoice, response)


@router.patch(ITEM, response_model=InvoiceRead, responses=problem_responses(404, 409, 412, 415, 422, 428))
async def update_invoice(
    customer_id: str,
    invoice_id: str,
    body: InvoiceUpdate,
    principal: InvoicesWrite,
    session: DBSession,
    request: Request,
    response: Response,
    settings: AppSettings,
) -> InvoiceRead:
    """Edit a draft invoice (409 for any other status). Send If-Match with its ETag."""
    invoice = await _invoice(session, principal, customer_id, invoice_id)
    check_if_match(request, etag_for(invoice.id, invoice.version), required=settings.require_if_match)
    await invoice_service.update(session, principal, invoice, body)
    return _read(invoice, response)


@router.delete(ITEM, status_code=204, responses=problem_responses(404, 409, 412, 428))
async def delete_invoice(
    customer_id: str,
    invoice_id: str,
    principal: InvoicesWrite,
    session: DBSession,
    request: Request,
    settings: AppSettings,
) -> Response:
    """Delete a draft invoice (409 for any other status; void an open one instead)."""
    invoice = await _invoice(session, principal, customer_id, invoice_id)
    check_if_match(request, etag_for(invoice.id, invoice.version), required=settings.require_if_match)
    await invoice_service.delete_draft(session, principal, invoice)
    return Response(status_code=204)


def _action_route(action: str, summary: str) -> None:
    async def endpoint(
        customer_id: str, invoice_id: str, principal: InvoicesWrite, session: DBSession, response: Response
    ) -> InvoiceRead:
        invoice = await _invoice(session, principal, customer_id, invoice_id)
        await invoice_service.transition(session, principal, invoice, action)
        return _read(invoice, response)

    endpoint.__name__ = f"{action}_invoice"
    router.add_api_route(
        f"{ITEM}/{action}",
        endpoint,
        methods=["POST"],
        response_model=InvoiceRead,
        summary=summary,
        description=f"{summary} An illegal transition is 409 `invalid_state_transition`.",
        responses=problem_responses(404, 409),
    )


_action_route("finalize", "Finalize a draft invoice: draft → open.")
_action_route("pay", "Mark an open invoice paid: open → paid.")
_action_route("void", "Void an open invoice: open → void.")
