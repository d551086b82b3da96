"""Every `APIRouter` in `src/shipyard` reaches the app (issue 11).

Routes are added to the app flat, one router after another (`app.py`), so nothing fails when a new
module's router is never added: its routes would simply answer 404. This test finds every router a
module defines at its top level and checks each of its routes is one of the app's.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from shipyard.app import create_app
from shipyard.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.database_independent

SRC = Path(__file__).resolve().parents[2] / "src"


def defined_routers(root: Path, package: str) -> Iterator[tuple[str, APIRouter]]:
    """(module:name, router) for every module-level `name = APIRouter(...)` under `root/package`."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "APIRouter"
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        ]
        if not names:
            continue
        module_name = ".".join(path.relative_to(root).with_suffix("").parts)
        module = importlib.import_module(module_name)
        for name in names:
            yield f"{module_name}:{name}", getattr(module, name)


def served_routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes, with those of routers added by `include_router` (FastAPI 0.16x nests them)."""
    for route in routes:
        nested: APIRouter | None = getattr(route, "original_router", None)
        yield from served_routes(nested.routes) if nested is not None else (route,)


def _key(route: BaseRoute) -> tuple[object, object]:
    return getattr(route, "path", None), getattr(route, "endpoint", None)


def unregistered(app: FastAPI, routers: Iterator[tuple[str, APIRouter]]) -> list[str]:
    """The routers with no route, or with a route the app does not serve (same path, same endpoint)."""
    served = {_key(route) for route in served_routes(app.routes)}
    return [
        where
        for where, router in routers
        if not router.routes or any(_key(route) not in served for route in router.routes)
    ]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings.model_validate({"env": "test"}))


def test_every_router_in_the_package_is_added_to_the_app(app: FastAPI) -> None:
    found = list(defined_routers(SRC, "shipyard"))
    assert len(found) >= 10, "the search found too few routers to be looking in the right place"
    assert unregistered(app, iter(found)) == []


def test_a_router_that_is_never_added_fails(app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "forgotten_domain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "endpoints.py").write_text(
        "from fastapi import APIRouter\n\n"
        "router = APIRouter(prefix='/api/v1/forgotten')\n\n\n"
        "@router.get('')\nasync def list_forgotten() -> list[str]:\n    return []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert unregistered(app, defined_routers(tmp_path, "forgotten_domain")) == ["forgotten_domain.endpoints:router"]


def test_a_router_added_only_in_part_fails(app: FastAPI) -> None:
    partial = APIRouter()

    @partial.get("/api/v1/not-served")
    async def not_served() -> None:
        return None

    served_route = next(route for route in app.routes if getattr(route, "path", "") == "/api/v1/customers")
    partial.routes.append(served_route)
    assert unregistered(app, iter([("partial", partial)])) == ["partial"]
    assert unregistered(app, iter([("served", APIRouter(routes=[served_route]))])) == []
