"""GET routes resolve their request-only dependencies once per request in one call, not through FastAPI's solver.

FastAPI resolves every dependency by calling its solver again for it: the dependency's own (empty)
path, query, header and cookie parameters are looked at, its cache key, generator and coroutine
checks are recomputed, on every request. For the dependencies almost every route starts with (the
caller and its scopes, the database session), which take the request and nothing else, that was a
tenth of a GET by ID's CPU (decision 0063).

`resolve_request_dependencies_first` gives a route a handler that awaits the leading run of such
dependencies itself, in the order the route declares them, and then runs FastAPI's own handler on a
copy of the route's dependant without them; the endpoint gets the values it always got. Only safe
methods qualify: with no body, FastAPI itself resolves the dependencies first, so nothing (a
refusal, a validation error) can happen in another order. `route.dependant` stays as it is, so the
OpenAPI document and the access rule (identity/auth.py `refuse_unauthorised`) read the same
declaration. A route that reads the app's dependency overrides (one the app included) is left to FastAPI.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute, request_response

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi.dependencies.models import Dependant
    from starlette.requests import Request
    from starlette.responses import Response

_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Where the handler leaves the values it resolved for the endpoint's wrapper (one request's scope).
_RESOLVED_KEY = "shipyard.resolved_dependencies"
# The request, for a wrapped endpoint that does not take it itself.
_REQUEST_PARAM = "_shipyard_request"


def _takes_only_the_request(dependency: Dependant) -> bool:
    """A coroutine dependency whose one parameter is the request: nothing FastAPI validates or caches by scope."""
    call = dependency.call
    if call is None or dependency.name is None or dependency.request_param_name is None:
        return False
    coroutine = call if inspect.isfunction(call) else getattr(call, "__call__", None)  # noqa: B004 - instances too
    return (
        inspect.iscoroutinefunction(coroutine)
        and not inspect.isasyncgenfunction(coroutine)
        and not (
            dependency.path_params
            or dependency.query_params
            or dependency.header_params
            or dependency.cookie_params
            or dependency.body_params
            or dependency.dependencies
            or dependency.own_oauth_scopes
            or dependency.parent_oauth_scopes
        )
        and dependency.websocket_param_name is None
        and dependency.http_connection_param_name is None
        and dependency.response_param_name is None
        and dependency.background_tasks_param_name is None
        and dependency.security_scopes_param_name is None
        and dependency.scope is None
        and dependency.concurrency is None
    )


def _leading_request_only(dependant: Dependant) -> list[Dependant]:
    leading: list[Dependant] = []
    for dependency in dependant.dependencies:
        if not _takes_only_the_request(dependency):
            break
        leading.append(dependency)
    return leading


def resolve_request_dependencies_first(route: APIRoute) -> bool:
    """Give a safe-method route the faster handler when it starts with request-only dependencies; True if it did."""
    endpoint = route.dependant.call
    if (
        not route.methods
        or not route.methods <= _SAFE_METHODS
        or route.body_field is not None
        or route.dependency_overrides_provider is not None
        or route.max_body_size is not None
        or not inspect.iscoroutinefunction(endpoint)
    ):
        return False
    leading = _leading_request_only(route.dependant)
    if not leading:
        return False
    request_param = route.dependant.request_param_name or _REQUEST_PARAM
    # The same call twice (a scope demanded by two aliases) is awaited once, as FastAPI's cache does.
    calls: dict[Callable[..., Any], list[str]] = {}
    for dependency in leading:
        calls.setdefault(dependency.call, []).append(dependency.name)  # type: ignore[arg-type]  # both checked above
    resolvers = tuple((call, tuple(names)) for call, names in calls.items())
    keeps_request = route.dependant.request_param_name is not None

    @functools.wraps(endpoint)
    async def endpoint_with_resolved(**values: Any) -> Any:  # noqa: ANN401 - whatever the endpoint takes and returns
        request: Request = values[request_param] if keeps_request else values.pop(request_param)
        values.update(request.scope.pop(_RESOLVED_KEY))
        return await endpoint(**values)

    rest = dataclasses.replace(
        route.dependant,
        call=endpoint_with_resolved,
        dependencies=route.dependant.dependencies[len(leading) :],
        request_param_name=request_param,
    )
    # A shallow copy builds FastAPI's handler for the rest with every other setting of the route.
    copy = object.__new__(type(route))
    copy.__dict__.update(route.__dict__)
    copy.dependant = rest
    handle_rest = copy.get_route_handler()

    async def handler(request: Request) -> Response:
        resolved: dict[str, Any] = {}
        for call, names in resolvers:
            value = await call(request)
            for name in names:
                resolved[name] = value
        request.scope[_RESOLVED_KEY] = resolved
        return await handle_rest(request)

    route.app = request_response(handler)
    return True


def resolve_request_dependencies_first_everywhere(routes: list[Any]) -> None:
    """`resolve_request_dependencies_first` for every FastAPI route in `routes` (others are left alone)."""
    for route in routes:
        if isinstance(route, APIRoute):
            resolve_request_dependencies_first(route)
