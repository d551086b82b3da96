"""Scrubbing error messages, and who may read which reports."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from shipyard.error_reports import service
from shipyard.identity import token_format
from shipyard.identity.principal import Principal
from shipyard.models import Role
from tests.fixtures.tenants import Tenant

TOKEN = token_format.generate()


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        (f"could not use {TOKEN}", TOKEN),
        ("header was Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("connect to postgresql://app:s3cret@db:5432/shipyard failed", "s3cret"),
        ("login failed: password=hunter2", "hunter2"),
        ('payload {"api_key": "sk_live_123"}', "sk_live_123"),
        ("refresh access_token: eyJhbGciOi", "eyJhbGciOi"),
        ("signing with whsec_c2VjcmV0c2VjcmV0", "c2VjcmV0c2VjcmV0"),
        ("no account for jane.doe+billing@example.co.uk", "jane.doe+billing@example.co.uk"),
        ("card 4111-1111-1111-1111 declined", "4111-1111-1111-1111"),
        ("card 4111111111111111 declined", "4111111111111111"),
        ("insert failed\n[parameters: ('Alice Anders', 'vip customer')]", "Alice Anders"),
    ],
)
def test_scrub_message_removes_credentials_and_personal_data(raw: str, secret: str) -> None:
    scrubbed = service.scrub_message(raw)
    assert secret not in scrubbed
    assert scrubbed.split()[0] == raw.split(maxsplit=1)[0]  # the useful part stays


def test_scrub_message_keeps_ordinary_text_and_masks_emails_visibly() -> None:
    text = "No customer with id 'cus_01J8ZQ' at /api/v1/customers/{customer_id} (invoice 42, 2026-11-22)"
    assert service.scrub_message(text) == text
    assert service.scrub_message("mail to a@b.example failed") == "mail to [EMAIL] failed"


def test_scrub_message_drops_control_characters_and_bounds_the_length() -> None:
    scrubbed = service.scrub_message("nul\x00here\x1b[31m" + "x" * 5000)
    assert "\x00" not in scrubbed
    assert "\x1b" not in scrubbed
    assert len(scrubbed) == service.MAX_MESSAGE


def test_exception_type_names_the_module_outside_builtins() -> None:
    assert service.exception_type_name(RuntimeError("x")) == "RuntimeError"
    error = OperationalError("SELECT 1", {}, Exception("down"))
    assert service.exception_type_name(error) == "sqlalchemy.exc.OperationalError"


async def _record(app: FastAPI, organization_id: str | None, request_id: str) -> None:
    async with app.state.database.writer() as session:
        service.record(
            session,
            status=500,
            route="/x",
            method="GET",
            request_id=request_id,
            exc=None,
            organization_id=organization_id,
        )
        await session.commit()


async def test_a_5xx_without_an_exception_is_recorded_with_its_status(mcp_app: FastAPI) -> None:
    async with mcp_app.state.database.writer() as session:
        report = service.record(
            session, status=503, route="/ready", method="GET", request_id=None, exc=None, organization_id=None
        )
        await session.commit()
    assert (report.message, report.exception_type) == ("The server answered 503.", None)


async def test_only_an_operator_sees_other_organisations_and_anonymous_errors(
    mcp_app: FastAPI, tenant: Tenant, other_tenant: Tenant, operator: Tenant
) -> None:
    await _record(mcp_app, tenant.organization_id, "req-a")
    await _record(mcp_app, other_tenant.organization_id, "req-b")
    await _record(mcp_app, None, "req-anonymous")

    def principal(who: Tenant) -> Principal:
        return Principal(who.organization_id, who.user_id, Role.OWNER, frozenset({"errors:read"}))

    async with mcp_app.state.database.reader() as session:
        mine = await service.list_visible(session, principal(tenant), operator_slug="ops", limit=10, after_id=None)
        ops = await service.list_visible(session, principal(operator), operator_slug="ops", limit=10, after_id=None)
        nobody = await service.list_visible(session, principal(operator), operator_slug=None, limit=10, after_id=None)
    assert ([r.request_id for r in mine.reports], mine.deployment_wide) == (["req-a"], False)
    assert [r.request_id for r in ops.reports] == ["req-anonymous", "req-b", "req-a"]
    assert ops.deployment_wide is True
    # Without SHIPYARD_OPERATOR_ORG nobody is an operator: the ops org sees only its own (none).
    assert (nobody.reports, nobody.deployment_wide) == ([], False)
