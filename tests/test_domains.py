"""The composition layer's registry: every package's declarations handed down, and read only when needed."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shipyard import domains
from shipyard.app import create_app
from shipyard.customers import catalogue as customers_catalogue
from shipyard.events.catalogue import EVENT_TYPES, SUBSCRIBABLE
from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.identity.schemas import TokenCreate
from shipyard.identity.scopes import ROLE_SCOPES, SCOPES
from shipyard.models import Role
from shipyard.settings import Settings
from shipyard.webhooks.schemas import WebhookEndpointCreate

pytestmark = pytest.mark.database_independent
SRC = Path(domains.__file__).parent
PROBE = Declarations(
    scopes=(ScopeDeclaration("test-only:read", "A scope no package declares.", Role.VIEWER),),
    event_types={"test-only.happened": "An event type no package declares."},
)


@pytest.fixture
def installed_again() -> Iterator[None]:
    """Whatever a test installs, the registry's own declarations are back afterwards."""
    yield
    domains.install()


def test_every_packages_catalogue_is_registered() -> None:
    declared = {
        path.parent.name: importlib.import_module(f"shipyard.{path.parent.name}.catalogue").DECLARED
        for path in SRC.glob("*/catalogue.py")
        if hasattr(importlib.import_module(f"shipyard.{path.parent.name}.catalogue"), "DECLARED")
    }
    assert "customers" in declared
    unregistered = sorted(name for name, declarations in declared.items() if declarations not in domains.DECLARATIONS)
    assert unregistered == [], "add their DECLARED to DECLARATIONS in src/shipyard/domains.py"


def test_the_declared_scopes_and_event_types_are_installed() -> None:
    assert list(SCOPES)[:2] == [customers_catalogue.CUSTOMERS_READ, customers_catalogue.CUSTOMERS_WRITE]
    assert set(customers_catalogue.DECLARED.event_types) <= SUBSCRIBABLE
    assert EVENT_TYPES["ping"] == "A test event, sent on request to one endpoint only."
    assert "ping" not in SUBSCRIBABLE


def test_a_role_holds_what_the_roles_below_it_hold_and_owners_what_admins_do() -> None:
    assert ROLE_SCOPES[Role.VIEWER] < ROLE_SCOPES[Role.MEMBER] < ROLE_SCOPES[Role.ADMIN] == ROLE_SCOPES[Role.OWNER]
    assert ROLE_SCOPES[Role.OWNER] == frozenset(SCOPES)


@pytest.mark.usefixtures("installed_again")
@pytest.mark.parametrize(
    ("twice", "named"),
    [
        (Declarations(scopes=(ScopeDeclaration("customers:read", "Again.", Role.VIEWER),)), "customers:read"),
        (Declarations(event_types={"customer.created": "Again."}), "customer.created"),
        (Declarations(event_types={"ping": "Not the outbox's."}), "ping"),
    ],
    ids=["scope", "event type", "ping"],
)
def test_a_name_declared_twice_stops_the_installation(twice: Declarations, named: str) -> None:
    with pytest.raises(ValueError, match=f"declared twice: {re.escape(named)}$"):
        domains.install((*domains.DECLARATIONS, twice))


@pytest.mark.usefixtures("installed_again")
def test_a_scope_installed_after_import_is_published_and_accepted(tmp_path: Path) -> None:
    # The schemas were built at import, before this installation: they read the lists when used.
    domains.install((*domains.DECLARATIONS, PROBE))
    assert TokenCreate.model_validate({"name": "n", "scopes": ["test-only:read"]}).scopes == ["test-only:read"]
    hook = {"url": "https://hooks.example.com/x", "event_types": ["test-only.happened"]}
    assert WebhookEndpointCreate.model_validate(hook).event_types == ["test-only.happened"]
    app = create_app(Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    schemas = app.openapi()["components"]["schemas"]
    assert "test-only:read" in schemas["Scope"]["enum"]
    assert schemas["TokenCreate"]["properties"]["scopes"]["maxItems"] == len(SCOPES)

    domains.install()
    with pytest.raises(ValidationError, match="Input should be 'customers:read', "):
        TokenCreate.model_validate({"name": "n", "scopes": ["test-only:read"]})
    with pytest.raises(ValidationError, match=re.escape("unknown event types: test-only.happened")):
        WebhookEndpointCreate.model_validate(hook)
