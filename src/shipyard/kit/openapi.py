"""OpenAPI 3.1 post-processing: problem schemas, bearer auth and the Idempotency-Key header."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shipyard.kit.problems import PROBLEM_CONTENT_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_MUTATING = ("post", "patch", "delete", "put")

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
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    responses[status] = {**problem, "description": response.get("description", "Error")}
            responses["default"] = problem
            if method in _MUTATING:
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Makes retries safe: the same key and payload replay the first response.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    },
                )
    app.openapi_schema = schema
    return schema
