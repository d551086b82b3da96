"""Members, invitations and the organisation switcher, with two people in two browsers.

Alice (the owner of her organisation) invites Bob by email; Bob opens the link signed out, signs in
at the provider, comes back to the invitation and accepts it, then switches to Alice's organisation.
Alice lowers his role to viewer: his write buttons disappear and the API refuses his writes. She
removes him: his session in her organisation ends and he is asked to sign in again.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.fixtures.smtp import wait_for_messages
from tests.web.conftest import RunningShipyard, check_page, reloading, settled

pytestmark = pytest.mark.asyncio(loop_scope="session")

WRITE_ATTEMPT = """async () => {
  const me = await (await fetch("/api/v1/me")).json();
  const answer = await fetch("/api/v1/customers", {method: "POST", headers: {"Content-Type": "application/json",
    "X-CSRF-Token": me.csrf_token, "Idempotency-Key": crypto.randomUUID()},
    body: JSON.stringify({name: "Bob's customer", email: "bobs@example.com"})});
  return {status: answer.status, code: (await answer.json()).code};
}"""


async def _reload(page: Page) -> None:
    await page.reload()
    await settled(page)


async def _invitation_link(running: RunningShipyard, already: int) -> str:
    messages = await wait_for_messages(running.mail, already + 1)
    body: Any = messages[already].get_body(preferencelist=("plain",))
    match = re.search(r"(http://\S+/invitations/accept#token=\S+)", body.get_content())
    assert match, body.get_content()
    return match.group(1)


async def _invite(running: RunningShipyard, page: Page, email: str) -> str:
    """Invite `email` as a member from the members page; the link from the email that arrives."""
    sent_before = len(running.mail.messages)
    await page.locator("#invite").get_by_label("Email").fill(email)
    await page.locator("#invite").get_by_label("Role").select_option("member")
    await reloading(page, page.get_by_role("button", name="Send invitation"))
    await expect(page.locator("tr.invitation")).to_contain_text(email)
    await check_page(running, page, "members")
    return await _invitation_link(running, sent_before)


async def _accept_signed_out(running: RunningShipyard, context: BrowserContext, link: str) -> Page:
    """Bob opens the link signed out: the page keeps the token, sends him to sign in, and he accepts."""
    bob = await context.new_page()
    await bob.goto(link)
    await bob.wait_for_url(f"{running.base_url}/login?return_to=*")
    await bob.get_by_role("button", name="Sign in").click()
    await bob.wait_for_url(f"{running.provider.issuer.rstrip('/')}/**")
    await bob.fill("#login", "bob")
    await bob.fill("#password", "any")
    await bob.locator("form[data-prompt=login] [type=submit]").click()
    await bob.wait_for_url(f"{running.base_url}/invitations/accept")
    await settled(bob)
    await check_page(running, bob, "invitation")
    await bob.get_by_role("button", name="Accept invitation").click()
    await expect(bob.get_by_role("status").first).to_contain_text("as member")
    return bob


async def test_an_invited_person_accepts_switches_loses_write_access_and_is_removed(running: RunningShipyard) -> None:
    alice_context = await running.context()
    alice = await running.sign_in(alice_context, "alice", return_to="/members")
    await expect(alice.locator("tr.member")).to_have_count(1)
    link = await _invite(running, alice, "bob@example.com")
    assert link.startswith(f"{running.base_url}/invitations/accept#token=")

    bob_context = await running.context()
    bob = await _accept_signed_out(running, bob_context, link)

    # The switcher in the header lists both of his organisations.
    await bob.goto(f"{running.base_url}/")
    await settled(bob)
    switcher = bob.get_by_label("Organisation")
    alice_org = await switcher.locator("option", has_text="Alice").get_attribute("value")
    assert alice_org
    await switcher.select_option(alice_org)
    await reloading(bob, bob.get_by_role("button", name="Switch"))
    await expect(bob.get_by_label("Organisation")).to_have_value(alice_org)
    await check_page(running, bob, "dashboard-member")
    await bob.goto(f"{running.base_url}/customers")
    await settled(bob)
    await expect(bob.get_by_role("button", name="Create customer")).to_be_visible()

    # Alice makes him a viewer: the write buttons go, and the API refuses his writes.
    await _reload(alice)
    bob_row = alice.locator("tr.member", has_text="bob@example.com")
    await bob_row.get_by_label("Role of").select_option("viewer")
    await reloading(alice, bob_row.get_by_role("button", name="Change role"))
    await expect(alice.locator("#notice")).to_contain_text("is now viewer")
    await _reload(bob)
    await expect(bob.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    await expect(bob.get_by_role("button", name="Create customer")).to_have_count(0)
    assert await bob.evaluate(WRITE_ATTEMPT) == {"status": 403, "code": "insufficient_scope"}
    await bob.goto(f"{running.base_url}/members")
    await settled(bob)
    await expect(bob.get_by_role("button", name="Change role")).to_have_count(0)
    await check_page(running, bob, "members-viewer")

    # Alice removes him.
    alice.once("dialog", lambda dialog: dialog.accept())
    await reloading(alice, bob_row.get_by_role("button", name="Remove"))
    await expect(alice.locator("tr.member")).to_have_count(1)
    # His session was acting in Alice's organisation: it ends, and he is asked to sign in again.
    await bob.reload()
    await bob.wait_for_url(f"{running.base_url}/login")
    assert (await bob_context.request.get(f"{running.base_url}/api/v1/members")).status == 401
    assert running.console_errors == []
    await bob_context.close()
    await alice_context.close()
