"""RFC 9457 problem details: the one shape every error takes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from shipyard.kit.context import current_request_id
from shipyard.kit.routing import allowed_methods, slash_twin

if TYPE_CHECKING:
    from starlette.types import Scope

PROBLEM_CONTENT_TYPE = "application/problem+json"
# A tag URI (RFC 4151) names each problem type stably without promising a page at that address.
PROBLEM_TYPE_PREFIX = "tag:shipyard.dev,2026:problems/"


class ProblemError(StarletteHTTPException):
    """Raise to answer with a problem; `code` is stable and listed in docs/api/errors.md.

    It subclasses Starlette's HTTPException because FastAPI re-raises those untouched from body
    parsing, where any other exception (a 413 from the body limit, say) would become a 400.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,  # noqa: ANN401 - extension members are arbitrary JSON
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers or {})
        self.status = status
        self.code = code
        self.title = title or HTTPStatus(status).phrase
        self.headers: dict[str, str] = headers or {}
        self.extensions = extensions


class ResourceNotFoundError(ProblemError):
    """The object does not exist for this caller (another tenant's objects included)."""

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(404, "resource_not_found", f"No {resource} with id '{resource_id}'.", resource=resource)


class InvalidStateTransitionError(ProblemError):
    """The object's lifecycle forbids the requested action."""

    def __init__(self, resource: str, current: str, action: str) -> None:
        super().__init__(
            409,
            "invalid_state_transition",
            f"Cannot {action} {'an' if resource[0] in 'aeiou' else 'a'} {resource} whose status is '{current}'.",
            current_status=current,
        )


class ValidationIssue(BaseModel):
    """One invalid input: a JSON pointer into the body, or the name of a parameter."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    location: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document as Shipyard sends it."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable, machine-readable error code; see docs/api/errors.md.")
    request_id: str | None = None
    errors: list[ValidationIssue] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,  # noqa: ANN401 - extension members are arbitrary JSON
) -> Response:
    """Render a problem as `application/problem+json`."""
    return Response(
        content=problem_body(status, code, detail, title=title, **extensions),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def problem_body(status: int, code: str, detail: str, *, title: str | None = None, **extensions: Any) -> bytes:  # noqa: ANN401
    """The JSON bytes of a problem document."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    body.update(extensions)
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def render_problem_error(exc: ProblemError) -> Response:
    """The response for a raised `ProblemError`."""
    return problem_response(
        exc.status, exc.code, str(exc.detail), title=exc.title, headers=exc.headers, **exc.extensions
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.NOT_FOUND and detail == "Not Found":
        if (location := slash_twin(request.app, request.scope)) is not None:
            # The path differs from a route's by its trailing slash only (the app turns Starlette's
            # redirect off: its Location was absolute, built from the unchecked Host header).
            return RedirectResponse(location, status_code=HTTPStatus.TEMPORARY_REDIRECT)
        detail = "No route matches this path."
    elif exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        detail = "This path does not accept that method; see the Allow header."
        if "Allow" in headers and (allowed := allowed_methods(request.app, request.scope["path"])):
            headers["Allow"] = ", ".join(allowed)
    return problem_response(exc.status_code, code, detail, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    issues = [_issue(error) for error in exc.errors()]
    return problem_response(
        422,
        "validation_failed",
        f"The request has {len(issues)} invalid value{'s' if len(issues) != 1 else ''}.",
        errors=[issue.model_dump(exclude_none=True) for issue in issues],
    )


def _issue(error: Any) -> ValidationIssue:  # noqa: ANN401 - pydantic's ErrorDetails is a TypedDict of Any
    location = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "Invalid value."))
    if error.get("type") == "json_invalid":
        # Its location is a character offset, not a member of the document.
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        return ValidationIssue(detail=f"The body is not valid JSON: {reason} (character {location[-1]}).", pointer="#")
    if location and location[0] == "body":
        pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in location[1:])
        return ValidationIssue(detail=message, pointer=f"#/{pointer}" if pointer else "#")
    if location:
        return ValidationIssue(detail=message, parameter=location[-1], location=location[0])
    return ValidationIssue(detail=message)


def _problem_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
    return render_problem_error(exc)


# Refusals of the request's input. The caller's 401 or 403, if it is owed one, comes first.
INPUT_REFUSALS = frozenset({400, 413, 415, 422})

# Raises the 401 or 403 problem the request's route would answer; returns when the caller may go on.
AccessGate = Callable[["Scope"], Awaitable[None]]


async def access_refusal_first(gate: AccessGate | None, scope: Scope, status: int) -> ProblemError | None:
    """The 401 or 403 problem owed before refusing the input with `status`, or None."""
    if gate is None or status not in INPUT_REFUSALS:
        return None
    try:
        await gate(scope)
    except ProblemError as refusal:
        return refusal
    return None


def _access_first(handler: Callable[[Request, Exception], Response], gate: AccessGate | None) -> Any:  # noqa: ANN401 - Starlette's handler type
    async def handle(request: Request, exc: Exception) -> Response:
        response = handler(request, exc)
        refusal = await access_refusal_first(gate, request.scope, response.status_code)
        return response if refusal is None else render_problem_error(refusal)

    return handle


def install_problem_handlers(app: FastAPI, *, gate: AccessGate | None = None) -> None:
    """Make every error the framework raises an RFC 9457 problem; `gate` puts 401 and 403 before input errors."""
    app.add_exception_handler(ProblemError, _access_first(_problem_error, gate))
    app.add_exception_handler(StarletteHTTPException, _access_first(_http_exception, gate))
    app.add_exception_handler(RequestValidationError, _access_first(_validation_error, gate))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem answers for `statuses`."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
