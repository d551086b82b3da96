"""`POST /api/v1/customers/{customer_id}/invoices/{invoice_id}/send`: email an invoice to its customer."""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.customers import service as customer_service
from shipyard.email import service as email_service
from shipyard.email.schemas import EmailQueued
from shipyard.identity.auth import InvoicesWrite
from shipyard.invoices import service as invoice_service
from shipyard.kit.api import API_V1
from shipyard.kit.deps import DBSession
from shipyard.kit.problems import ResourceNotFoundError, problem_responses

router = APIRouter(prefix=API_V1, tags=["invoices"], responses=problem_responses(401, 403))


@router.post(
    "/customers/{customer_id}/invoices/{invoice_id}/send",
    status_code=202,
    response_model=EmailQueued,
    responses=problem_responses(404, 409),
)
async def send_invoice(customer_id: str, invoice_id: str, principal: InvoicesWrite, session: DBSession) -> EmailQueued:
    """Email an open or paid invoice to the customer (plain text and HTML). Send an Idempotency-Key to retry safely."""
    customer = await customer_service.get(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    invoice = await invoice_service.get(session, principal, customer_id, invoice_id)
    if invoice is None:
        raise ResourceNotFoundError("invoice", invoice_id)
    message = await email_service.send_invoice(session, principal, invoice, customer)
    return EmailQueued.model_validate(message)
