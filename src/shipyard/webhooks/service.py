"""Business rules for webhook endpoints and deliveries. Services never commit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.events import service as event_service
from shipyard.events.catalogue import PING, subscribed
from shipyard.identity.principal import Principal
from shipyard.kit.crypto import SecretBox
from shipyard.kit.ids import new_id
from shipyard.kit.problems import ProblemError
from shipyard.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WorkStatus
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.webhooks import repository, signing
from shipyard.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from shipyard.webhooks.ssrf import Guard, UnsafeURLError

TARGET = "webhook_endpoint"
# Events one "redeliver since" call queues at most; the answer says where to continue.
REDELIVER_BATCH = 1000
SECRET_PURPOSE = "shipyard webhook signing secrets v1"  # noqa: S105 - a key-derivation label, not a secret


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """What the webhook rules need from the settings."""

    guard: Guard
    box: SecretBox
    rotation_grace: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        """The configured guard, secret box and rotation window."""
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls(
            guard=Guard(
                require_https=settings.webhooks_require_https, allowed_networks=settings.webhook_allowed_networks
            ),
            box=SecretBox(secret_key, SECRET_PURPOSE, previous_keys=settings.previous_secret_keys),
            rotation_grace=timedelta(seconds=settings.webhook_secret_rotation_grace_s),
        )


def may_reach_loopback(endpoint: WebhookEndpoint, settings: Settings) -> bool:
    """Whether deliveries to `endpoint` may go to a loopback address: a development listener's, outside production.

    Decided at each delivery, not only at creation: a flag left in a database that production
    later uses grants nothing there (docs/decisions/0035).
    """
    return endpoint.local_listener and not settings.is_production


async def _checked_url(config: WebhookConfig, url: str) -> str:
    try:
        await config.guard.resolve(url)
    except UnsafeURLError as exc:
        raise ProblemError(
            422, "webhook_url_refused", str(exc), errors=[{"detail": str(exc), "pointer": "#/url"}]
        ) from None
    return url


async def create(
    session: AsyncSession, principal: Principal, data: WebhookEndpointCreate, config: WebhookConfig
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, which is never shown again."""
    secret = signing.new_secret()
    endpoint_id = new_id("we")
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organization_id=principal.organization_id,
        url=await _checked_url(config, data.url),
        description=data.description,
        event_types=data.event_types,
        secret_ciphertext=config.box.encrypt(secret, associated=endpoint_id),
    )
    repository.add(session, endpoint)
    await session.flush()
    audit.record(session, principal, "webhook_endpoint.created", target_type=TARGET, target_id=endpoint.id)
    return endpoint, secret


