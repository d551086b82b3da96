"""OpenAPI 3.1 post-processing: problem schemas, bearer auth, the Idempotency-Key header, and statuses.

Each operation declares the statuses it can really answer, and no catch-all `default` response:
the middleware's refusals (a NUL in the URL, a bad Idempotency-Key, a body too large or not JSON)
and the last-resort 500 are added here, where the mechanism that answers them is known, rather
than on every route by hand.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shipyard.kit.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from shipyard.kit.problems import PROBLEM_CONTENT_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_MUTATING = ("post", "patch", "delete", "put")
# Statuses any operation can answer: 400 `invalid_character` (a NUL in the URL) and 500.
_EVERY_OPERATION = (400, 500)
# With an Idempotency-Key: 400 malformed, 409 in flight, 422 reused with another payload.
_IDEMPOTENT = (400, 409, 422)
# With a body: 413 too large, 415 not JSON, 422 invalid.
_WITH_BODY = (413, 415, 422)
# Every /api/v1 operation counts against the caller's reads or writes quota (identity/rate_limit.py).
_RATE_LIMITED_PREFIX = "/api/v1/"
_RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Seconds until the quota allows this call.", "schema": {"type": "integer"}},
    "RateLimit-Policy": {
        "description": 'The quota, e.g. `"reads";q=1200;w=60` (draft-ietf-httpapi-ratelimit-headers).',
        "schema": {"type": "string"},
    },
    "RateLimit": {"description": 'What is left, e.g. `"reads";r=0;t=12`.', "schema": {"type": "string"}},
}
# A path parameter is one segment: Starlette's `{name}` matches `[^/]+`, and a value with a slash
# reaches another route (a 404 or 405), so the document says a slash cannot be part of it.
_PATH_SEGMENT = "^[^/\u0000]+$"
# The body guard refuses a NUL anywhere in the URL (400 `invalid_character`): no query value holds one.
_NO_NUL = {"pattern": "\u0000"}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes retries safe: the same key and payload replay the first response. 1 to 255 visible ASCII "
        'characters or inner spaces, without double quotes; a structured-field string ("abc") loses its quotes.'
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH + 2, "pattern": KEY_PATTERN},
}

DESCRIPTION = """\
Shipyard's REST API.

* **Auth:** `Authorization: Bearer shp_...` with a scoped API token.
* **Errors:** every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`
  and the `request_id`.
* **Retries:** send `Idempotency-Key` on POST, PATCH and DELETE; a replay carries
  `Idempotent-Replayed: true`. Keys are kept 24 hours.
* **Tracing:** `X-Request-ID` is echoed on every response (yours, if well-formed).
* **Lists:** cursor pagination with `limit` and `cursor`; follow `next_cursor`.
* **Concurrency:** single resources carry an `ETag`; send it back as `If-Match`.
* **Rate limits:** every answer carries `RateLimit-Policy` and `RateLimit`; over the quota, a 429
  problem with `Retry-After`.
"""


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The schema FastAPI generates, made to tell the truth about errors, auth and idempotency."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, openapi_version="3.1.0", description=DESCRIPTION, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    # Nested models (ValidationIssue) become components of their own, referenced from Problem.
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A Shipyard API token (shp_...)."},
    }
    schema["security"] = [{"bearerAuth": []}]
    problem = {"description": "An RFC 9457 problem.", "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}}
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            _declare_statuses(method, operation, problem, rate_limited=path.startswith(_RATE_LIMITED_PREFIX))
    app.openapi_schema = schema
    return schema


def _declare_statuses(method: str, operation: dict[str, Any], problem: dict[str, Any], *, rate_limited: bool) -> None:
    """Add the statuses the middleware and the framework answer, and the Idempotency-Key header."""
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    _constrain_url_parameters(parameters)
    statuses = set(_EVERY_OPERATION)
    if parameters:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.update(_WITH_BODY)
    if method in _MUTATING:
        parameters.append(dict(_IDEMPOTENCY_KEY))
        statuses.update(_IDEMPOTENT)
    if rate_limited:
        statuses.add(429)
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            responses[status] = {**problem, "description": response.get("description", "Error")}
    if rate_limited:
        responses["429"]["headers"] = _RATE_LIMIT_HEADERS
    if not parameters:
        del operation["parameters"]


def _constrain_url_parameters(parameters: list[dict[str, Any]]) -> None:
    """Publish what routing and the body guard require of path and query values."""
    for parameter in parameters:
        if parameter["in"] == "path":
            parameter["schema"].setdefault("pattern", _PATH_SEGMENT)
        elif parameter["in"] == "query" and _may_be_text(parameter["schema"]):
            _refuse_nul(parameter["schema"])


def _refuse_nul(schema: dict[str, Any]) -> None:
    """Add "holds no NUL" to a query parameter's schema (it constrains strings only)."""
    if "not" in schema:
        schema.setdefault("allOf", []).append({"not": dict(_NO_NUL)})
    else:
        schema["not"] = dict(_NO_NUL)


def _may_be_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(branch.get("type") == "string" for branch in schema.get("anyOf", []))
