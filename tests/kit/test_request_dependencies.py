"""GET routes resolve their leading request-only dependencies without FastAPI's solver, with the same outcome."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.dependencies import utils as dependency_utils
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shipyard.kit.request_dependencies import (
    resolve_request_dependencies_first,
    resolve_request_dependencies_first_everywhere,
)

pytestmark = pytest.mark.database_independent


_CALLS: list[str] = []


async def _caller(request: Request) -> str:
    _CALLS.append("caller")
    if request.headers.get("authorization") != "yes":
        raise HTTPException(401, "who are you?")
    return "alice"


async def _session(request: Request) -> str:
    _CALLS.append("session")
    return f"session for {request.url.path}"


async def _paging(limit: Annotated[int, Query(le=10)] = 5) -> int:
    _CALLS.append("paging")
    return limit


Caller = Annotated[str, Depends(_caller)]
Session = Annotated[str, Depends(_session)]


@pytest.fixture(autouse=True)
def _forget_calls() -> None:
    _CALLS.clear()


def _app() -> tuple[FastAPI, APIRouter]:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str, who: Caller, db: Session, also: Caller) -> dict[str, Any]:
        return {"thing": thing_id, "who": who, "db": db, "also": also}

    @router.get("/things")
    async def list_things(
        who: Caller, db: Session, request: Request, limit: Annotated[int, Depends(_paging)], q: str = ""
    ) -> dict[str, Any]:
        return {"who": who, "db": db, "limit": limit, "q": q, "path": request.url.path}

    @router.post("/things")
    async def create_thing(who: Caller) -> dict[str, str]:
        return {"who": who}

    app = FastAPI()
    app.router.routes.extend(router.routes)
    return app, router


def _route(router: APIRouter, method: str, path: str) -> APIRoute:
    return next(
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ())
    )


def test_a_get_route_answers_as_before_without_solving_its_request_dependencies() -> None:
    app, router = _app()
    resolve_request_dependencies_first_everywhere(router.routes)
    solved: list[Any] = []
    solve = dependency_utils.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        solved.append(kwargs["dependant"].call)
        return await solve(**kwargs)

    # FastAPI's solver calls itself, by this module's name, once for each dependency it resolves.
    with pytest.MonkeyPatch.context() as patch, TestClient(app) as client:
        patch.setattr(dependency_utils, "solve_dependencies", counting)
        answer = client.get("/things/t1", headers={"authorization": "yes"})
    assert answer.status_code == 200
    assert answer.json() == {"thing": "t1", "who": "alice", "db": "session for /things/t1", "also": "alice"}
    assert solved == []
    # In the declared order, and a dependency named twice is awaited once (FastAPI's cache).
    assert _CALLS == ["caller", "session"]


def test_a_dependency_that_refuses_still_comes_before_the_parameters() -> None:
    app, router = _app()
    resolve_request_dependencies_first_everywhere(router.routes)
    with TestClient(app) as client:
        refused = client.get("/things", params={"limit": "99"})
        invalid = client.get("/things", params={"limit": "99"}, headers={"authorization": "yes"})
        listed = client.get("/things", params={"limit": "3", "q": "x"}, headers={"authorization": "yes"})
    assert refused.status_code == 401
    assert invalid.status_code == 422
    assert listed.json() == {"who": "alice", "db": "session for /things", "limit": 3, "q": "x", "path": "/things"}


def test_only_safe_routes_that_start_with_request_dependencies_change() -> None:
    app, router = _app()
    assert resolve_request_dependencies_first(_route(router, "GET", "/things/{thing_id}"))
    assert resolve_request_dependencies_first(_route(router, "GET", "/things"))
    # A body may be read before the dependencies run (a form's CSRF field): FastAPI keeps its order there.
    assert not resolve_request_dependencies_first(_route(router, "POST", "/things"))

    async def with_parameter(flag: bool = False) -> bool:
        return flag

    @app.get("/first-has-parameters")
    async def first_has_parameters(flag: Annotated[bool, Depends(with_parameter)]) -> bool:
        return flag

    # Included through the app: its dependency overrides may replace any dependency at run time.
    included = _route(app.router, "GET", "/first-has-parameters")
    assert not resolve_request_dependencies_first(included)
    included.dependency_overrides_provider = None
    assert not resolve_request_dependencies_first(included)


def test_the_declaration_stays_for_openapi_and_the_access_rule() -> None:
    app, router = _app()
    before = app.openapi()
    route = _route(router, "GET", "/things/{thing_id}")
    declared = route.dependant
    app.openapi_schema = None
    resolve_request_dependencies_first_everywhere(router.routes)
    assert route.dependant is declared
    assert [dependency.name for dependency in declared.dependencies] == ["who", "db", "also"]
    assert app.openapi() == before
