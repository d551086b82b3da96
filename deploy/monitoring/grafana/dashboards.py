"""Shipyard's Grafana dashboards as code: `python deploy/monitoring/grafana/dashboards.py` writes dashboards/*.json.

Edit the panels here, never the JSON: a test fails when the committed JSON differs from this output,
and another evaluates every panel's query against a live Prometheus (docs/operations/monitoring.md).
The JSON targets Grafana's dashboard schema version 39 (Grafana 10.4 and 11).
"""

# ruff: noqa: INP001 - a script next to the files it generates, not an importable package

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards"
# Grafana picks a rate window of at least four scrape intervals; Prometheus itself knows no such variable.
RATE = "$__rate_interval"
WEB = 'job="shipyard-web"'
REQUESTS = f"http_request_duration_seconds_count{{{WEB}}}"


@dataclass(frozen=True)
class Panel:
    """One time-series panel: a title, what it shows, and its PromQL queries with their legends."""

    title: str
    description: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"


def _rate(selector: str) -> str:
    return f"rate({selector}[{RATE}])"


def _quantile(q: float, bucket: str, by: str = "") -> str:
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) ({_rate(bucket)}))"


def _ratio_or_zero(part: str, whole: str, by: str) -> str:
    # With no matching errors the numerator is empty; `or ... * 0` shows 0 % instead of "No data".
    return f"(sum by ({by}) ({_rate(part)}) or sum by ({by}) ({_rate(whole)}) * 0) / sum by ({by}) ({_rate(whole)})"


def _hit_ratio(hits: str, misses: str, by: str) -> str:
    grouping = f"by ({by}) " if by else ""
    return f"sum {grouping}({_rate(hits)}) / (sum {grouping}({_rate(hits)}) + sum {grouping}({_rate(misses)}))"


NETWORK_ERRORS = (
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
)

