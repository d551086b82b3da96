"""Routes for `/api/v1/webhook-endpoints`, their deliveries, secret rotation and test pings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.etag import check_if_match, etag_for
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import ResourceNotFoundError, problem_responses
from shipyard.models import WebhookDelivery, WebhookEndpoint, WorkStatus
from shipyard.webhooks import service as webhook_service
from shipyard.webhooks.auth import WebhooksRead, WebhooksWrite
from shipyard.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    RedeliverSince,
    RedeliveryStarted,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from shipyard.webhooks.service import WebhookConfig

router = APIRouter(prefix=f"{API_V1}/webhook-endpoints", tags=["webhooks"], responses=problem_responses(401, 403))
EndpointPaging = Annotated[PageParams, Depends(page_params_for("we"))]
DeliveryPaging = Annotated[PageParams, Depends(page_params_for("whd"))]
EndpointID = Annotated[str, "webhook endpoint ID"]
DeliveryID = Annotated[str, "webhook delivery ID"]


def _config(settings: AppSettings) -> WebhookConfig:
    return WebhookConfig.from_settings(settings)


Config = Annotated[WebhookConfig, Depends(_config)]


def _read(endpoint: WebhookEndpoint, response: Response) -> WebhookEndpointRead:
    response.headers["ETag"] = etag_for(endpoint.id, endpoint.version)
    return WebhookEndpointRead.model_validate(endpoint)


def _delivery(delivery: WebhookDelivery) -> DeliveryRead:
    read = DeliveryRead.model_validate(delivery)
    return read if delivery.status == WorkStatus.PENDING else read.model_copy(update={"next_attempt_at": None})


async def _endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await webhook_service.get(session, principal, endpoint_id)
    if endpoint is None:
        raise ResourceNotFoundError("webhook endpoint", endpoint_id)
    return endpoint


@router.post("", status_code=201, response_model=WebhookEndpointCreated, responses=problem_responses(409, 415, 422))
async def create_endpoint(
    body: WebhookEndpointCreate, principal: WebhooksWrite, session: DBSession, config: Config, response: Response
) -> WebhookEndpointCreated:
    """Register an endpoint. The response holds its `whsec_` secret: store it, it is not shown again."""
    endpoint, secret = await webhook_service.create(session, principal, body, config)
    response.headers["Location"] = f"{API_V1}/webhook-endpoints/{endpoint.id}"
    read = _read(endpoint, response)
    return WebhookEndpointCreated(**read.model_dump(), secret=secret)


@router.get("", response_model=Page[WebhookEndpointRead], responses=problem_responses(400, 422))
async def list_endpoints(
    principal: WebhooksRead, session: DBSession, paging: EndpointPaging
) -> Page[WebhookEndpointRead]:
    """The organisation's endpoints, newest first."""
    endpoints = await webhook_service.list_page(session, principal, limit=paging.limit, after_id=paging.after_id)
    items, cursor = make_page(
        [WebhookEndpointRead.model_validate(e) for e in endpoints], [e.id for e in endpoints], paging.limit
    )
    return Page[WebhookEndpointRead](data=items, next_cursor=cursor)


@router.get("/{endpoint_id}", response_model=WebhookEndpointRead, responses=problem_responses(404))
async def read_endpoint(
    endpoint_id: EndpointID, principal: WebhooksRead, session: DBSession, response: Response
) -> WebhookEndpointRead:
    """One endpoint, with its ETag."""
    return _read(await _endpoint(session, principal, endpoint_id), response)


