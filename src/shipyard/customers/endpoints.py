"""Routes for `/api/v1/customers`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from shipyard.customers import service as customer_service
from shipyard.customers.schemas import CustomerCreate, CustomerFilter, CustomerRead, CustomerUpdate
from shipyard.identity.auth import CustomersRead, CustomersWrite
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.etag import check_if_match, etag_for
from shipyard.kit.pagination import Page, PageParams, PageWriter, page_params_for
from shipyard.kit.problems import ResourceNotFoundError, problem_responses
from shipyard.kit.types import EmailAddress, Label, Timestamp
from shipyard.models import Customer, CustomerRow

router = APIRouter(prefix=f"{API_V1}/customers", tags=["customers"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("cus"))]
CustomerID = Annotated[str, "customer ID"]
CUSTOMER_PAGE = PageWriter(CustomerRead)


def _read(customer: Customer | CustomerRow, response: Response) -> CustomerRead:
    response.headers["ETag"] = etag_for(customer.id, customer.version)
    return CustomerRead.model_validate(customer)


def listed_customer(row: Mapping[str, Any]) -> dict[str, Any]:
    """A listed customer as `CustomerRead` shows it, keys in its field order (tests/customers/test_page_json.py)."""
    return {
        "id": row["id"],
        "object": "customer",
        "name": row["name"],
        "email": row["email"],
        "metadata": row["metadata"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@router.get("", response_model=Page[CustomerRead], responses=problem_responses(400, 422))
async def list_customers(
    principal: CustomersRead,
    session: DBSession,
    paging: Paging,
    email: Annotated[EmailAddress | None, Query(description="Only the customer(s) with this email.")] = None,
    q: Annotated[
        Label | None,
        Query(max_length=100, description="Only customers whose name or email contains this text, in any case."),
    ] = None,
    created_after: Annotated[
        Timestamp | None, Query(description="Created at or after (RFC 3339, with a UTC offset).")
    ] = None,
    created_before: Annotated[
        Timestamp | None, Query(description="Created before (RFC 3339, with a UTC offset).")
    ] = None,
) -> Response:
    """The organisation's customers, newest first."""
    filters = CustomerFilter(
        email=str(email) if email else None, q=q, created_after=created_after, created_before=created_before
    )
    customers = await customer_service.list_page(
        session, principal, filters, limit=paging.limit, after_id=paging.after_id
    )
    return CUSTOMER_PAGE.response(map(listed_customer, customers), paging.limit)


@router.post("", status_code=201, response_model=CustomerRead, responses=problem_responses(409, 413, 415, 422))
async def create_customer(
    body: CustomerCreate, principal: CustomersWrite, session: DBSession, response: Response
) -> CustomerRead:
    """Create a customer. Send an Idempotency-Key to retry safely."""
    customer = await customer_service.create(session, principal, body)
    response.headers["Location"] = f"{API_V1}/customers/{customer.id}"
    return _read(customer, response)


@router.get("/{customer_id}", response_model=CustomerRead, responses=problem_responses(404))
async def read_customer(
    customer_id: CustomerID, principal: CustomersRead, session: DBSession, response: Response
) -> CustomerRead:
    """One customer, with its ETag."""
    customer = await customer_service.read(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    return _read(customer, response)


@router.patch("/{customer_id}", response_model=CustomerRead, responses=problem_responses(404, 409, 412, 415, 422, 428))
async def update_customer(
    customer_id: CustomerID,
    body: CustomerUpdate,
    principal: CustomersWrite,
    session: DBSession,
    request: Request,
    response: Response,
    settings: AppSettings,
) -> CustomerRead:
    """Change a customer. Send If-Match with its ETag to avoid overwriting someone else's change."""
    customer = await customer_service.get(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    check_if_match(request, etag_for(customer.id, customer.version), required=settings.require_if_match)
    await customer_service.update(session, principal, customer, body)
    return _read(customer, response)


@router.delete("/{customer_id}", status_code=204, responses=problem_responses(404, 409, 412, 428))
async def archive_customer(
    customer_id: CustomerID, principal: CustomersWrite, session: DBSession, request: Request, settings: AppSettings
) -> Response:
    """Archive a customer. It disappears from lists and lookups; its invoices remain."""
    customer = await customer_service.get(session, principal, customer_id)
    if customer is None:
        raise ResourceNotFoundError("customer", customer_id)
    check_if_match(request, etag_for(customer.id, customer.version), required=settings.require_if_match)
    await customer_service.archive(session, principal, customer)
    return Response(status_code=204)
