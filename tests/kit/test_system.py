"""Operational routes: liveness, readiness and the self-hosted API docs."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.fixtures.apps import dead_postgres_url, dead_sqlite_url, running_app, settings_for
from tests.fixtures.servers import RedisServer, free_port

PROBLEM = "application/problem+json"


@pytest.fixture(params=["postgres", "sqlite"])
def dead_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL that cannot be opened: a closed PostgreSQL port, or SQLite in a missing directory."""
    return dead_postgres_url() if request.param == "postgres" else dead_sqlite_url(tmp_path)


def _created_beside_the_database(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.rglob("*") if "unopenable" in path.parts)


@pytest.mark.parametrize("path", ["/health", "/healthz"])
async def test_liveness_is_200_while_the_database_is_down(path: str, dead_database_url: str, tmp_path: Path) -> None:
    async with running_app(settings_for(tmp_path, database_url=dead_database_url)) as (_, client):
        response = await client.get(path)
        head = await client.head(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert head.status_code == 200
    # Liveness touched no database: on SQLite, nothing was created beside the unopenable file.
    assert _created_beside_the_database(tmp_path) in ([], ["shipyard.db", "unopenable"])


async def test_ready_is_200_with_a_working_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_ready_is_503_problem_when_the_database_is_down(dead_database_url: str, tmp_path: Path) -> None:
    async with running_app(settings_for(tmp_path, database_url=dead_database_url)) as (_, client):
        response = await client.get("/ready", headers={"X-Request-ID": "ready-check-1"})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"]
    body = response.json()
    assert body["code"] == "dependency_unavailable"
    assert body["status"] == 503
    assert body["failing"] == ["database"]
    assert body["request_id"] == "ready-check-1"
    # The problem names the dependency, never its address or credentials.
    assert "127.0.0.1" not in response.text
    assert "pw" not in body["detail"]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server on loopback."""
    with RedisServer() as server:
        yield server


async def test_ready_checks_redis_when_configured(
    redis_server: RedisServer, tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    up = settings_for(tmp_path, database_url=database_urls[0], redis_url=redis_server.url())
    async with running_app(up) as (_, client):
        assert (await client.get("/ready")).status_code == 200
    down = settings_for(tmp_path, database_url=database_urls[0], redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with running_app(down) as (_, client):
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


class _Page(HTMLParser):
    """Collects what a browser would load from an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[tuple[str, str]] = []  # (tag, URL)
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attribute in ("src", "href"):
            if values.get(attribute):
                self.assets.append((tag, str(values[attribute])))
        self._in_script = tag == "script"
        if tag == "script" and not values.get("src"):
            self.inline_scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


EXPECTED_TYPES = {".css": "text/css", ".js": "javascript", ".png": "image/png"}


async def test_docs_load_only_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    page = _Page()
    page.feed(html)
    assert page.inline_scripts == []
    assert {tag for tag, _ in page.assets} >= {"script", "link"}
    for _, url in page.assets:
        assert url.startswith("/static/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url).suffix
        assert EXPECTED_TYPES[suffix] in asset.headers["content-type"], url
        assert len(asset.content) > 0


async def test_docs_use_a_swagger_ui_that_renders_openapi_3_1(client: httpx.AsyncClient) -> None:
    # Swagger UI 4 refuses any spec whose version is not 3.0.n ("Unable to render this definition");
    # 5.x has an OpenAPI 3.1 plugin.
    bundle = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1.")
    assert "isOAS31" in bundle.text


async def test_docs_page_forbids_third_party_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
        if directive.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    init = await client.get("/static/docs-init.js")
    # Swagger UI's default validator badge would send the spec's URL to a third party.
    assert "validatorUrl: null" in init.text
    assert 'url: "/openapi.json"' in init.text


async def test_static_files_do_not_expose_the_source_tree(client: httpx.AsyncClient) -> None:
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/../settings.py"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Settings" not in response.text
