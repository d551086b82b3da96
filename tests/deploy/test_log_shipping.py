"""Alloy's pipeline against the lines Shipyard really writes: the JSON names it parses, the labels it sets.

Neither Alloy nor Loki installs here, so their configurations are not run; this checks what can be
checked without them (docs/operations/monitoring.md, "Logs").
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml

from shipyard.backup.operations import audit_quietly
from shipyard.settings import Settings
from tests.deploy.monitoring_files import MONITORING
from tests.fixtures.log_capture import production_logs
from tests.fixtures.tenants import Tenant

ALLOY = MONITORING / "config.alloy"
LOKI = MONITORING / "loki.yml"
LOW_CARDINALITY_LABELS = {"host", "service", "level"}
# Go's RFC3339Nano, which `stage.timestamp` is told the line's time is in.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
# Nothing listens on port 1: the audit write fails at once, as it does when the database is down.
UNREACHABLE_DATABASE = "postgresql+asyncpg://shipyard@127.0.0.1:1/shipyard"


def _block(name: str, text: str) -> str:
    """The body of the first `name { ... }` block (braces balanced) in Alloy's configuration."""
    start = text.index(name + " {") + len(name) + 2
    depth, position = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        position += 1
    return text[start : position - 1]


def _pairs(body: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', body))


def _alloy() -> str:
    # Comments out: they quote names that are not configuration.
    return "\n".join(line.split("//", 1)[0] for line in ALLOY.read_text().splitlines())


def _real_lines(logs: Any) -> list[dict[str, Any]]:
    return [line for line in logs.lines() if isinstance(line, dict)]


async def test_every_field_alloy_parses_is_one_shipyard_writes(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    with production_logs() as logs:
        response = await client.get("/api/v1/customers", headers={**tenant.headers, "X-Request-ID": "req-alloy-1"})
        assert response.status_code == 200
        # The line that carries `action`: an audit event the database could not take.
        await asyncio.to_thread(audit_quietly, settings, "backup.created", "failure", {}, url=UNREACHABLE_DATABASE)
    lines = _real_lines(logs)
    written = {key for line in lines for key in line}
    expressions = _pairs(_block("expressions =", _block("stage.json", _alloy())))
    assert set(expressions.values()) <= written, set(expressions.values()) - written

    [access] = [line for line in lines if line.get("request_id") == "req-alloy-1"]
    for field in ("request_id", "user_id", "result", "level", "timestamp", "event", "logger"):
        assert access.get(field) is not None, field
    assert access["user_id"] == tenant.user_id
    [audit_failed] = [line for line in lines if line.get("event") == "audit_failed"]
    assert audit_failed["action"] == "backup.created"
    for line in lines:
        assert RFC3339.match(line["timestamp"]), line["timestamp"]
        datetime.fromisoformat(line["timestamp"])


@pytest.mark.database_independent
def test_alloy_sets_only_low_cardinality_labels() -> None:
    alloy = _alloy()
    from_line = set(_pairs(_block("stage.labels", alloy)))
    relabelled = set(re.findall(r'target_label\s*=\s*"(\w+)"', _block('discovery.relabel "shipyard_units"', alloy)))
    assert from_line | relabelled == LOW_CARDINALITY_LABELS
    # The high-cardinality fields stay queryable as structured metadata, never as labels.
    metadata = set(_pairs(_block("stage.structured_metadata", alloy)))
    assert {"request_id", "user_id", "action", "result"} <= metadata
    assert not metadata & from_line
    assert 'url = sys.env("LOKI_URL")' in alloy


@pytest.mark.database_independent
def test_loki_accepts_structured_metadata_and_keeps_a_bounded_history() -> None:
    loki = yaml.safe_load(LOKI.read_text())
    limits = loki["limits_config"]
    assert limits["allow_structured_metadata"] is True
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"
    assert loki["schema_config"]["configs"][-1]["store"] == "tsdb"
    assert limits["retention_period"]
    assert loki["compactor"]["retention_enabled"] is True
