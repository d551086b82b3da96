"""Every dashboard panel has data: a real Prometheus scrapes a running Shipyard and its exporters.

The web app serves `/metrics` over HTTP on loopback, a `shipyard worker` process delivers webhooks and
serves its own metrics, and the node, PostgreSQL and Redis exporters watch this machine and the test's
servers. The test signs people in (and refuses a forged callback), makes API calls that succeed and
fail, delivers a webhook, then asks Prometheus for every panel's query, as Grafana would send it.
Needs PostgreSQL's exporter, so it runs in the PostgreSQL pass only.
"""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from shipyard.app import create_app
from shipyard.events import service as event_service
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.models import Role
from shipyard.settings import Settings
from tests.deploy.grafana_files import panel_queries
from tests.deploy.monitoring_files import PROMETHEUS_YML, load
from tests.fixtures.binaries import require_binary
from tests.fixtures.jobs import fast
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.mcp import OPERATOR_ORG, mcp_session
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.prometheus import daemon, instant_query
from tests.fixtures.receiver import Receiver
from tests.fixtures.servers import LOOPBACK, PostgresServer, RedisServer, free_port
from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    CALLBACK_URL,
    new_browser,
    oidc_provider,
    query_of,
    signin_redis_server,
    signin_settings_for,
)
from tests.fixtures.tenants import create_tenant
from tests.fixtures.workers import processes, start

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]
DEADLINE_S = 60.0
# Panels that cannot have data on a test machine, each with the reason (docs/operations/monitoring.md).
NO_DATA_HERE: dict[tuple[str, str], str] = {}


