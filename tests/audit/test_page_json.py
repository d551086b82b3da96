"""A page of audit events written straight from rows is byte for byte what `Page[AuditEventRead]` gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import select

from shipyard.audit.schemas import AuditEventRead
from shipyard.kit.pagination import Page
from shipyard.models import AuditEvent
from tests.fixtures.tenants import Tenant

EVENTS = "/api/v1/audit-events"
# How FastAPI wrote the page before decision 0064: its response field's TypeAdapter, by alias.
_PAGE = TypeAdapter(Page[AuditEventRead])
# Nulls, escapes, non-ASCII, nested and non-string details, a timestamp given in another zone.
AWKWARD: list[dict[str, Any]] = [
    {"actor_type": "user", "action": "customer.created", "result": "success", "details": {}},
    {
        "actor_type": "token",
        "actor_id": "usr_x",
        "token_id": "tok_x",
        "ip": "::1",
        "user_agent": 'Zoë "agent" \\ </script> 😀',
        "request_id": "req\u2028",
        "action": "invoice.paid",
        "target_type": "invoice",
        "target_id": "inv_x",
        "result": "denied",
        "details": {"fields": ["name", "日本"], "n": 3, "ok": True, "none": None, "f": 1.5, "deep": {"a": []}},
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=9))),
    },
    {"actor_type": "system", "action": "x", "result": "failure", "details": {"k": ""}},
]


async def test_the_api_page_is_byte_for_byte_the_models_serialisation(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async with app.state.database.writer() as session:
        for number, values in enumerate(AWKWARD):
            stamp = datetime(2026, 1, 1, 0, 0, 0, number * 123_457, tzinfo=UTC)
            session.add(AuditEvent(organization_id=tenant.organization_id, **({"occurred_at": stamp} | values)))
        await session.commit()
        events = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organization_id == tenant.organization_id)
            .order_by(AuditEvent.id.desc())
        )
        everything = [AuditEventRead.model_validate(event) for event in events]
    # The tenant's own set-up left events too: every page of two, the last with no cursor.
    chunks = [everything[start : start + 2] for start in range(0, len(everything), 2)]
    expected = [
        _PAGE.dump_json(
            _PAGE.validate_python(
                Page[AuditEventRead](data=chunk, next_cursor=chunk[-1].id if chunk is not chunks[-1] else None)
            )
        )
        for chunk in chunks
    ]

    bodies, cursor = [], None
    for _ in expected:
        response = await client.get(
            EVENTS, params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=tenant.headers
        )
        assert response.headers["content-type"] == "application/json"
        bodies.append(response.content)
        cursor = response.json()["next_cursor"]

    assert len(expected) >= 2
    assert bodies == expected
    assert cursor is None
