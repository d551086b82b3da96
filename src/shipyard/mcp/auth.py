"""Authentication for the MCP server: Shipyard API tokens behind the SDK's token-verifier hook.

Over HTTP, the SDK's bearer middleware calls `ShipyardTokenVerifier` on every request and refuses
the request itself (401 for a bad token, 403 without `mcp:read`). Over stdio there is no HTTP: the
token comes from the environment and is checked again on every tool call, so a revoked or expired
token stops working within the authenticator's cache TTL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from pydantic import ConfigDict

from shipyard.audit import service as audit_service
from shipyard.identity import token_format
from shipyard.identity.authenticator import AuthFailure, TokenAuthenticator
from shipyard.identity.principal import Principal
from shipyard.kit.context import current_request_context
from shipyard.kit.db import Database
from shipyard.kit.rate_limit import RateLimiter
from shipyard.settings import Settings

MCP_READ = "mcp:read"


class Runtime(Protocol):
    """What the MCP server needs from its host: the app's state, or the stdio process's equivalent."""

    @property
    def database(self) -> Database:
        """Session factories."""

    @property
    def authenticator(self) -> TokenAuthenticator:
        """The token cache."""

    @property
    def settings(self) -> Settings:
        """The configuration."""

    @property
    def rate_limiter(self) -> RateLimiter:
        """The app's limiter, which counts the expensive tools' budget (mcp/budget.py)."""


RuntimeProvider = Callable[[], Runtime]


class ShipyardAccessToken(AccessToken):
    """The SDK's access token, carrying the Principal the token resolved to.

    `token` holds the secret's SHA-256, not the secret: nothing downstream needs the secret.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    principal: Principal


async def refuse(runtime: Runtime, failure: AuthFailure) -> None:
    """Audit a refused token, as the REST API does (`auth.token_rejected`)."""
    # Its own transaction: the boundary for this event, which outlives the refused call.
    async with runtime.database.writer() as session:
        audit_service.record_auth_failure(
            session, failure.reason, token_id=failure.token_id, organization_id=failure.organization_id
        )
        await session.commit()


def lacks_mcp_read(principal: Principal) -> AuthFailure | None:
    """The refusal of a valid token that may not use MCP, to audit like any other refused token."""
    if principal.has_scope(MCP_READ):
        return None
    return AuthFailure("insufficient_scope", principal.token_id, principal.organization_id)


class ShipyardTokenVerifier:
    """The SDK's `TokenVerifier`, backed by the app's `TokenAuthenticator` (5 s cache, revocation aware)."""

    def __init__(self, runtime: RuntimeProvider) -> None:
        self.runtime = runtime

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's access info, or None (a 401) when it is malformed, unknown, expired or revoked."""
        runtime = self.runtime()
        context = current_request_context()
        outcome = await runtime.authenticator.authenticate(token, context.ip if context else None)
        if isinstance(outcome, AuthFailure):
            await refuse(runtime, outcome)
            return None
        # Scopes are reported as they are; the SDK answers 403 when `mcp:read` is not among them.
        if failure := lacks_mcp_read(outcome):
            await refuse(runtime, failure)
        return ShipyardAccessToken(
            token=token_format.hash_token(token),
            client_id=outcome.token_id or outcome.user_id,
            subject=outcome.user_id,
            scopes=sorted(outcome.scopes),
            principal=outcome,
        )


class Credentials(Protocol):
    """Where a tool call's principal comes from."""

    async def resolve(self, request: Any, runtime: Runtime) -> Principal | AuthFailure:  # noqa: ANN401 - the SDK types it Any
        """The principal of the call carried by `request` (None over stdio)."""


class HttpCredentials:
    """Over HTTP: the principal the bearer middleware already verified for this very request."""

    async def resolve(self, request: Any, runtime: Runtime) -> Principal | AuthFailure:  # noqa: ANN401, ARG002 - see Credentials
        """The verified principal, or a failure when the request did not pass through the verifier."""
        user = request.scope.get("user") if request is not None else None
        if isinstance(user, AuthenticatedUser) and isinstance(user.access_token, ShipyardAccessToken):
            return user.access_token.principal
        return AuthFailure("not_authenticated")


class StaticTokenCredentials:
    """Over stdio: one token from the environment, verified again on every call."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def resolve(self, request: Any, runtime: Runtime) -> Principal | AuthFailure:  # noqa: ANN401, ARG002 - see Credentials
        """The token's principal now, or why it is refused now."""
        return await runtime.authenticator.authenticate(self._token, None)
