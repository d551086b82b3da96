"""The routes that serve the web UI's shell: the same small HTML page at every UI path.

The shell carries no data. Its ES modules (static/app/) pick the view from the path and read and
write through `/api/v1` with the cookie session, the CSRF token and an Idempotency-Key, exactly as an
agent would (decision 0048). A signed-out visitor is sent to the sign-in page (or the refresh cookie
is rotated first); only the invitation page opens signed out, because the token is in the fragment,
which a redirect would lose: the page keeps it and sends the person to sign in itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from shipyard.auth.signin.pages import content_security_policy, refresh_or_sign_in, session_principal
from shipyard.kit.app_state import kit_state

if TYPE_CHECKING:
    from shipyard.settings import Settings

router = APIRouter(include_in_schema=False)

_templates = Environment(
    loader=PackageLoader("shipyard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)

# Every path the UI answers; the view modules are named in static/app/main.js.
SIGNED_IN_PATHS = (
    "/",
    "/customers",
    "/customers/{customer_id}",
    "/invoices",
    "/invoices/new",
    "/customers/{customer_id}/invoices/{invoice_id}",
    "/tokens",
    "/webhooks",
    "/webhooks/{endpoint_id}",
    "/events",
    "/audit",
    "/members",
    "/errors",
)


def _shell(request: Request) -> HTMLResponse:
    settings: Settings = kit_state(request.app).settings
    return HTMLResponse(
        _templates.get_template("app.html").render(),
        headers={
            "Content-Security-Policy": content_security_policy(settings),
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


async def signed_in_page(request: Request) -> Any:  # noqa: ANN401 - the shell or a redirect
    """The shell for a signed-in browser; anyone else goes to sign in (after a refresh, if one is possible)."""
    if await session_principal(request) is None:
        return await refresh_or_sign_in(request)
    return _shell(request)


async def invitation_page(request: Request) -> HTMLResponse:
    """The page an invitation email links to; it reads the token from the fragment and signs in if needed."""
    return _shell(request)


for _path in SIGNED_IN_PATHS:
    router.add_api_route(_path, signed_in_page, methods=["GET"], response_model=None)
router.add_api_route("/invitations/accept", invitation_page, methods=["GET"], response_model=None)
