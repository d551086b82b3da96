"""`/metrics`: request durations by route template, bounded label sets, and gunicorn multiprocess mode."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.fixtures.apps import running_app, settings_for
from tests.fixtures.servers import LOOPBACK, free_port
from tests.fixtures.tenants import Tenant

DURATION = "http_request_duration_seconds"


def _samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _count(samples: list[Sample], **labels: str) -> float:
    """Requests counted by the duration histogram whose labels include `labels`."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == f"{DURATION}_count" and labels.items() <= sample.labels.items()
    )


def _routes(samples: list[Sample]) -> set[str]:
    return {sample.labels["route"] for sample in samples if sample.name.startswith(DURATION)}


async def _scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_durations_are_labelled_by_route_template(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    for _ in range(3):
        assert (await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)).status_code == 200
    assert (await client.get("/api/v1/customers/cus_missing", headers=tenant.headers)).status_code == 404
    samples = await _scrape(client)
    item = "/api/v1/customers/{customer_id}"
    assert _count(samples, method="GET", route=item, status="200") == 3
    assert _count(samples, method="GET", route=item, status="404") == 1
    assert _count(samples, method="POST", route="/api/v1/customers", status="201") == 1
    assert not [route for route in _routes(samples) if customer_id in route or "cus_missing" in route]
    buckets = [s for s in samples if s.name == f"{DURATION}_bucket" and s.labels.get("route") == item]
    assert buckets, "the histogram has buckets"


async def test_unmatched_paths_add_no_route_series(client: httpx.AsyncClient) -> None:
    before = _routes(await _scrape(client))
    paths = [
        f"/{secrets.token_hex(4)}/{secrets.token_urlsafe(6)}",
        f"/api/v1/{secrets.token_hex(5)}",
        f"/static/{secrets.token_hex(6)}.js",
        f"/api/v1/customers/{secrets.token_hex(3)}/{secrets.token_hex(3)}/x",
        f"/.env.{secrets.token_hex(2)}",
    ] * 10
    for index, path in enumerate(paths):
        method = "GET" if index % 2 else "POST"
        response = await client.request(method, path)
        # 405 for a POST under /static (the mount matches, its files are read-only).
        assert response.status_code in {404, 405}, path
    samples = await _scrape(client)
    # Only the fixed label for unmatched paths is new (and /metrics itself, scraped above).
    assert _routes(samples) - before <= {"<unmatched>", "/metrics"}
    assert "<unmatched>" in _routes(samples)
    assert _count(samples, route="<unmatched>") == 50


async def test_in_flight_gauge_and_build_info_are_exposed(client: httpx.AsyncClient) -> None:
    samples = await _scrape(client)
    in_flight = [s for s in samples if s.name == "http_requests_in_flight"]
    # The scrape itself is in flight while /metrics renders.
    assert [s.value for s in in_flight] == [1.0]
    build = [s for s in samples if s.name == "shipyard_build_info"]
    assert len(build) == 1
    assert build[0].value == 1.0
    assert build[0].labels["version"]


