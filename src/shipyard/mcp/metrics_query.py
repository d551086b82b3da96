"""The `query_metrics` tool's work: a bounded PromQL query against the configured Prometheus.

Bounds (docs/decisions/0027): a range of at most `MAX_RANGE_S`, a step of at least `MIN_STEP_S` and
at most `MAX_POINTS` points per series, at most `MAX_SERIES` series returned (the rest is reported as
truncated), and `QUERY_TIMEOUT_S` for Prometheus to answer (also sent as its own `timeout`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx2
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from shipyard.mcp.promql import QueryRefused, check_and_scope
from shipyard.mcp.schemas import Answer

MAX_RANGE_S = 24 * 3600
MIN_STEP_S = 15
MAX_POINTS = 500
MAX_SERIES = 50
QUERY_TIMEOUT_S = 10.0
# Shipyard's metrics that carry the organisation: none today (a per-organisation label would multiply
# every series by the number of tenants). A metric that gains one is added here, and then a token of
# any organisation may query it, scoped to its own organisation.
ORGANIZATION_LABELLED: frozenset[str] = frozenset()


class Series(BaseModel):
    """One series of the answer: its labels and its (unix time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, str]] = Field(description="(unix seconds, value as Prometheus writes it)")


class MetricsQuery(Answer):
    """The answer to a PromQL query."""

    query: str = Field(description="The query as sent to Prometheus (with the organisation matcher, if any).")
    kind: Literal["instant", "range"]
    result_type: str = Field(description="Prometheus's resultType: vector, matrix or scalar.")
    series: list[Series]
    truncated: bool = Field(description=f"More than {MAX_SERIES} series matched; only the first are returned.")

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"{len(self.series)} series for {self.query}{' (truncated)' if self.truncated else ''}:"]
        for series in self.series:
            labels = ", ".join(f"{key}={value}" for key, value in sorted(series.labels.items()))
            last = series.points[-1][1] if series.points else "-"
            lines.append(f"- {{{labels}}} latest {last} ({len(series.points)} point(s))")
        return "\n".join(lines)


def _window(range_minutes: int, step_s: int, now: datetime) -> dict[str, str]:
    if range_minutes * 60 > MAX_RANGE_S:
        msg = f"range_minutes may be at most {MAX_RANGE_S // 60}."
        raise ToolError(msg)
    if step_s < MIN_STEP_S:
        msg = f"step_s must be at least {MIN_STEP_S} (the scrape interval)."
        raise ToolError(msg)
    if range_minutes * 60 // step_s > MAX_POINTS:
        msg = f"range_minutes * 60 / step_s must be at most {MAX_POINTS} points; raise step_s."
        raise ToolError(msg)
    start = now - timedelta(minutes=range_minutes)
    return {"start": f"{start.timestamp():.3f}", "end": f"{now.timestamp():.3f}", "step": f"{step_s}s"}


def _series(data: dict[str, Any]) -> list[Series]:
    result_type = data["resultType"]
    if result_type == "scalar":
        return [Series(labels={}, points=[(float(data["result"][0]), str(data["result"][1]))])]
    found = []
    for item in data["result"]:
        points = item.get("values") or ([item["value"]] if "value" in item else [])
        found.append(Series(labels=item["metric"], points=[(float(at), str(value)) for at, value in points]))
    return found


async def run_query(
    prometheus_url: str | None,
    query: str,
    *,
    organization_id: str | None,
    range_minutes: int | None,
    step_s: int,
    now: datetime | None = None,
) -> MetricsQuery:
    """Check, scope and run `query`; instant unless `range_minutes` is given."""
    if not prometheus_url:
        msg = "No Prometheus is configured for this deployment (SHIPYARD_PROMETHEUS_URL is not set)."
        raise ToolError(msg)
    try:
        scoped = check_and_scope(query, organization_id, ORGANIZATION_LABELLED)
    except QueryRefused as exc:
        raise ToolError(str(exc)) from exc
    params = {"query": scoped, "timeout": f"{QUERY_TIMEOUT_S:g}s"}
    endpoint = "query"
    if range_minutes is not None:
        params |= _window(range_minutes, step_s, now or datetime.now(UTC))
        endpoint = "query_range"
    url = f"{prometheus_url.rstrip('/')}/api/v1/{endpoint}"
    try:
        async with httpx2.AsyncClient(timeout=QUERY_TIMEOUT_S + 2) as client:
            response = await client.post(url, data=params)
        body = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        msg = f"Prometheus did not answer usably ({type(exc).__name__}); try again later."
        raise ToolError(msg) from exc
    if body.get("status") != "success":
        msg = f"Prometheus refused the query: {body.get('errorType', 'error')}: {body.get('error', '')}"[:500]
        raise ToolError(msg)
    series = _series(body["data"])
    return MetricsQuery(
        query=scoped,
        kind="range" if range_minutes is not None else "instant",
        result_type=body["data"]["resultType"],
        series=series[:MAX_SERIES],
        truncated=len(series) > MAX_SERIES,
    )
