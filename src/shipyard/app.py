"""`create_app(settings)` and its lifespan; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from mcp.server import MCPServer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shipyard.auth.app_state import SignInState
from shipyard.auth.oidc.client import OIDCClient, create_oidc_client
from shipyard.auth.sessions.cookie_auth import CookieSessions
from shipyard.auth.sessions.factory import create_session_store
from shipyard.auth.sessions.store import SessionStore
from shipyard.backup.state import BackupStateCollector, state_path
from shipyard.domains import API_ROUTERS, OTHER_ROUTERS
from shipyard.error_reports.recorder import record_server_error
from shipyard.identity.app_state import IdentityState
from shipyard.identity.auth import principal_key, refuse_unauthorised
from shipyard.identity.authenticator import TokenAuthenticator
from shipyard.identity.browser_sessions import BrowserSessions
from shipyard.identity.rate_limit import ApiRateLimitMiddleware, ApiRatePolicy
from shipyard.kit.api import API_V1
from shipyard.kit.app_state import KitState
from shipyard.kit.body_guard import BodyGuardMiddleware
from shipyard.kit.db import Database, create_database
from shipyard.kit.idempotency import IdempotencyStore
from shipyard.kit.logging import get_logger
from shipyard.kit.metrics import HttpMetrics
from shipyard.kit.openapi import build_openapi
from shipyard.kit.problems import install_problem_handlers, problem_response
from shipyard.kit.proxy_headers import ProxyHeadersMiddleware
from shipyard.kit.rate_limit import RateLimiter, create_rate_limiter
from shipyard.kit.request_context import RequestContextMiddleware
from shipyard.kit.request_dependencies import resolve_request_dependencies_first_everywhere
from shipyard.kit.routing import MethodSemanticsMiddleware
from shipyard.kit.sentry import configure_sentry, report_exception
from shipyard.kit.unit_of_work import UnitOfWorkMiddleware
from shipyard.mcp.server import mount_mcp
from shipyard.settings import Settings
from shipyard.worker.metrics import JobMetrics
from shipyard.worker.runtime import Runtime
from shipyard.worker_wiring import embedded as job_runtime

STATIC_DIR = Path(__file__).parent / "static"
_log = get_logger("shipyard.app")


# SQLSTATEs PostgreSQL uses to refuse text it cannot store (a NUL character, for one).
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _stale_data(request: Request, _exc: Exception) -> Response:
    if request.headers.get("if-match"):
        # The caller asked for optimistic concurrency and lost the race: that is a failed precondition.
        return problem_response(
            412, "precondition_failed", "The resource changed since you read it; fetch it again and retry."
        )
    return problem_response(
        409, "concurrent_update", "Someone else changed this resource at the same time; read it again and retry."
    )


def _database_error(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        return problem_response(
            422, "invalid_text", "A text value contains a character that cannot be stored (such as NUL)."
        )
    raise exc


async def _on_server_error(scope: Scope, status: int, exc: BaseException | None) -> None:
    # The built-in error report always; Sentry too when it is configured (kit/sentry.py).
    await record_server_error(scope["app"].state, scope, status, exc)
    if exc is not None:
        report_exception(exc)


class AppState(State):
    """The app's state, one object: what `create_app` knows, then what its lifespan opens (decision 0039).

    A Starlette `State` (attribute access over a dict), so `app.state` still reads as before; the
    annotations give the type checker every field. Lower layers read it through their own protocol
    (`kit_state`, `identity_state`, `sign_in_state`); the assignments below prove it satisfies each.
    """

    settings: Settings
    metrics: HttpMetrics | None
    labelled_routes: list[BaseRoute]
    mcp: MCPServer
    # Set by the lifespan:
    database: Database
    idempotency: IdempotencyStore
    authenticator: TokenAuthenticator
    browser_sessions: BrowserSessions
    session_store: SessionStore
    oidc: OIDCClient | None
    rate_limiter: RateLimiter
    # Set by the job runtime (worker_wiring.py `embedded`):
    jobs: Runtime
    job_metrics: JobMetrics


def _satisfies_every_layers_view(state: AppState) -> tuple[KitState, IdentityState, SignInState]:
    # Never called: the type checker proves here that `AppState` is what each layer's accessor casts to.
    return state, state, state


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for `settings` (read from the environment when omitted)."""
    settings = settings or Settings()
    settings.require_production_ready()
    for warning in settings.production_warnings():
        _log.warning("production_setting_warning", detail=warning)
    app_version = version("shipyard")
    configure_sentry(settings, release=app_version)
    metrics = (
        HttpMetrics(app_version, collectors=[BackupStateCollector(state_path(settings.data_dir))])
        if settings.metrics_enabled
        else None
    )

    state = AppState({"settings": settings, "metrics": metrics, "browser_sessions": CookieSessions()})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        database = create_database(settings)
        await database.open_direct_reads()
        state.database = database
        # One store for the requests and the jobs this process runs (its prune task).
        state.idempotency = IdempotencyStore.from_settings(database, settings)
        state.authenticator = TokenAuthenticator(
            database.reader,
            database.writer,
            ttl_s=settings.token_cache_ttl_s,
            last_used_resolution=timedelta(seconds=settings.token_last_used_resolution_s),
        )
        # Sign-in: the session store (database, or Valkey/Redis db0), the OIDC client, the rate limiter.
        state.session_store = create_session_store(settings, database)
        state.oidc = create_oidc_client(settings)
        state.rate_limiter = create_rate_limiter(settings)
        try:
            # Jobs stop (draining in-flight work) before the database they use is disposed of.
            async with state.mcp.session_manager.run(), job_runtime(app):
                yield
        finally:
            for resource in (state.rate_limiter, state.oidc, state.session_store):
                if resource is not None:
                    await resource.aclose()
            await database.dispose()

    def current_database() -> Database:
        return state.database

    def current_idempotency() -> IdempotencyStore:
        return state.idempotency

    app = FastAPI(
        title="Shipyard",
        version=app_version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # The problem handler redirects instead, with a relative Location (kit/routing.py `slash_twin`).
        redirect_slashes=False,
        # Shipyard exports Prometheus metrics and JSON logs, not OpenTelemetry. Left on, FastAPI's native
        # telemetry looked up the global OpenTelemetry providers (environment reads) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        middleware=[
            # Listed outermost first.
            *([Middleware(ProxyHeadersMiddleware)] if settings.trust_proxy_headers else []),
            Middleware(
                RequestContextMiddleware,
                metrics=metrics,
                access_log=settings.access_log,
                on_server_error=_on_server_error,
                # Authenticate, authorise, then validate: input refusals (413, 415, a malformed
                # Idempotency-Key) wait for the 401 or 403 the route owes the caller.
                gate=refuse_unauthorised,
            ),
            # After the request context (it needs the client address), before anything costly.
            Middleware(
                ApiRateLimitMiddleware,
                reads=ApiRatePolicy("reads", settings.api_rate_limit_reads, settings.api_rate_limit_window_s),
                writes=ApiRatePolicy("writes", settings.api_rate_limit_writes, settings.api_rate_limit_window_s),
            ),
            Middleware(BodyGuardMiddleware, max_body_bytes=settings.max_body_bytes, json_prefixes=(API_V1,)),
            Middleware(
                UnitOfWorkMiddleware,
                database=current_database,
                idempotency=current_idempotency,
                principal_key=principal_key,
                gate=refuse_unauthorised,
            ),
            # Innermost: it needs the routes, and the layers above must see the request's own method.
            Middleware(MethodSemanticsMiddleware),
        ],
    )
    # Stored once; code below the composition layer reads it through its layer's typed view.
    app.state = state
    install_problem_handlers(app, gate=refuse_unauthorised)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(DBAPIError, _database_error)
    # Matched in the order `domains.py` lists them: the busiest paths (the domain) come first.
    for router in API_ROUTERS:
        # Added flat, not with `include_router`: FastAPI 0.16x keeps an included router as one nested
        # route, so a request was matched against every earlier router's routes, then its own router's
        # twice (10% of a GET's CPU). Each router already carries its full prefix, tags and responses.
        app.router.routes.extend(router.routes)
    # Answers the unit of work gives without routing (idempotent replays) still get a route label.
    state.labelled_routes = [route for router in API_ROUTERS for route in router.routes]
    resolve_request_dependencies_first_everywhere(state.labelled_routes)
    for router in OTHER_ROUTERS:
        app.include_router(router)
    mount_mcp(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]  # FastAPI's documented override
    return app