@router.patch(
    "/{endpoint_id}", response_model=WebhookEndpointRead, responses=problem_responses(404, 409, 412, 415, 422, 428)
)
async def update_endpoint(
    endpoint_id: EndpointID,
    body: WebhookEndpointUpdate,
    principal: WebhooksWrite,
    session: DBSession,
    config: Config,
    request: Request,
    response: Response,
    settings: AppSettings,
) -> WebhookEndpointRead:
    """Change an endpoint; `{"enabled": true}` switches a disabled one back on."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    check_if_match(request, etag_for(endpoint.id, endpoint.version), required=settings.require_if_match)
    await webhook_service.update(session, principal, endpoint, body, config)
    return _read(endpoint, response)


@router.delete("/{endpoint_id}", status_code=204, responses=problem_responses(404, 409))
async def delete_endpoint(endpoint_id: EndpointID, principal: WebhooksWrite, session: DBSession) -> Response:
    """Delete an endpoint and its delivery log; nothing more is sent to it."""
    await webhook_service.delete(session, principal, await _endpoint(session, principal, endpoint_id))
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=SecretRotated, responses=problem_responses(404, 409))
async def rotate_secret(
    endpoint_id: EndpointID, principal: WebhooksWrite, session: DBSession, config: Config
) -> SecretRotated:
    """A new secret, shown once. Both secrets sign every request until `previous_secret_expires_at`."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    secret, expires = await webhook_service.rotate_secret(session, principal, endpoint, config)
    return SecretRotated(secret=secret, previous_secret_expires_at=expires)


@router.post("/{endpoint_id}/test", status_code=202, response_model=DeliveryRead, responses=problem_responses(404, 409))
async def send_test(endpoint_id: EndpointID, principal: WebhooksWrite, session: DBSession) -> DeliveryRead:
    """Send a signed `ping` event to this endpoint; follow it in the delivery log."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    return _delivery(await webhook_service.send_test(session, principal, endpoint))


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryRead], responses=problem_responses(400, 404, 422))
async def list_deliveries(
    endpoint_id: EndpointID,
    principal: WebhooksRead,
    session: DBSession,
    paging: DeliveryPaging,
    status: Annotated[WorkStatus | None, Query(description="Only deliveries in this status.")] = None,
) -> Page[DeliveryRead]:
    """The endpoint's deliveries, newest first."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    deliveries = await webhook_service.list_deliveries(
        session, principal, endpoint, status=status, limit=paging.limit, after_id=paging.after_id
    )
    items, cursor = make_page([_delivery(d) for d in deliveries], [d.id for d in deliveries], paging.limit)
    return Page[DeliveryRead](data=items, next_cursor=cursor)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=problem_responses(404))
async def read_delivery(
    endpoint_id: EndpointID, delivery_id: DeliveryID, principal: WebhooksRead, session: DBSession
) -> DeliveryDetail:
    """One delivery with every attempt: status code, latency, error and the start of each response."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    found = await webhook_service.get_delivery(session, principal, endpoint, delivery_id)
    if found is None:
        raise ResourceNotFoundError("webhook delivery", delivery_id)
    delivery, attempts = found
    return DeliveryDetail(
        **_delivery(delivery).model_dump(), attempt_log=[AttemptRead.model_validate(a) for a in attempts]
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
    responses=problem_responses(404, 409),
)
async def redeliver(
    endpoint_id: EndpointID, delivery_id: DeliveryID, principal: WebhooksWrite, session: DBSession
) -> DeliveryRead:
    """Send the delivery's event again (same `webhook-id`), as a new delivery."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    found = await webhook_service.get_delivery(session, principal, endpoint, delivery_id)
    if found is None:
        raise ResourceNotFoundError("webhook delivery", delivery_id)
    return _delivery(await webhook_service.redeliver(session, principal, endpoint, found[0]))


@router.post(
    "/{endpoint_id}/redeliver",
    status_code=202,
    response_model=RedeliveryStarted,
    responses=problem_responses(404, 409, 415, 422),
)
async def redeliver_since(
    endpoint_id: EndpointID, body: RedeliverSince, principal: WebhooksWrite, session: DBSession
) -> RedeliveryStarted:
    """Send again every event since `since` that this endpoint missed, also while it was disabled.

    Events it received, or is about to receive, are skipped: a repeated call queues nothing twice.
    Each event keeps its `webhook-id`.
    """
    endpoint = await _endpoint(session, principal, endpoint_id)
    created, next_since = await webhook_service.redeliver_since(session, principal, endpoint, body.since)
    return RedeliveryStarted(
        endpoint_id=endpoint.id, since=body.since, deliveries_created=created, next_since=next_since
    )