RED = (
    Panel(
        "Request rate by route",
        "Requests per second answered by the web processes, per route template (Rate).",
        ((f"sum by (route) ({_rate(REQUESTS)})", "{{route}}"),),
        "reqps",
    ),
    Panel(
        "5xx ratio by route",
        "Share of each route's answers that were server errors (Errors); 0 when none failed.",
        (
            (
                _ratio_or_zero(f'http_request_duration_seconds_count{{{WEB},status=~"5.."}}', REQUESTS, "route"),
                "{{route}}",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Answers by status",
        "Answers per second by HTTP status: 4xx are refused requests, 5xx server errors.",
        ((f"sum by (status) ({_rate(REQUESTS)})", "{{status}}"),),
        "reqps",
    ),
    Panel(
        "Latency p95 by route",
        "95th percentile of the time to answer, per route template (Duration).",
        ((_quantile(0.95, f"http_request_duration_seconds_bucket{{{WEB}}}", "route"), "{{route}}"),),
        "s",
    ),
    Panel(
        "Latency p50 / p99, all routes",
        "Median and 99th percentile over every route.",
        (
            (_quantile(0.5, f"http_request_duration_seconds_bucket{{{WEB}}}"), "p50"),
            (_quantile(0.99, f"http_request_duration_seconds_bucket{{{WEB}}}"), "p99"),
        ),
        "s",
    ),
    Panel(
        "Requests in flight",
        "Requests being answered now, per host (summed over its gunicorn workers).",
        ((f"sum by (host) (http_requests_in_flight{{{WEB}}})", "{{host}}"),),
    ),
)

_FS = 'fstype!~"tmpfs|ramfs|squashfs|nsfs"'
USE = (
    Panel(
        "CPU utilisation",
        "Share of CPU time not idle, per host.",
        (("1 - avg by (host) (" + _rate('node_cpu_seconds_total{mode="idle"}') + ")", "{{host}}"),),
        "percentunit",
    ),
    Panel(
        "CPU saturation (load per core)",
        "1-minute load average divided by the number of cores; above 1 work waits for a CPU.",
        (('sum by (host) (node_load1) / count by (host) (node_cpu_seconds_total{mode="idle"})', "{{host}}"),),
    ),
    Panel(
        "Memory utilisation",
        "Share of memory not available to new work, per host.",
        (
            (
                "1 - sum by (host) (node_memory_MemAvailable_bytes) / sum by (host) (node_memory_MemTotal_bytes)",
                "{{host}}",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Memory saturation (major page faults)",
        "Page faults served from disk per second: memory pressure.",
        ((f"sum by (host) ({_rate('node_vmstat_pgmajfault')})", "{{host}}"),),
    ),
    Panel(
        "Disk busy (busiest device)",
        "Share of time the busiest disk of each host was doing I/O.",
        ((f"max by (host) ({_rate('node_disk_io_time_seconds_total')})", "{{host}}"),),
        "percentunit",
    ),
    Panel(
        "Filesystem used (fullest)",
        "The fullest real filesystem of each host.",
        (
            (
                f"max by (host) (1 - node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}})",
                "{{host}}",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Network traffic",
        "Bytes received and sent per second, per host.",
        (
            (f"sum by (host) ({_rate('node_network_receive_bytes_total')})", "{{host}} in"),
            (f"sum by (host) ({_rate('node_network_transmit_bytes_total')})", "{{host}} out"),
        ),
        "Bps",
    ),
    Panel(
        "Network errors and drops",
        "Receive and transmit errors plus drops per second (Errors).",
        (
            (
                "sum by (host) (" + " + ".join(map(_rate, NETWORK_ERRORS)) + ")",
                "{{host}}",
            ),
        ),
    ),
)

POSTGRES = (
    Panel("PostgreSQL up", "1 when the exporter can reach PostgreSQL.", (("pg_up", "{{host}}"),)),
    Panel(
        "Connections by state",
        "Server connections by state (active, idle, idle in transaction...).",
        (("sum by (state) (pg_stat_activity_count)", "{{state}}"),),
    ),
    Panel(
        "Commits and rollbacks",
        "Transactions per second over every database.",
        (
            (f"sum ({_rate('pg_stat_database_xact_commit')})", "commits"),
            (f"sum ({_rate('pg_stat_database_xact_rollback')})", "rollbacks"),
        ),
        "ops",
    ),
    Panel(
        "Buffer cache hit ratio",
        "Blocks found in shared buffers over blocks needed; low means reads go to disk.",
        (
            (
                _hit_ratio("pg_stat_database_blks_hit", "pg_stat_database_blks_read", ""),
                "hit ratio",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Deadlocks and conflicts",
        "Deadlocks and recovery conflicts per second.",
        (
            (f"sum ({_rate('pg_stat_database_deadlocks')})", "deadlocks"),
            (f"sum ({_rate('pg_stat_database_conflicts')})", "conflicts"),
        ),
        "ops",
    ),
    Panel(
        "App connection pools",
        "Connections Shipyard's processes hold from their pools, and checkouts waiting for one.",
        (
            ("sum by (job, pool) (shipyard_db_pool_connections_in_use)", "{{job}} {{pool}} in use"),
            ("sum by (job, pool) (shipyard_db_pool_waiting)", "{{job}} {{pool}} waiting"),
        ),
    ),
)

CACHE = (
    Panel("Redis up", "1 when the exporter can reach Redis (Valkey in production).", (("redis_up", "{{host}}"),)),
    Panel(
        "Commands per second",
        "Commands Redis processed (sessions, rate limits, job streams).",
        ((f"sum by (host) ({_rate('redis_commands_processed_total')})", "{{host}}"),),
        "ops",
    ),
    Panel(
        "Keyspace hit ratio",
        "Lookups that found their key; 0 when every lookup missed.",
        (
            (
                _hit_ratio("redis_keyspace_hits_total", "redis_keyspace_misses_total", "host"),
                "{{host}}",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Memory used",
        "Memory Redis holds; with maxmemory set, evictions start at the limit.",
        (("sum by (host) (redis_memory_used_bytes)", "{{host}}"),),
        "bytes",
    ),
    Panel(
        "Clients and evictions",
        "Connected clients, and keys evicted per second for lack of memory.",
        (
            ("sum by (host) (redis_connected_clients)", "{{host}} clients"),
            (f"sum by (host) ({_rate('redis_evicted_keys_total')})", "{{host}} evicted/s"),
        ),
    ),
)

SIGN_INS = (
    Panel(
        "Sign-ins by provider and result",
        "Finished sign-ins per second by provider (a configured source, `none` or `other`) and result.",
        ((f"sum by (provider, result) ({_rate('shipyard_sign_ins_total')})", "{{provider}} {{result}}"),),
        "ops",
    ),
    Panel(
        "Sign-in failure ratio by provider",
        "Share of each provider's sign-ins that failed; 0 when none did.",
        (
            (
                _ratio_or_zero('shipyard_sign_ins_total{result="failure"}', "shipyard_sign_ins_total", "provider"),
                "{{provider}}",
            ),
        ),
        "percentunit",
    ),
    Panel(
        "Failures by reason (last hour)",
        "Refused sign-ins in the last hour by reason (state_mismatch, email_unverified...).",
        (('sum by (reason) (increase(shipyard_sign_ins_total{result="failure"}[1h]))', "{{reason}}"),),
    ),
)

QUEUES = (
    Panel(
        "Queue depth",
        "Work that is due and not done, per queue (outbox relay, webhook deliveries, emails).",
        (("max by (queue) (shipyard_job_queue_depth)", "{{queue}}"),),
    ),
    Panel(
        "Oldest waiting item",
        "How long the longest-waiting due item of each queue has waited.",
        (("max by (queue) (shipyard_job_queue_oldest_age_seconds)", "{{queue}}"),),
        "s",
    ),
    Panel(
        "Jobs by outcome",
        "Jobs finished per second by job name and outcome (succeeded, failed, interrupted).",
        ((f"sum by (job, outcome) ({_rate('shipyard_job_duration_seconds_count')})", "{{job}} {{outcome}}"),),
        "ops",
    ),
    Panel(
        "Job duration p95",
        "95th percentile of each job's run time.",
        ((_quantile(0.95, "shipyard_job_duration_seconds_bucket", "job"), "{{job}}"),),
        "s",
    ),
    Panel(
        "Lease expiries (last hour)",
        "Work taken up again because its lease ran out: a worker died or a message was lost.",
        (("sum by (queue) (increase(shipyard_job_lease_expiries_total[1h])) or vector(0)", "{{queue}}"),),
    ),
    Panel(
        "Webhook deliveries by result",
        "Delivery attempts per second: delivered, retrying, failed (for good), gone (410), blocked (SSRF).",
        ((f"sum by (result) ({_rate('shipyard_webhook_deliveries_total')})", "{{result}}"),),
        "ops",
    ),
    Panel(
        "Webhook latency",
        "p95 of one delivery request, and p95 from the event's commit to the endpoint's 2xx.",
        (
            (_quantile(0.95, "shipyard_webhook_delivery_latency_seconds_bucket"), "request p95"),
            (_quantile(0.95, "shipyard_webhook_event_to_receipt_seconds_bucket"), "event to receipt p95"),
        ),
        "s",
    ),
    Panel(
        "Outbox backlog and disabled endpoints",
        "Events committed but not yet relayed, and webhook endpoints switched off.",
        (
            ("max (shipyard_outbox_backlog)", "outbox backlog"),
            ("max (shipyard_webhook_disabled_endpoints)", "disabled endpoints"),
        ),
    ),
)

DASHBOARDS: dict[str, tuple[str, tuple[Panel, ...]]] = {
    "shipyard-red": ("Shipyard: requests (RED per route)", RED),
    "shipyard-hosts": ("Shipyard: hosts (USE)", USE),
    "shipyard-postgres": ("Shipyard: PostgreSQL", POSTGRES),
    "shipyard-cache": ("Shipyard: cache (Redis / Valkey)", CACHE),
    "shipyard-sign-in": ("Shipyard: sign-in by provider", SIGN_INS),
    "shipyard-queues": ("Shipyard: queues and webhooks", QUEUES),
}


def _panel(number: int, panel: Panel) -> dict[str, Any]:
    width, height = 12, 8
    return {
        "id": number + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": (number % 2) * width, "y": (number // 2) * height},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {"refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(panel.queries)
        ],
    }


def dashboard(uid: str) -> dict[str, Any]:
    """The dashboard `uid` as Grafana's JSON model."""
    title, panels = DASHBOARDS[uid]
    return {
        "uid": uid,
        "title": title,
        "tags": ["shipyard"],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": []},
        "links": [],
        "panels": [_panel(number, panel) for number, panel in enumerate(panels)],
    }


def rendered() -> dict[str, str]:
    """Every dashboard's file name and its JSON text."""
    return {f"{uid}.json": json.dumps(dashboard(uid), indent=2) + "\n" for uid in DASHBOARDS}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text)