def _prometheus_config(targets: dict[str, str]) -> dict[str, Any]:
    """The deploy file's jobs and relabelling, pointed at this test's processes, scraping every second."""
    config = load(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = []
    config.pop("alerting")
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            role = job["static_configs"][0]["labels"]["role"]
            job["static_configs"] = [{"targets": [targets[job["job_name"]]], "labels": {"role": role}}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


@asynccontextmanager
async def _serving(app: FastAPI, port: int) -> AsyncIterator[None]:
    """`app` over HTTP on loopback (its lifespan runs separately), as Prometheus needs to scrape it."""
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped"
            await asyncio.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        await task


def _exporters(stack: ExitStack, tmp_path: Path, postgres: PostgresServer, redis: RedisServer) -> dict[str, str]:
    ports = {"node": free_port(), "postgres": free_port(), "redis": free_port()}
    node = require_binary("prometheus-node-exporter", "prometheus-node-exporter")
    pg = require_binary("prometheus-postgres-exporter", "prometheus-postgres-exporter")
    rd = require_binary("prometheus-redis-exporter", "prometheus-redis-exporter")
    dsn = f"postgresql://{postgres.superuser}@{LOOPBACK}:{postgres.port}/postgres?sslmode=disable"
    argv = {
        "node": ([node, f"--web.listen-address={LOOPBACK}:{ports['node']}"], None),
        "postgres": ([pg, f"--web.listen-address={LOOPBACK}:{ports['postgres']}"], {"DATA_SOURCE_NAME": dsn}),
        "redis": (
            [rd, f"--redis.addr=redis://{LOOPBACK}:{redis.port}", f"--web.listen-address={LOOPBACK}:{ports['redis']}"],
            {},
        ),
    }
    for name, (command, env) in argv.items():
        ready = f"http://{LOOPBACK}:{ports[name]}/metrics"
        stack.enter_context(daemon(command, tmp_path / f"{name}-exporter.log", ready, env=env))
    return {name: f"{LOOPBACK}:{port}" for name, port in ports.items()}


async def _drive_traffic(app: FastAPI, receiver: Receiver) -> None:
    """Sign-ins that work and fail, API calls that succeed and are refused, and a webhook to deliver."""
    browser = new_browser(app)
    try:
        assert (await browser.sign_in("alice")).status_code == 303
        callback = await browser.authorize("alice")
        forged = f"{CALLBACK_URL}?{urlencode({**query_of(callback), 'state': secrets.token_urlsafe(32)})}"
        assert (await browser.callback(forged)).status_code == 400
    finally:
        await browser.aclose()
    tenant = await create_tenant(app, "Acme", "acme")
    http = new_browser(app).http
    async with http:
        created = await http.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        assert (await http.get("/api/v1/customers", headers=tenant.headers)).status_code == 200
        assert (await http.get("/api/v1/customers")).status_code == 401
        assert (await http.get("/api/v1/no-such-thing", headers=tenant.headers)).status_code == 404
    owner = Principal(tenant.organization_id, tenant.user_id, Role.OWNER, ROLE_SCOPES[Role.OWNER])
    async with app.state.database.writer() as session:
        await event_service.emit(session, owner, "customer.updated", {"n": 1})
        await session.commit()


async def _empty_and_broken(base_url: str) -> tuple[list[str], list[str]]:
    empty, broken = [], []
    for uid, title, expr in panel_queries():
        answer = await instant_query(base_url, expr)
        if answer["status"] != "success":
            broken.append(f"{uid} / {title}: {answer.get('error')}")
        elif not answer["data"]["result"] and (uid, title) not in NO_DATA_HERE:
            empty.append(f"{uid} / {title}: {expr}")
    return empty, broken


@dataclass(frozen=True)
class LiveMonitoring:
    """The running app, its address, and the Prometheus that scrapes it and the exporters."""

    app: FastAPI
    web_url: str
    prometheus_url: str


@asynccontextmanager
async def _live_monitoring(
    settings: Settings, postgres: PostgresServer, redis: RedisServer, tmp_path: Path
) -> AsyncIterator[LiveMonitoring]:
    """Shipyard (web over HTTP, one worker), the exporters and Prometheus, after some traffic was served."""
    prometheus = require_binary("prometheus", "prometheus")
    web_port, worker_port, prometheus_port = free_port(), free_port(), free_port()
    prometheus_url = f"http://{LOOPBACK}:{prometheus_port}"
    s = settings.model_copy(update={"worker_metrics_port": worker_port, "prometheus_url": prometheus_url})
    with ExitStack() as stack:
        targets = _exporters(stack, tmp_path, postgres, redis)
        targets |= {"shipyard-web": f"{LOOPBACK}:{web_port}", "shipyard-worker": f"{LOOPBACK}:{worker_port}"}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(_prometheus_config(targets)))
        argv = [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address={LOOPBACK}:{prometheus_port}",
        ]
        app = create_app(s)
        async with Receiver() as receiver, running_lifespan(app), _serving(app, web_port):
            with (
                processes(s, tmp_path) as workers,
                daemon(argv, tmp_path / "prometheus.log", f"{prometheus_url}/-/ready"),
            ):
                await start(workers, "worker", s, tmp_path)
                await _drive_traffic(app, receiver)
                await receiver.wait_for(1, timeout=DEADLINE_S)
                yield LiveMonitoring(app, f"http://{LOOPBACK}:{web_port}", prometheus_url)


@pytest.fixture
def live_settings(settings: Settings, oidc_provider: OidcProvider, signin_redis_server: RedisServer) -> Settings:
    """Sign-in against the test provider, sessions in Redis, jobs in a worker process, `ops` the operator."""
    return fast(
        signin_settings_for(settings, oidc_provider, redis_url=signin_redis_server.url(0)),
        jobs_embedded=False,
        operator_org=OPERATOR_ORG,
    )


async def test_every_panel_of_every_dashboard_has_data(
    live_settings: Settings, postgres_server: PostgresServer, signin_redis_server: RedisServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    async with _live_monitoring(live_settings, postgres_server, signin_redis_server, tmp_path) as live:
        while True:
            empty, broken = await _empty_and_broken(live.prometheus_url)
            if (not empty and not broken) or time.monotonic() - started > DEADLINE_S:
                break
            await asyncio.sleep(1)
    assert broken == []
    assert empty == []
    assert time.monotonic() - started < DEADLINE_S


async def test_the_promql_tool_answers_an_operator_from_the_live_prometheus(
    live_settings: Settings, postgres_server: PostgresServer, signin_redis_server: RedisServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    async with _live_monitoring(live_settings, postgres_server, signin_redis_server, tmp_path) as live:
        operator = await create_tenant(live.app, "Operations", OPERATOR_ORG)
        customer = await create_tenant(live.app, "Globex", "globex")
        by_result = "sum by (result) (shipyard_sign_ins_total)"
        async with mcp_session(live.web_url, operator.token) as session:
            while True:
                instant = await session.call_tool("query_metrics", {"query": by_result})
                assert instant.is_error is False, instant.content
                assert instant.structured_content is not None
                if len(instant.structured_content["series"]) == 2 or time.monotonic() - started > DEADLINE_S:
                    break
                await asyncio.sleep(1)
            ranged = await session.call_tool(
                "query_metrics", {"query": 'shipyard_build_info{job="shipyard-web"}', "range_minutes": 5, "step_s": 15}
            )
            broken = await session.call_tool("query_metrics", {"query": "sum(shipyard_build_info"})
        async with mcp_session(live.web_url, customer.token) as session:
            foreign = await session.call_tool("query_metrics", {"query": by_result})
    answer = instant.structured_content
    assert answer["kind"] == "instant"
    assert answer["result_type"] == "vector"
    assert {series["labels"]["result"]: float(series["points"][0][1]) for series in answer["series"]} == {
        "success": 1.0,
        "failure": 1.0,
    }
    assert answer["truncated"] is False
    assert ranged.structured_content is not None
    assert ranged.structured_content["result_type"] == "matrix"
    (build,) = ranged.structured_content["series"]
    assert build["labels"]["job"] == "shipyard-web"
    assert build["labels"]["version"]
    assert {value for _, value in build["points"]} == {"1"}
    assert broken.is_error is True
    assert "Prometheus refused the query: bad_data" in broken.content[0].text  # type: ignore[union-attr]
    assert foreign.is_error is True
    assert "operator organisation" in foreign.content[0].text  # type: ignore[union-attr]
    assert time.monotonic() - started < DEADLINE_S
