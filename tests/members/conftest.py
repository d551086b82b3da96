"""Shared helpers for the members tests: people in an organisation, each with a token of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.models import AuditEvent, EmailMessage, Role
from tests.fixtures.tenants import Tenant, add_member, issue_token


@dataclass
class Person:
    """A member of the tenant's organisation and a token of theirs with every scope their role allows."""

    user_id: str
    member_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def join(app: Any, client: Any, tenant: Tenant, email: str, role: Role) -> Person:
    """Add `email` to the tenant's organisation with `role`, and give them a token."""
    user_id = await add_member(app, tenant, email, role)
    token, token_id = await issue_token(app, tenant, sorted(ROLE_SCOPES[role]), user_id=user_id)
    listed = await client.get("/api/v1/members", params={"limit": 100}, headers=tenant.headers)
    member_id = next(m["id"] for m in listed.json()["data"] if m["user_id"] == user_id)
    return Person(user_id, member_id, token, token_id)


async def owner_member_id(client: Any, tenant: Tenant) -> str:
    listed = await client.get("/api/v1/members", headers=tenant.headers)
    return str(next(m["id"] for m in listed.json()["data"] if m["user_id"] == tenant.user_id))


async def audit_actions(app: Any, organization_id: str) -> list[str]:
    """The organisation's audit actions, oldest first."""
    async with app.state.database.reader() as session:
        query = select(AuditEvent.action).where(AuditEvent.organization_id == organization_id).order_by(AuditEvent.id)
        return list(await session.scalars(query))


async def emails_to(app: Any, address: str) -> list[EmailMessage]:
    """Messages queued for `address`, oldest first."""
    async with app.state.database.reader() as session:
        query = select(EmailMessage).where(EmailMessage.to_address == address).order_by(EmailMessage.id)
        return list(await session.scalars(query))
