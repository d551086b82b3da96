"""Typed app state for sign-in: identity's part, the session store and the OIDC client (decision 0039)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from shipyard.identity.app_state import IdentityState

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from shipyard.auth.oidc.client import OIDCClient
    from shipyard.auth.sessions.store import SessionStore


class SignInState(IdentityState, Protocol):
    """What sign-in and browser sessions read from the app's state (`shipyard.app.AppState` satisfies it)."""

    session_store: SessionStore
    oidc: OIDCClient | None


def sign_in_state(app: Starlette) -> SignInState:
    """The app's state as sign-in sees it; a cast, as in `kit_state`."""
    return cast("SignInState", app.state)
