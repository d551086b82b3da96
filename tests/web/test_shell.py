"""The page shell's answers without a browser: who gets it, and the headers the Observatory grades.

The Mozilla Observatory's rules, checked by hand on what the app sends (Caddy adds HSTS and the
rest at the edge, tests/deploy/): a CSP with `default-src 'none'`, no `unsafe-inline` or
`unsafe-eval`, frame denial, `nosniff`, and every script and stylesheet from this origin (so no
subresource integrity is needed) with no inline script or style at all.
"""

from __future__ import annotations

import re

import httpx
import pytest

from shipyard.web.shell import SIGNED_IN_PATHS

pytestmark = pytest.mark.database_independent

CONCRETE = [re.sub(r"\{[a-z_]+\}", "x_1", path) for path in SIGNED_IN_PATHS]


@pytest.mark.parametrize("path", CONCRETE)
async def test_a_signed_out_browser_is_sent_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


async def test_the_invitation_page_opens_signed_out_under_the_strict_policy(client: httpx.AsyncClient) -> None:
    answer = await client.get("/invitations/accept")
    assert answer.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert "unsafe" not in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app/main.js">']
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another origin


async def test_the_scripts_and_stylesheet_are_served_by_shipyard(client: httpx.AsyncClient) -> None:
    for path, kind in (("/static/app/main.js", "javascript"), ("/static/app/app.css", "text/css")):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]
