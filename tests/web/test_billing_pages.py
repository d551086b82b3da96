"""The dashboard, customers, invoices and API tokens, used in a real browser as a person would.

Each test signs its person in; Alice owns her personal organisation, which the tests that sign her
in share, so they look for what they made rather than count everything.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import RunningShipyard, check_page, reloading, settled

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _open(running: RunningShipyard, page: Page, path: str) -> None:
    await page.goto(f"{running.base_url}{path}")
    await settled(page)


async def _search_finds_her(running: RunningShipyard, page: Page) -> None:
    """The search box finds Ada by part of her name, in another case; a name nobody has matches nothing."""
    customer_url = page.url
    await _open(running, page, "/customers")
    await page.get_by_label("Search").fill("LOVE")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/customers?q=LOVE")
    await settled(page)
    await expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    await _open(running, page, "/customers?q=nobody-by-that-name")
    await expect(page.get_by_text("No customers match.")).to_be_visible()
    await page.goto(customer_url)
    await settled(page)


async def test_a_signed_out_person_is_sent_to_sign_in_and_comes_back(running: RunningShipyard) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{running.base_url}/customers")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert "unsafe-inline" not in answer.headers.get("content-security-policy", "")
    context = await running.context()
    page = await running.sign_in(context, "carol", return_to="/customers")
    await expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    await context.close()


async def test_customer_and_invoice_with_two_lines_finalized_and_paid(running: RunningShipyard) -> None:
    context = await running.context()
    page = await running.sign_in(context, "alice")
    await check_page(running, page, "dashboard")

    await _open(running, page, "/customers")
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_label("Email", exact=True).last.fill("ada@example.com")
    await page.get_by_role("button", name="Create customer").click()
    await page.wait_for_url("**/customers/cus_*")
    await settled(page)
    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    await check_page(running, page, "customer")

    await _search_finds_her(running, page)

    await page.get_by_role("link", name="New invoice").click()
    await page.wait_for_url("**/invoices/new?customer=*")
    await settled(page)
    lines = page.locator("tr.line")
    await lines.nth(0).get_by_label("Description").fill("Consulting")
    await lines.nth(0).get_by_label("Quantity").fill("3")
    await lines.nth(0).get_by_label("Unit price").fill("120.50")
    await page.get_by_role("button", name="Add line").click()
    await lines.nth(1).get_by_label("Description").fill("Travel")
    await lines.nth(1).get_by_label("Unit price").fill("40")
    # The total is live, before anything is sent.
    await expect(page.locator("#invoice-total")).to_have_text("€401.50")
    await check_page(running, page, "invoice-new")
    await page.get_by_role("button", name="Create draft").click()
    await page.wait_for_url("**/customers/cus_*/invoices/inv_*")
    await settled(page)
    await expect(page.locator("#invoice-summary-total")).to_have_text("€401.50")
    await check_page(running, page, "invoice-draft")

    await reloading(page, page.get_by_role("button", name="Finalize"))
    await expect(page.get_by_role("button", name="Mark paid")).to_be_visible()
    await page.get_by_role("button", name="Send by email").click()
    await expect(page.locator("#notice")).to_have_text("Email queued to the customer.")
    await reloading(page, page.get_by_role("button", name="Mark paid"))
    await expect(page.get_by_role("heading", name="Invoice #1")).to_contain_text("paid")
    await check_page(running, page, "invoice-paid")

    await _open(running, page, "/invoices?status=paid")
    await expect(page.locator("main table tbody tr")).to_have_count(1)
    await check_page(running, page, "invoices")
    await _open(running, page, "/")
    await expect(page.get_by_text("customer.created")).to_be_visible()
    assert running.console_errors == []
    await context.close()


async def test_a_stale_edit_is_refused_with_words_a_request_id_and_a_reload(running: RunningShipyard) -> None:
    context = await running.context()
    page = await running.sign_in(context, "alice")
    await _open(running, page, "/customers")
    await page.get_by_label("Name").fill("Grace Hopper")
    await page.get_by_label("Email", exact=True).last.fill("grace@example.com")
    await page.get_by_role("button", name="Create customer").click()
    await page.wait_for_url("**/customers/cus_*")
    await settled(page)
    # Someone else saves first, in another tab.
    other = await context.new_page()
    await other.goto(page.url)
    await settled(other)
    await other.locator("#edit-customer").get_by_label("Name").fill("Rear Admiral Hopper")
    await reloading(other, other.get_by_role("button", name="Save changes"))
    await expect(other.locator("#notice")).to_have_text("Customer saved.")
    await page.locator("#edit-customer").get_by_label("Name").fill("Amazing Grace")
    await page.get_by_role("button", name="Save changes").click()
    problem = page.locator(".problem")
    await expect(problem).to_contain_text("request ID")
    await reloading(page, problem.get_by_role("button", name="Reload"))
    await expect(page.get_by_role("heading", name="Rear Admiral Hopper")).to_be_visible()
    await context.close()


async def test_a_token_is_created_shown_once_used_from_a_script_and_revoked(running: RunningShipyard) -> None:
    context = await running.context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await running.sign_in(context, "alice", return_to="/tokens")
    await page.get_by_label("Name").fill("nightly export")
    await page.get_by_label("customers:read").check()
    await page.get_by_role("button", name="Create token").click()
    secret = await page.locator(".secret-value").inner_text()
    assert secret.startswith("shp_")
    await page.get_by_role("button", name="Copy").click()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await check_page(running, page, "tokens")

    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as script:
        assert (await script.get("/api/v1/customers")).status_code == 200
        refused = await script.post(
            "/api/v1/customers", headers={"Idempotency-Key": "k1"}, json={"name": "X", "email": "x@example.com"}
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "insufficient_scope"

    await page.reload()
    await settled(page)
    await reloading(page, page.get_by_role("button", name="Revoke nightly export"))
    await expect(page.locator("main").get_by_text("revoked", exact=True)).to_be_visible()
    async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as script:
        assert (await script.get("/api/v1/customers")).status_code == 401
    await context.close()
