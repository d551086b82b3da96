"""A person signs in with a real browser: headless Chromium (Debian's), driven by Playwright.

Everything is real: `shipyard serve` in its own process, the OpenID provider from
tests/fixtures/oidc.py, the provider's own login page, the cookies the browser keeps. The page is
served at http://127.0.0.1 as `make run` serves it; Chromium treats loopback as a secure context,
so the production cookie settings (`__Host-`, `Secure`) hold without TLS. The screenshot of the
account page is kept in the test's directory (and copied to $SHIPYARD_TEST_ARTIFACTS when that is
set, to look at it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from shipyard.settings import Settings
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.fixtures.oidc import OidcProvider, start_oidc_provider
from tests.fixtures.servers import free_port


@dataclass(frozen=True)
class RunningShipyard:
    base_url: str
    provider: OidcProvider


@pytest.fixture
def shipyard_with_sign_in(settings: Settings, tmp_path: Path) -> Iterator[RunningShipyard]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with start_oidc_provider(
        tmp_path,
        redirect_uris=[f"{base_url}/api/auth/callback"],
        post_logout_redirect_uris=[f"{base_url}/"],
    ) as provider:
        env = {
            **os.environ,
            "SHIPYARD_ENV": "development",
            "SHIPYARD_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": settings.effective_database_url,
            "SHIPYARD_PUBLIC_URL": base_url,
            "SHIPYARD_OIDC_ISSUER": provider.issuer,
            "SHIPYARD_OIDC_CLIENT_ID": provider.client_id,
            "SHIPYARD_OIDC_CLIENT_SECRET": provider.client_secret,
            "SHIPYARD_JOBS_EMBEDDED": "false",
            "SHIPYARD_LOG_FORMAT": "json",
        }
        env.pop("REDIS_URL", None)
        log = (tmp_path / "shipyard.log").open("w")
        server = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(Path(sys.executable).parent / "shipyard"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(f"http://127.0.0.1:{port}/health", server, tmp_path / "shipyard.log")
            yield RunningShipyard(base_url, provider)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def _wait_until_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        if server.poll() is not None:
            pytest.fail(f"shipyard serve exited {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"shipyard serve did not become ready:\n{log.read_text()[-3000:]}")


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test-deps` as root (Debian package chromium)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def _sign_in(page: Page, running: RunningShipyard, login: str) -> None:
    await page.goto(f"{running.base_url}/login")
    await page.get_by_role("button", name="Sign in").click()
    # The provider's own login page, at its own origin.
    await page.wait_for_url(f"{running.provider.issuer.rstrip('/')}/**", timeout=TIMEOUT_MS)
    await page.fill("#login", login)
    await page.fill("#password", "any")
    await page.locator("form[data-prompt=login] [type=submit]").click()
    await page.wait_for_url(f"{running.base_url}/account", timeout=TIMEOUT_MS)


async def test_a_person_signs_in_with_a_browser_sees_the_account_page_and_signs_out(
    shipyard_with_sign_in: RunningShipyard, browser: Browser, tmp_path: Path
) -> None:
    running = shipyard_with_sign_in
    context = await browser.new_context(viewport={"width": 1100, "height": 1000})
    page = await context.new_page()
    await _sign_in(page, running, "alice")

    body = await page.locator("main").inner_text()
    assert "alice@example.com" in body
    assert "verified" in body
    assert "Active sessions" in body
    assert "this browser" in body
    screenshot = tmp_path / "account.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    if artifacts := os.environ.get("SHIPYARD_TEST_ARTIFACTS"):
        shutil.copy(screenshot, Path(artifacts) / "account.png")

    # The cookies the browser holds are the production kind: __Host-, Secure, HttpOnly, Lax.
    jar = {cookie["name"]: cookie for cookie in await context.cookies()}
    session_cookie = jar["__Host-shipyard_session"]
    assert session_cookie["secure"]
    assert session_cookie["httpOnly"]
    assert session_cookie["sameSite"] == "Lax"

    # The page manages API tokens through the token API, as the cookie session, with its CSRF token.
    await page.fill("#new-token input[name=name]", "from the browser")
    await page.select_option("#new-token select[name=scopes]", ["customers:read"])
    await page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token-secret")
    await secret.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert "shp_" in await secret.inner_text()

    # Signing out ends the session here and, through RP-initiated logout, at the provider.
    await page.get_by_role("button", name="Sign out").click()
    confirm = page.get_by_role("button", name="Yes, sign me out")
    await confirm.click(timeout=TIMEOUT_MS)
    await page.wait_for_url(f"{running.base_url}/login", timeout=TIMEOUT_MS)
    await page.goto(f"{running.base_url}/account")
    assert page.url == f"{running.base_url}/login"
    await context.close()
