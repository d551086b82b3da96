"""FastAPI dependencies that authenticate the caller and enforce scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from shipyard.audit import service as audit_service
from shipyard.identity.authenticator import AuthFailure, TokenAuthenticator
from shipyard.identity.principal import Principal
from shipyard.kit.asgi import header
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from starlette.types import Scope

_BEARER = "bearer "
_CHALLENGE = 'Bearer realm="shipyard"'


async def resolve_principal(scope: Scope) -> Principal | AuthFailure | None:
    """Authenticate the request once, caching the outcome in the ASGI scope; None when no credential."""
    state: dict[str, Any] = scope.setdefault("state", {})
    if "auth_outcome" in state:
        return state["auth_outcome"]  # type: ignore[no-any-return]  # set below
    authorization = header(scope, b"authorization")
    outcome: Principal | AuthFailure | None = None
    if authorization is not None:
        if authorization[: len(_BEARER)].lower() != _BEARER:
            outcome = AuthFailure("unsupported_scheme")
        else:
            authenticator: TokenAuthenticator = scope["app"].state.authenticator
            context = state.get("request_context")
            outcome = await authenticator.authenticate(
                authorization[len(_BEARER) :].strip(), getattr(context, "ip", None)
            )
    state["auth_outcome"] = outcome
    if isinstance(outcome, Principal):
        state["principal"] = outcome
    return outcome


async def principal_key(scope: Scope) -> str | None:
    """The Idempotency-Key scope of the caller, or None when the caller is not authenticated."""
    outcome = await resolve_principal(scope)
    return outcome.idempotency_key if isinstance(outcome, Principal) else None


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": _CHALLENGE})


async def get_principal(request: Request) -> Principal:
    """The authenticated caller; a 401 problem (and an audit event on a refused token) otherwise."""
    outcome = await resolve_principal(request.scope)
    if isinstance(outcome, Principal):
        return outcome
    if outcome is None:
        raise _unauthenticated("Send 'Authorization: Bearer <token>' with an API token.")
    # Its own transaction: the request's will be rolled back, and the refusal must still be recorded.
    async with request.app.state.database.writer() as session:
        audit_service.record_auth_failure(
            session, outcome.reason, token_id=outcome.token_id, organization_id=outcome.organization_id
        )
        await session.commit()
    raise ProblemError(
        401,
        "invalid_token",
        "The token is malformed, unknown, expired or revoked.",
        headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
    )


def require_scopes(*scopes: str) -> Any:  # noqa: ANN401 - returns a FastAPI Depends marker
    """A dependency that demands every scope in `scopes` (403 `insufficient_scope` names the missing ones)."""

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        missing = [scope for scope in scopes if not principal.has_scope(scope)]
        if missing:
            raise ProblemError(
                403,
                "insufficient_scope",
                f"This token lacks the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
                missing_scopes=missing,
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{" ".join(missing)}"'},
            )
        return principal

    return Depends(dependency)


Authenticated = Annotated[Principal, Depends(get_principal)]
CustomersRead = Annotated[Principal, require_scopes("customers:read")]
CustomersWrite = Annotated[Principal, require_scopes("customers:write")]
InvoicesRead = Annotated[Principal, require_scopes("invoices:read")]
InvoicesWrite = Annotated[Principal, require_scopes("invoices:write")]
TokensWrite = Annotated[Principal, require_scopes("tokens:write")]
AuditRead = Annotated[Principal, require_scopes("audit:read")]
