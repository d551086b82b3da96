"""Operational routes: liveness, readiness, metrics and the self-hosted API docs."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from redis.asyncio import Redis

from shipyard.kit.app_state import kit_state
from shipyard.kit.draining import is_draining
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
# Everything /docs needs comes from this origin; Swagger UI sets inline styles and shows data: images.
_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


# HEAD too: load balancers and uptime checkers often probe with it.
@router.api_route("/health", methods=["GET", "HEAD"])
@router.api_route("/healthz", methods=["GET", "HEAD"])
async def health(request: Request) -> dict[str, str]:
    """Liveness: the process answers. Touches no dependency, so a DB outage never restarts it.

    It names the release it runs when the deploy set SHIPYARD_RELEASE (docs/operations/deploys.md).
    """
    release: str | None = kit_state(request.app).settings.release
    return {"status": "ok", "release": release} if release else {"status": "ok"}


@router.api_route("/ready", methods=["GET", "HEAD"])
async def ready(request: Request) -> Response:
    """Readiness: 200 when the database (and Redis, when configured) answers; else a 503 problem naming it.

    503 `draining` first, without touching a dependency, while the host's drain marker exists.
    """
    if is_draining(kit_state(request.app).settings.data_dir):
        return problem_response(
            503, "draining", "This host is draining before a restart.", headers={"Retry-After": "5"}
        )
    failing: list[str] = []
    try:
        await kit_state(request.app).database.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness_check_failed", dependency="database", exc_type=type(exc).__name__)
        failing.append("database")
    redis_url: str | None = kit_state(request.app).settings.redis_url
    if redis_url:
        try:
            await _ping_redis(redis_url)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness_check_failed", dependency="redis", exc_type=type(exc).__name__)
            failing.append("redis")
    if failing:
        return problem_response(
            503,
            "dependency_unavailable",
            f"Not ready: {', '.join(failing)} unavailable.",
            failing=failing,
            headers={"Retry-After": "5"},
        )
    return Response(content=b'{"status":"ready"}', media_type="application/json")


async def _ping_redis(url: str, timeout_s: float = 2.0) -> None:
    client = Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    finally:
        await client.aclose()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition (404 when metrics are switched off)."""
    state = kit_state(request.app)
    if state.metrics is None:
        return problem_response(404, "not_found", "Metrics are disabled (SHIPYARD_METRICS_ENABLED=false).")
    listen_port: int | None = state.settings.metrics_listen_port
    # The local port the request arrived on (the listener's, never a client header).
    server = request.scope.get("server")
    if listen_port is not None and (server is None or server[1] != listen_port):
        return problem_response(404, "not_found", "No route matches this path.")
    body, content_type = state.metrics.render()
    return Response(content=body, media_type=content_type)


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI, served with local assets only (no CDN; no inline script, so a strict CSP holds)."""
    return HTMLResponse(_DOCS_HTML, headers={"Content-Security-Policy": _DOCS_CSP})
