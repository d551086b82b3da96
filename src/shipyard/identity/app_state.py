"""Typed access to the app's state for identity: the kit's part, the token authenticator and browser sessions (0039)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from shipyard.kit.app_state import KitState

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from shipyard.identity.authenticator import TokenAuthenticator
    from shipyard.identity.browser_sessions import BrowserSessions


class IdentityState(KitState, Protocol):
    """What identity reads from the app's state (`shipyard.app.AppState` satisfies it, checked there)."""

    authenticator: TokenAuthenticator
    # The cookie half of authentication, installed by the composition layer (auth/ implements it).
    browser_sessions: BrowserSessions


def identity_state(app: Starlette) -> IdentityState:
    """The app's state as identity sees it; a cast, as in `kit_state`."""
    return cast("IdentityState", app.state)
