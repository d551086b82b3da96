"""Emailing invoices over real SMTP (aiosmtpd), the daily reminders, and the development default."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shipyard.email import service as email_service
from shipyard.email import tasks as email_tasks
from shipyard.kit.db import create_database
from shipyard.kit.logging import configure_logging
from shipyard.models import EmailMessage
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.worker.repository import acquire_lease
from shipyard.worker.scheduler import LEASE
from shipyard.worker_wiring import REMINDERS, email_job_context
from tests.fixtures.jobs import eventually, fast, jobs_app, runtime_of
from tests.fixtures.smtp import SmtpSink, smtp_server, wait_for_messages
from tests.fixtures.tenants import Tenant, create_tenant, issue_token

LINES = [{"description": "Design work", "quantity": 3, "unit_amount": 12000}]


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    with smtp_server() as sink:
        yield sink


async def _hold_the_scheduler_lease(settings: Settings) -> None:
    """Give the scheduler's lease to a holder elsewhere, so the embedded scheduler only waits.

    Otherwise its first tick enqueues the day's reminders, and on a slow machine that run landed
    while a test was still creating its overdue invoices. These tests run the reminders themselves.
    """
    database = create_database(settings)
    try:
        async with database.writer() as session:
            held = await acquire_lease(session, LEASE, "another-host", now=utcnow(), ttl=timedelta(hours=1))
            await session.commit()
        assert held
    finally:
        await database.dispose()


@pytest.fixture
async def mailing(settings: Settings, smtp: SmtpSink) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Tenant]]:
    await _hold_the_scheduler_lease(settings)
    async with jobs_app(fast(settings, **smtp.settings(), email_from="Acme Billing <billing@acme.example>")) as (
        app,
        client,
    ):
        yield app, client, await create_tenant(app, "Acme", "acme")


async def _invoice(client: httpx.AsyncClient, tenant: Tenant, *, finalize: bool, due: date | None = None) -> str:
    customer = await client.post(
        "/api/v1/customers", json={"name": "Ada <Lovelace>", "email": "ada@example.com"}, headers=tenant.headers
    )
    base = f"/api/v1/customers/{customer.json()['id']}/invoices"
    body: dict[str, Any] = {"currency": "EUR", "line_items": LINES, "memo": "Thanks!"}
    if due:
        body["due_date"] = due.isoformat()
    invoice = await client.post(base, json=body, headers=tenant.headers)
    path = f"{base}/{invoice.json()['id']}"
    if finalize:
        assert (await client.post(f"{path}/finalize", headers=tenant.headers)).status_code == 200
    return path


async def test_an_invoice_email_arrives_over_smtp_with_text_and_html_parts(
    mailing: tuple[FastAPI, httpx.AsyncClient, Tenant], smtp: SmtpSink
) -> None:
    _app, client, tenant = mailing
    path = await _invoice(client, tenant, finalize=True)
    response = await client.post(f"{path}/send", headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    [message] = await wait_for_messages(smtp, 1)
    assert smtp.envelopes == [("billing@acme.example", ["ada@example.com"])]
    assert message["Subject"] == "Invoice 1"
    assert message["To"] == "ada@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Design work x 3: 360.00 EUR" in text.get_content()
    assert "Total: 360.00 EUR" in text.get_content()
    assert "Hello Ada <Lovelace>," in text.get_content()
    assert "<td>Design work x 3</td><td>360.00 EUR</td>" in html.get_content()
    assert "Ada &lt;Lovelace&gt;" in html.get_content()  # escaped in HTML
    audit = await client.get("/api/v1/audit-events", params={"action": "invoice.sent"}, headers=tenant.headers)
    assert audit.json()["data"][0]["details"]["email_id"] == response.json()["id"]


async def test_a_draft_cannot_be_sent_and_sending_needs_invoices_write(
    mailing: tuple[FastAPI, httpx.AsyncClient, Tenant], smtp: SmtpSink
) -> None:
    app, client, tenant = mailing
    path = await _invoice(client, tenant, finalize=False)
    draft = await client.post(f"{path}/send", headers=tenant.headers)
    assert draft.status_code == 409
    assert draft.json()["code"] == "invalid_state_transition"
    reader, _ = await issue_token(app, tenant, ["invoices:read"])
    denied = await client.post(f"{path}/send", headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    other = await create_tenant(app, "Globex", "globex")
    assert (await client.post(f"{path}/send", headers=other.headers)).status_code == 404
    assert smtp.messages == []


async def test_an_unreachable_smtp_server_is_retried_until_it_answers(settings: Settings) -> None:
    with smtp_server() as sink:
        port = sink.port
    # Nothing listens on `port` now; the first attempt fails, then the server comes back.
    schedule = {"email_retry_schedule_s": [0.0, 0.5, 0.5, 0.5, 0.5]}
    async with jobs_app(fast(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none", **schedule)) as (
        app,
        client,
    ):
        tenant = await create_tenant(app, "Acme", "acme")
        path = await _invoice(client, tenant, finalize=True)
        sent = await client.post(f"{path}/send", headers=tenant.headers)

        async def failed_once() -> EmailMessage | None:
            async with app.state.database.reader() as session:
                message = await session.get(EmailMessage, sent.json()["id"])
                return message if message and message.last_error else None

        await eventually(failed_once)
        from aiosmtpd.controller import Controller

        from tests.fixtures.smtp import _Collector

        collector = _Collector()
        controller = Controller(collector, hostname="127.0.0.1", port=port)
        controller.start()
        try:

            async def delivered() -> EmailMessage | None:
                async with app.state.database.reader() as session:
                    message = await session.get(EmailMessage, sent.json()["id"])
                    return message if message and message.status == "succeeded" else None

            message = await eventually(delivered)
        finally:
            controller.stop()
    assert message.attempts >= 2
    assert len(collector.messages) == 1


async def test_the_daily_run_reminds_overdue_open_invoices_once(
    mailing: tuple[FastAPI, httpx.AsyncClient, Tenant], smtp: SmtpSink
) -> None:
    app, client, tenant = mailing
    yesterday = date.today() - timedelta(days=1)  # noqa: DTZ011 - due dates are calendar dates
    await _invoice(client, tenant, finalize=True, due=yesterday)
    await _invoice(client, tenant, finalize=True, due=date.today() + timedelta(days=5))  # noqa: DTZ011
    await _invoice(client, tenant, finalize=False, due=yesterday)  # drafts are not owed yet
    runtime = runtime_of(app)
    await runtime.enqueue(REMINDERS)
    await runtime.enqueue(REMINDERS)  # a second run the same day adds nothing
    [message] = await wait_for_messages(smtp, 1)
    assert message["Subject"].startswith("Reminder: invoice 1 is overdue")
    async with app.state.database.reader() as session:
        kinds = list(await session.scalars(select(EmailMessage.kind)))
    assert kinds == ["invoice_reminder"]


async def test_without_an_smtp_host_the_message_is_logged_not_sent(settings: Settings) -> None:
    stream = io.StringIO()
    configure_logging(json_lines=True, level="INFO", stream=stream)
    try:
        async with jobs_app(fast(settings)) as (app, client):
            tenant = await create_tenant(app, "Acme", "acme")
            path = await _invoice(client, tenant, finalize=True)
            sent = await client.post(f"{path}/send", headers=tenant.headers)

            async def delivered() -> EmailMessage | None:
                async with app.state.database.reader() as session:
                    message = await session.get(EmailMessage, sent.json()["id"])
                    return message if message and message.status == "succeeded" else None

            await eventually(delivered)
    finally:
        configure_logging(json_lines=True, level="WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    [logged] = [line for line in lines if line.get("event") == "email_logged_not_sent"]
    assert logged["to"] == "ada@example.com"
    assert "Total: 360.00 EUR" in logged["text"]


async def test_a_backlog_larger_than_a_batch_is_reminded_in_full_batch_by_batch(
    mailing: tuple[FastAPI, httpx.AsyncClient, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, tenant = mailing
    monkeypatch.setattr(email_service, "REMINDER_BATCH", 2)
    yesterday = date.today() - timedelta(days=1)  # noqa: DTZ011 - due dates are calendar dates
    for _ in range(5):  # three batches: 2, 2 and 1
        await _invoice(client, tenant, finalize=True, due=yesterday)
    context = email_job_context(runtime_of(app))
    assert await email_tasks.reminders(context) == 5
    assert await email_tasks.reminders(context) == 0  # the same day again: every invoice was reminded
    async with app.state.database.reader() as session:
        kinds = list(await session.scalars(select(EmailMessage.kind)))
    assert kinds == ["invoice_reminder"] * 5


async def test_a_customer_name_and_memo_holding_html_are_escaped_in_the_html_part_only(
    mailing: tuple[FastAPI, httpx.AsyncClient, Tenant], smtp: SmtpSink
) -> None:
    _app, client, tenant = mailing
    name = '<script>alert("x")</script> & Co'
    memo = "<img src=x onerror=alert(1)>"
    customer = await client.post(
        "/api/v1/customers", json={"name": name, "email": "ada@example.com"}, headers=tenant.headers
    )
    base = f"/api/v1/customers/{customer.json()['id']}/invoices"
    invoice = await client.post(
        base, json={"currency": "EUR", "line_items": LINES, "memo": memo}, headers=tenant.headers
    )
    path = f"{base}/{invoice.json()['id']}"
    assert (await client.post(f"{path}/finalize", headers=tenant.headers)).status_code == 200
    assert (await client.post(f"{path}/send", headers=tenant.headers)).status_code == 202

    [message] = await wait_for_messages(smtp, 1)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert f"Hello {name}," in text.get_content()  # the plain part shows the name as typed
    assert memo in text.get_content()
    html_content = html.get_content()
    assert "<script" not in html_content
    assert "<img" not in html_content
    assert "Hello &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co," in html_content
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_content
