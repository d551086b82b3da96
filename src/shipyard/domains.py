"""Every domain, registered in one place: its routers, and the scopes and event types it declares.

The layers below never import a domain (decision 0038): identity owns the scopes' mechanism, the outbox
the event types', and this module hands them the domains' declarations (each domain's `catalogue.py`).
Importing it installs them, so every entry point imports it: `app.py`, `cli.py`, the worker and the
MCP server (decision 0055). A new domain adds its routers and its catalogue here, nowhere else.
"""

from __future__ import annotations

from itertools import chain

from fastapi import APIRouter

from shipyard.audit import catalogue as audit_catalogue
from shipyard.audit.endpoints import router as audit_router
from shipyard.auth.sessions.endpoints import router as session_router
from shipyard.auth.signin.endpoints import router as login_router
from shipyard.auth.signin.pages import router as pages_router
from shipyard.customers import catalogue as customers_catalogue
from shipyard.customers.endpoints import router as customers_router
from shipyard.error_reports import catalogue as error_reports_catalogue
from shipyard.error_reports.endpoints import router as errors_router
from shipyard.events import catalogue as event_catalogue
from shipyard.events.endpoints import router as events_router
from shipyard.identity import catalogue as identity_catalogue
from shipyard.identity import scopes
from shipyard.identity.declarations import Declarations
from shipyard.identity.endpoints import router as identity_router
from shipyard.invoices import catalogue as invoices_catalogue
from shipyard.invoices.endpoints import router as invoices_router
from shipyard.invoices.send_endpoint import router as invoice_send_router
from shipyard.kit.system import router as system_router
from shipyard.mcp import catalogue as mcp_catalogue
from shipyard.members import catalogue as members_catalogue
from shipyard.members.active_organization import router as active_organization_router
from shipyard.members.endpoints import router as members_router
from shipyard.members.invitation_endpoints import router as invitations_router
from shipyard.web.shell import router as web_router
from shipyard.webhooks import catalogue as webhooks_catalogue
from shipyard.webhooks.endpoints import router as webhooks_router

# The API's routers, matched in this order, one pattern after another: the busiest paths come first.
API_ROUTERS: tuple[APIRouter, ...] = (
    customers_router,
    invoices_router,
    invoice_send_router,
    identity_router,
    session_router,
    active_organization_router,
    members_router,
    invitations_router,
    events_router,
    webhooks_router,
    audit_router,
    errors_router,
)
# Routers outside /api/v1: health and metrics, sign-in, the sign-in pages, the web UI's shell.
OTHER_ROUTERS: tuple[APIRouter, ...] = (system_router, login_router, pages_router, web_router)

# What each package publishes, in the order the scopes are listed (the OpenAPI `Scope` enum keeps it).
DECLARATIONS: tuple[Declarations, ...] = (
    customers_catalogue.DECLARED,
    invoices_catalogue.DECLARED,
    identity_catalogue.DECLARED,
    audit_catalogue.DECLARED,
    webhooks_catalogue.DECLARED,
    mcp_catalogue.DECLARED,
    error_reports_catalogue.DECLARED,
    members_catalogue.DECLARED,
)


def install(declarations: tuple[Declarations, ...] = DECLARATIONS) -> None:
    """Hand the declarations down: the scopes to identity, the event types to the outbox."""
    scopes.install(chain.from_iterable(declared.scopes for declared in declarations))
    event_catalogue.install(chain.from_iterable(declared.event_types.items() for declared in declarations))


install()
