"""Operational routes: liveness, readiness, metrics and the self-hosted API docs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from shipyard.kit.logging import get_logger
from shipyard.kit.problems import problem_response

router = APIRouter(include_in_schema=False)
log = get_logger("shipyard.health")

_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shipyard API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
<link rel="icon" href="/static/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body>
</html>
"""


@router.get("/health")
@router.get("/healthz")
async def health() -> dict[str, str]:
    """Liveness: the process answers. Touches no dependency, so a DB outage never restarts it."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> Response:
    """Readiness: 200 when the database answers, otherwise a 503 problem naming what is down."""
    failing: list[str] = []
    try:
        await request.app.state.database.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness_check_failed", dependency="database", exc_type=type(exc).__name__)
        failing.append("database")
    if failing:
        return problem_response(
            503,
            "dependency_unavailable",
            f"Not ready: {', '.join(failing)} unavailable.",
            failing=failing,
            headers={"Retry-After": "5"},
        )
    return Response(content=b'{"status":"ready"}', media_type="application/json")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition."""
    body, content_type = request.app.state.metrics.render()
    return Response(content=body, media_type=content_type)


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI, served with local assets only (no CDN; no inline script, so a strict CSP holds)."""
    return HTMLResponse(_DOCS_HTML)
