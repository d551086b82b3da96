"""Webhook endpoints, the delivery log, events, the audit log and recent errors, in a real browser."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.fixtures.receiver import Receiver
from tests.web.conftest import RunningShipyard, check_page, reloading, settled

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_endpoint_is_created_receives_a_signed_ping_and_a_redelivery(running: RunningShipyard) -> None:
    context = await running.context()
    page = await running.sign_in(context, "alice", return_to="/webhooks")
    async with Receiver() as receiver:
        await page.get_by_label("URL").fill(receiver.url)
        await page.get_by_label("Description").fill("local receiver")
        await page.get_by_role("button", name="Create endpoint").click()
        secret = await page.locator(".secret-value").inner_text()
        assert secret.startswith("whsec_")
        await check_page(running, page, "webhooks")
        await page.get_by_role("link", name="Open the endpoint and its delivery log").click()
        await settled(page)

        await reloading(page, page.get_by_role("button", name="Send a ping"))
        (ping,) = await receiver.wait_for(1)
        assert ping.verify(secret)["type"] == "ping"
        # The log shows the delivery once the worker has recorded its attempt.
        row = page.locator("tr.delivery").first
        for _ in range(50):
            await reloading(page, page.get_by_role("button", name="Refresh"))
            if "succeeded" in await row.inner_text():
                break
        await expect(row).to_contain_text("succeeded")
        await row.get_by_role("button", name="Attempts").click()
        await expect(page.locator("tr.detail")).to_contain_text("200")
        await check_page(running, page, "webhook")

        await reloading(page, row.get_by_role("button", name="Redeliver"))
        received = await receiver.wait_for(2)
        assert received[1].webhook_id == ping.webhook_id  # the same event, sent again
        await expect(page.locator("tr.delivery")).to_have_count(2)

        await reloading(page, page.get_by_role("button", name="Disable"))
        await expect(page.locator("main dl")).to_contain_text("disabled")
        await reloading(page, page.get_by_role("button", name="Enable"))
        await expect(page.locator("main dl")).to_contain_text("enabled")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Rotate secret").click()
        rotated = page.locator("#rotated-secret .secret-value")
        assert (await rotated.inner_text()).startswith("whsec_")
        assert await rotated.inner_text() != secret
    await context.close()


async def test_events_audit_log_filters_and_errors_render(running: RunningShipyard) -> None:
    context = await running.context()
    page = await running.sign_in(context, "alice", return_to="/customers")
    await page.get_by_label("Name").fill("Audited Customer")
    await page.get_by_label("Email", exact=True).last.fill("audited@example.com")
    await page.get_by_role("button", name="Create customer").click()
    await page.wait_for_url("**/customers/cus_*")

    await page.goto(f"{running.base_url}/events")
    await settled(page)
    await expect(page.locator("main")).to_contain_text("customer.created")
    await check_page(running, page, "events")

    await page.goto(f"{running.base_url}/audit")
    await settled(page)
    await page.get_by_label("Action").fill("customer.created")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/audit?action=customer.created")
    await settled(page)
    rows = page.locator("tr.audit-event")
    await expect(rows.first).to_contain_text("customer.created")
    actions = await rows.locator("td:nth-child(2)").all_inner_texts()
    assert set(actions) == {"customer.created"}  # the sign-ins and the rest are filtered out
    await check_page(running, page, "audit")

    await page.goto(f"{running.base_url}/errors")
    await settled(page)
    await expect(page.get_by_role("heading", name="Recent errors")).to_be_visible()
    await check_page(running, page, "errors")
    assert running.console_errors == []
    await context.close()


async def test_swagger_ui_sends_the_csrf_token_so_try_it_out_can_write(running: RunningShipyard) -> None:
    context = await running.context()
    page = await running.sign_in(context, "alice")
    await page.goto(f"{running.base_url}/docs")
    await page.locator(".opblock").first.wait_for()
    # What Swagger UI does on "Execute": its request passes through the configured interceptor, then fetch.
    answer = await page.evaluate(
        """async () => {
      const request = window.ui.getConfigs().requestInterceptor({
        url: "/api/v1/customers", method: "POST",
        headers: {"Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID()},
        body: JSON.stringify({name: "From the docs", email: "docs@example.com"})});
      const response = await fetch(request.url, {method: request.method, headers: request.headers, body: request.body});
      return {status: response.status, csrf: Boolean(request.headers["X-CSRF-Token"])};
    }"""
    )
    assert answer == {"status": 201, "csrf": True}
    await context.close()