async def test_metrics_off_means_no_metrics_route(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    async with running_app(settings_for(tmp_path, database_url=database_urls[0], metrics_enabled=False)) as (_, c):
        response = await c.get("/metrics")
        health = await c.get("/health")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert health.status_code == 200


async def test_metrics_answer_only_on_their_own_listener(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    settings = settings_for(tmp_path, database_url=database_urls[0], metrics_listen_port=9100)
    async with running_app(settings) as (application, _):
        transport = httpx.ASGITransport(app=application)
        # The ASGI server reports the local address a request arrived on; the test client takes it from the URL.
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://web:8000") as public,
            httpx.AsyncClient(transport=transport, base_url="http://web:9100") as scraper,
        ):
            assert (await public.get("/health")).status_code == 200
            hidden = await public.get("/metrics", headers={"Host": "web:9100"})
            unknown = await public.get(f"/{secrets.token_hex(4)}")
            scraped = await scraper.get("/metrics")
    assert hidden.status_code == 404
    # Indistinguishable from any path that does not exist.
    assert (hidden.json()["code"], hidden.json()["detail"]) == (unknown.json()["code"], unknown.json()["detail"])
    assert scraped.status_code == 200
    assert _count(_samples(scraped.text), route="/health") == 1


# --- gunicorn with 2 workers, metrics merged across processes ----------------------------------------


class Gunicorn:
    """`gunicorn -k uvicorn_worker.UvicornWorker -w 2` serving shipyard.asgi:app on loopback."""

    def __init__(self, env: dict[str, str], cwd: Path, extra_ports: tuple[int, ...] = ()) -> None:
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.log = cwd / "gunicorn.log"
        argv = [
            str(Path(sys.executable).parent / "gunicorn"),
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            "2",
            "-b",
            f"{LOOPBACK}:{self.port}",
            *(argument for port in extra_ports for argument in ("-b", f"{LOOPBACK}:{port}")),
            "--no-control-socket",
            "shipyard.asgi:app",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        pytest.fail(f"gunicorn not ready after {timeout_s}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _gunicorn_env(tmp_path: Path, database_url: str, metrics_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "GUNICORN", "PROMETHEUS"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "SHIPYARD_ENV": "test",
            "SHIPYARD_DATABASE_URL": database_url,
            "SHIPYARD_DATA_DIR": str(tmp_path),
            "SHIPYARD_LOG_FORMAT": "json",
            "SHIPYARD_LOG_LEVEL": "WARNING",
        }
    )
    return env


@pytest.fixture
def gunicorn(tmp_path: Path, database_urls: tuple[str, str]) -> Iterator[tuple[Gunicorn, Path]]:
    """Two uvicorn workers under gunicorn, sharing a fresh PROMETHEUS_MULTIPROC_DIR."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    server = Gunicorn(_gunicorn_env(tmp_path, database_urls[0], metrics_dir), tmp_path)
    try:
        server.wait_ready()
        yield server, metrics_dir
    finally:
        server.stop()


def _hit(url: str) -> int:
    # A new connection per request, so the kernel spreads them over both workers' accept() calls.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as http:
        return http.get(url).status_code


@pytest.mark.slow
def test_metrics_sum_requests_across_gunicorn_workers(gunicorn: tuple[Gunicorn, Path]) -> None:
    server, metrics_dir = gunicorn
    sent = 0
    # Keep sending until both workers have served some (each writes its own histogram file).
    for _ in range(20):
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(_hit, [f"{server.base_url}/healthz"] * 20))
        assert statuses == [200] * 20
        sent += len(statuses)
        if len(list(metrics_dir.glob("histogram_*.db"))) >= 2:
            break
    assert len(list(metrics_dir.glob("histogram_*.db"))) >= 2, "both workers served requests"
    # A worker records a request just after sending its response: allow it a moment to do so.
    deadline = time.monotonic() + 10
    while True:
        samples = _samples(httpx.get(f"{server.base_url}/metrics", timeout=10).text)
        counted = _count(samples, method="GET", route="/healthz", status="200")
        if counted >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Whichever worker answered the scrape, it reports the total of both.
    assert counted == sent
    assert [s.value for s in samples if s.name == "shipyard_build_info"] == [1.0]
    assert [s.name for s in samples if s.name == "http_requests_in_flight"] == ["http_requests_in_flight"]


@pytest.mark.slow
def test_gunicorn_serves_metrics_on_the_second_listener_only(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    # compose.yaml's web service: the tunnel and Caddy reach the first port, Prometheus the second.
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    metrics_port = free_port()
    env = {**_gunicorn_env(tmp_path, database_urls[0], metrics_dir), "SHIPYARD_METRICS_LISTEN_PORT": str(metrics_port)}
    server = Gunicorn(env, tmp_path, extra_ports=(metrics_port,))
    try:
        server.wait_ready()
        assert _hit(f"{server.base_url}/healthz") == 200
        assert _hit(f"{server.base_url}/metrics") == 404
        scraped = httpx.get(f"http://{LOOPBACK}:{metrics_port}/metrics", timeout=10)
    finally:
        server.stop()
    assert scraped.status_code == 200
    assert _count(_samples(scraped.text), route="/healthz") == 1
