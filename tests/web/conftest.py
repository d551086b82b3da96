"""One running Shipyard, one development OpenID provider and one headless Chromium for every browser test.

`shipyard serve` runs in its own process on a fresh migrated database (SQLite or PostgreSQL, as the
pass), with its embedded worker so webhooks are delivered, loopback allowed as a webhook target for
the local receiver, and email sent to a local SMTP server (tests/fixtures/smtp.py). Chromium is
Debian's; nothing is downloaded. Each test signs its person in through the provider's real login
page, in its own browser context; a person's first sign-in makes their own organisation, so tests
signing in the same person share it and count only what they made themselves. axe-core comes from npm
(tests/web/axe/, installed by `npm ci` on first use, like the provider) and is evaluated in the page
through the DevTools protocol, so the page's own CSP stays untouched. Screenshots of every page go to
test-output/screenshots/ (git-ignored), one at 1280 px and one at 375 px wide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright

from tests.conftest import DB_KIND, REPO
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.fixtures.oidc import OidcProvider, ensure_node_modules, start_oidc_provider
from tests.fixtures.servers import PostgresServer, free_port
from tests.fixtures.smtp import SmtpSink, smtp_server

AXE_DIR = Path(__file__).parent / "axe"
SCREENSHOTS = REPO / "test-output" / "screenshots"
WIDE, NARROW = 1280, 375


@dataclass
class RunningShipyard:
    """The server under test, its provider, and what the tests saw (CSP violations, axe findings)."""

    base_url: str
    provider: OidcProvider
    mail: SmtpSink
    log: Path
    browser: Browser | None = None
    axe_source: str = ""
    console_errors: list[str] = field(default_factory=list)

    async def context(self, width: int = WIDE) -> BrowserContext:
        """A fresh browser (cookies and all) at `width` px; CSP reports and page errors are collected."""
        assert self.browser is not None
        context = await self.browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", lambda message: self._console(message.type, message.text))
        context.on("weberror", lambda error: self.console_errors.append(f"page error: {error.error}"))
        return context

    def _console(self, kind: str, text: str) -> None:
        if kind == "error" and "Content Security Policy" in text:
            self.console_errors.append(text)

    async def sign_in(self, context: BrowserContext, login: str, return_to: str = "/") -> Page:
        """Sign `login` in through the provider's own login page; returns the page, at `return_to`."""
        page = await context.new_page()
        await page.goto(f"{self.base_url}/login?return_to={return_to}")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{self.provider.issuer.rstrip('/')}/**")
        await page.fill("#login", login)
        await page.fill("#password", "any")
        await page.locator("form[data-prompt=login] [type=submit]").click()
        await page.wait_for_url(f"{self.base_url}{return_to}")
        if return_to != "/account":  # the one server-rendered page after sign-in; the rest are the UI's
            await settled(page)
        return page


async def settled(page: Page) -> None:
    """The view has rendered (main.js marks the end of its work)."""
    await page.locator("main[aria-busy=false]").wait_for()


async def reloading(page: Page, target: Locator) -> None:
    """Click `target`, whose action ends by loading the page again, and wait for the new page's view."""
    async with page.expect_navigation():
        await target.click()
    await settled(page)


async def check_page(running: RunningShipyard, page: Page, name: str) -> None:
    """axe-core finds no serious or critical violation; screenshots at 1280 and 375 px are kept."""
    await settled(page)
    await page.evaluate(running.axe_source)
    violations = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)"
    )
    assert violations == [], f"{name}: {violations}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": WIDE, "height": 900})
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{WIDE}.png"), full_page=True)
    await page.set_viewport_size({"width": NARROW, "height": 800})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page is {overflow} px wider than a {NARROW} px screen"
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{NARROW}.png"), full_page=True)
    await page.set_viewport_size({"width": WIDE, "height": 900})


@pytest.fixture(scope="session")
def web_database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated database for the browser tests' server, copied from the session's template."""
    template: str = request.getfixturevalue("migrated_template")
    if DB_KIND == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        server.psql(f"CREATE DATABASE web_ui TEMPLATE {template} OWNER shipyard_migrator")
        yield server.dsn("web_ui", user="shipyard_app")
        server.psql("DROP DATABASE IF EXISTS web_ui WITH (FORCE)")
        return
    path = tmp_path_factory.mktemp("web") / "shipyard.db"
    shutil.copyfile(template, path)
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def shipyard_server(web_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShipyard]:
    """`shipyard serve` with sign-in through the development provider, and its embedded worker."""
    directory = tmp_path_factory.mktemp("web-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (
        smtp_server() as mail,
        start_oidc_provider(
            directory, redirect_uris=[f"{base_url}/api/auth/callback"], post_logout_redirect_uris=[f"{base_url}/"]
        ) as provider,
    ):
        env = {
            **os.environ,
            "SHIPYARD_ENV": "development",
            "SHIPYARD_DATA_DIR": str(directory / "data"),
            "DATABASE_URL": web_database,
            "SHIPYARD_PUBLIC_URL": base_url,
            "SHIPYARD_OIDC_ISSUER": provider.issuer,
            "SHIPYARD_OIDC_CLIENT_ID": provider.client_id,
            "SHIPYARD_OIDC_CLIENT_SECRET": provider.client_secret,
            "SHIPYARD_JOBS_EMBEDDED": "true",
            "SHIPYARD_JOBS_POLL_INTERVAL_S": "0.2",
            "SHIPYARD_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
            "SHIPYARD_LOG_FORMAT": "json",
            # Every test signs someone in from 127.0.0.1; the limit itself is tested in tests/auth/.
            "SHIPYARD_AUTH_RATE_LIMIT_PER_MINUTE": "1000",
            "SHIPYARD_SMTP_HOST": mail.host,
            "SHIPYARD_SMTP_PORT": str(mail.port),
            "SHIPYARD_SMTP_TLS": "none",
        }
        env.pop("REDIS_URL", None)
        log_path = directory / "shipyard.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
                [str(Path(sys.executable).parent / "shipyard"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_until_ready(f"{base_url}/health", server, log_path)
                yield RunningShipyard(base_url, provider, mail, log_path)
            finally:
                server.terminate()
                server.wait(timeout=30)


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


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser bundle, from the pinned npm package."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test-deps` as root (Debian package chromium)")
    ensure_node_modules(AXE_DIR)
    return (AXE_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def running(shipyard_server: RunningShipyard, axe_source: str) -> AsyncIterator[RunningShipyard]:
    """The server with one Chromium attached; the tests' CSP violations must stay none."""
    shipyard_server.axe_source = axe_source
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shipyard_server.browser = browser
        try:
            yield shipyard_server
        finally:
            await browser.close()
