"""The sign-in and account pages (server-rendered) and an unknown address, under the same checks."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import NARROW, SCREENSHOTS, WIDE, RunningShipyard, check_page

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _axe_and_screenshots(running: RunningShipyard, page: Page, name: str) -> None:
    """check_page for a page without the UI shell (it has no view to wait for)."""
    await page.evaluate(running.axe_source)
    violations = await page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"
    )
    assert violations == [], f"{name}: {violations}"
    for width in (WIDE, NARROW):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


async def test_sign_in_account_and_not_found_pages_are_accessible(running: RunningShipyard) -> None:
    context = await running.context()
    page = await context.new_page()
    await page.goto(f"{running.base_url}/login")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await _axe_and_screenshots(running, page, "login")

    page = await running.sign_in(context, "carol", return_to="/account")
    await expect(page.get_by_role("heading", name="Active sessions")).to_be_visible()
    await _axe_and_screenshots(running, page, "account")
    await page.get_by_role("link", name="Dashboard").click()
    await page.wait_for_url(f"{running.base_url}/")

    await page.goto(f"{running.base_url}/customers/cus_01M94QNXTM908GTS3WC3VFEQME")
    problem = page.locator(".problem")
    await expect(problem).to_contain_text("resource_not_found")
    await expect(problem).to_contain_text("request ID")
    await check_page(running, page, "customer-not-found")
    await context.close()