async def get(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint | None:
    """The organisation's endpoint, or None."""
    return await repository.get_endpoint(session, principal.organization_id, endpoint_id)


async def list_page(
    session: AsyncSession, principal: Principal, *, limit: int, after_id: str | None
) -> list[WebhookEndpoint]:
    """A page of the organisation's endpoints."""
    return await repository.list_endpoints(session, principal.organization_id, limit=limit, after_id=after_id)


async def update(
    session: AsyncSession,
    principal: Principal,
    endpoint: WebhookEndpoint,
    data: WebhookEndpointUpdate,
    config: WebhookConfig,
) -> WebhookEndpoint:
    """Change an endpoint; `enabled` switches it on or off by hand."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        endpoint.url = await _checked_url(config, changes["url"])
        # The listener's loopback grant belongs to the URL `webhooks listen` registered, not to a new one.
        endpoint.local_listener = False
    if "event_types" in changes:
        endpoint.event_types = changes["event_types"]
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        endpoint.enabled = changes["enabled"]
        endpoint.disabled_reason = None if endpoint.enabled else "manual"
        endpoint.disabled_at = None if endpoint.enabled else utcnow()
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "webhook_endpoint.updated",
            target_type=TARGET,
            target_id=endpoint.id,
            details={"fields": sorted(changes)},
        )
    return endpoint


async def delete(session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its delivery log."""
    await repository.remove(session, endpoint)
    await session.flush()
    audit.record(session, principal, "webhook_endpoint.deleted", target_type=TARGET, target_id=endpoint.id)


async def rotate_secret(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, config: WebhookConfig
) -> tuple[str, datetime]:
    """A new secret; the current one keeps signing alongside it for the grace period."""
    secret = signing.new_secret()
    expires = utcnow() + config.rotation_grace
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_expires_at = expires
    endpoint.secret_ciphertext = config.box.encrypt(secret, associated=endpoint.id)
    await session.flush()
    audit.record(session, principal, "webhook_endpoint.secret_rotated", target_type=TARGET, target_id=endpoint.id)
    return secret, expires


def signing_secrets(endpoint: WebhookEndpoint, box: SecretBox, now: datetime) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one during a rotation."""
    found = [box.decrypt(endpoint.secret_ciphertext, associated=endpoint.id)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_ciphertext and expires is not None and expires > now:
        found.append(box.decrypt(endpoint.previous_secret_ciphertext, associated=endpoint.id))
    return found


def _require_enabled(endpoint: WebhookEndpoint, action: str) -> None:
    """Nothing is sent to a disabled endpoint: refuse what would only be recorded as a failed attempt."""
    if not endpoint.enabled:
        raise ProblemError(409, "webhook_endpoint_disabled", f"Enable the endpoint before {action} it.")


def _delivery(event: Event, endpoint_id: str, *, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("whd"),
        organization_id=event.organization_id,
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.type,
        status=WorkStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        request_id=event.request_id,
    )


async def send_test(session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `ping` event to this endpoint alone."""
    _require_enabled(endpoint, "testing")
    now = utcnow()
    event = await event_service.emit(session, principal, PING, {"endpoint_id": endpoint.id})
    event.dispatched_at = now  # fanned out here, to this endpoint only
    delivery = _delivery(event, endpoint.id, now=now)
    repository.add(session, delivery)
    await session.flush()
    audit.record(session, principal, "webhook_endpoint.tested", target_type=TARGET, target_id=endpoint.id)
    return delivery


async def redeliver(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same `webhook-id`."""
    _require_enabled(endpoint, "redelivering to")
    event = await event_service.get(session, delivery.event_id)
    if event is None:  # pragma: no cover - deliveries cascade with their event
        raise ProblemError(409, "event_gone", "The event of this delivery no longer exists.")
    again = _delivery(event, endpoint.id, now=utcnow())
    repository.add(session, again)
    await session.flush()
    event_service.wake_relay(session)
    audit.record(
        session,
        principal,
        "webhook_delivery.redelivered",
        target_type="webhook_delivery",
        target_id=delivery.id,
        details={"new_delivery_id": again.id},
    )
    return again


async def redeliver_since(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, since: datetime
) -> tuple[int, datetime | None]:
    """Queue the endpoint's missed events since `since` (also those from while it was disabled).

    Skips events it received or is about to receive, so calling again queues nothing twice. Returns
    how many deliveries were created, and where to continue when more remain.
    """
    _require_enabled(endpoint, "redelivering to")
    events = await repository.events_missed(session, endpoint, since, limit=REDELIVER_BATCH + 1)
    batch, rest = events[:REDELIVER_BATCH], events[REDELIVER_BATCH:]
    now = utcnow()
    for event in batch:
        repository.add(session, _delivery(event, endpoint.id, now=now))
    await session.flush()
    if batch:
        event_service.wake_relay(session)
    audit.record(
        session,
        principal,
        "webhook_endpoint.redelivered_since",
        target_type=TARGET,
        target_id=endpoint.id,
        details={"since": since.isoformat(), "deliveries": len(batch)},
    )
    return len(batch), rest[0].created_at if rest else None


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint: WebhookEndpoint,
    *,
    status: str | None,
    limit: int,
    after_id: str | None,
) -> list[WebhookDelivery]:
    """A page of the endpoint's deliveries."""
    return await repository.list_deliveries(
        session, principal.organization_id, endpoint.id, status=status, limit=limit, after_id=after_id
    )


async def get_delivery(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, delivery_id: str
) -> tuple[WebhookDelivery, list[WebhookAttempt]] | None:
    """A delivery of the endpoint with its attempts, or None."""
    delivery = await repository.get_delivery(session, principal.organization_id, endpoint.id, delivery_id)
    if delivery is None:
        return None
    return delivery, await repository.attempts_of(session, delivery.id)


async def fan_out(session: AsyncSession, events: list[Event], *, now: datetime) -> list[WebhookDelivery]:
    """Create a pending delivery per subscribed, enabled endpoint of each event; mark the events relayed."""
    by_org: dict[str, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in await repository.enabled_endpoints(session, {event.organization_id for event in events}):
        by_org[endpoint.organization_id].append(endpoint)
    created = []
    for event in events:
        for endpoint in by_org[event.organization_id]:
            if subscribed(endpoint.event_types, event.type):
                delivery = _delivery(event, endpoint.id, now=now)
                repository.add(session, delivery)
                created.append(delivery)
        event.dispatched_at = now
    await session.flush()
    return created
