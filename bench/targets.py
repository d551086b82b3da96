"""Issue 17's targets, judged PASS, MISS or N/A from what one `make bench` run measured.

Pure functions of the measurements (no clock, no servers), so tests/test_bench_targets.py checks the
verdicts from given numbers. Every ratio compares two things measured in the same run, never a
constant timed on another day (docs/decisions/0061).

`measurements` is the dictionary bench/run.py gathers:
- `routes`: wrk results by mode (`read`, `list`, `create`, `create-spread`), each with `rps`,
  `p99_ms`, `ratio` (to the ceiling run just before it), `non_2xx`, `socket_errors` and
  `machine_cpu_busy`;
- `deliveries`: bench/deliveries.py's result, or None when the phase was skipped;
- `scale`: bench/scale.py's timings, `points` → point → tenant → request → `{p50_ms, p95_ms}`, with
  the points `alone` (the small tenant, no neighbour), `base` (the large tenant at 50k invoices) and
  `large` (at 1M), and the invoice counts in `sizes`;
- `peer`: the peer template's creation rate in the same run, or None when it is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

PASS, MISS, NOT_APPLICABLE = "PASS", "MISS", "N/A"
# The results file's layout; bump it when a field changes meaning (bench/README.md documents it).
SCHEMA = "shipyard-bench/2"

CREATE_MIN_RATIO = 0.05
CREATE_MAX_P99_MS = 150.0
PEER_MIN_FACTOR = 1.5
# "Scales with organisations until the CPU is full": the spread run is CPU-bound (the machine at least
# this busy) and no slower than the run into one organisation, less this much noise.
CPU_FULL = 0.90
SPREAD_NOISE = 0.95
DELIVERIES_MIN_PER_S = 500.0
AGGREGATE_MAX_P95_MS = 20.0
# "Flat from 50k to 1M" and "within 1.5x of the same page with no neighbour": medians, which a
# shared machine's hiccups move far less than a p95 of a few dozen calls.
FLAT_FACTOR = 1.5
NEIGHBOUR_FACTOR = 1.5
READ_MIN_RATIO, LIST_MIN_RATIO, READ_MAX_P99_MS = 0.25, 0.10, 20.0

PEER_MISSING = (
    "the peer template (full-stack-fastapi-template) is not installed on this machine, "
    "so its creation rate cannot be measured in the same run"
)
AGGREGATES = ("org_overview", "receivables_aging")
NEIGHBOUR_REQUEST = "invoices?status=paid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target: what it measures, the goal, the verdict, and the numbers behind it."""

    id: str
    measure: str
    goal: str
    verdict: str
    measured: str
    # The deciding number over its threshold or over its same-run reference (None when N/A).
    ratio: float | None = None
    reason: str = ""


def _clean(route: Mapping[str, Any]) -> bool:
    # A run with errors is not a result: a 401 is far cheaper than a real answer.
    return route.get("non_2xx", 0) == 0 and route.get("socket_errors", 0) == 0


def _not_run(target_id: str, measure: str, goal: str, what: str) -> Verdict:
    return Verdict(target_id, measure, goal, NOT_APPLICABLE, "-", reason=f"{what} was not run")


def _route_target(
    target_id: str, measure: str, route: Mapping[str, Any] | None, min_ratio: float, max_p99_ms: float
) -> Verdict:
    goal = f">= {min_ratio:.0%} of the ceiling and p99 <= {max_p99_ms:.0f} ms"
    if route is None or route.get("ratio") is None:
        return _not_run(target_id, measure, goal, "the route")
    ratio, p99 = float(route["ratio"]), float(route["p99_ms"])
    errors = route.get("non_2xx", 0) + route.get("socket_errors", 0)
    measured = f"{route['rps']:,.0f} req/s, {ratio:.1%} of the ceiling, p99 {p99:.1f} ms"
    if errors:
        measured += f", {errors} errors"
    passed = ratio >= min_ratio and p99 <= max_p99_ms and _clean(route)
    return Verdict(target_id, measure, goal, PASS if passed else MISS, measured, ratio / min_ratio)


def _create_vs_peer(routes: Mapping[str, Any], peer: Mapping[str, Any] | None) -> Verdict:
    measure, goal = "POST …/invoices against the peer template", f">= {PEER_MIN_FACTOR}x the peer in the same run"
    create = routes.get("create")
    if peer is None:
        return Verdict("create_vs_peer", measure, goal, NOT_APPLICABLE, "-", reason=PEER_MISSING)
    if create is None:
        return _not_run("create_vs_peer", measure, goal, "the creation route")
    factor = create["rps"] / peer["rps"] if peer["rps"] else 0.0
    measured = f"{create['rps']:,.0f} against {peer['rps']:,.0f} req/s ({factor:.2f}x)"
    verdict = PASS if factor >= PEER_MIN_FACTOR and _clean(create) else MISS
    return Verdict("create_vs_peer", measure, goal, verdict, measured, factor / PEER_MIN_FACTOR)


def _create_spread(routes: Mapping[str, Any]) -> Verdict:
    measure = "POST …/invoices, 32 connections over 8 organisations"
    goal = f"scales until the CPU is full (machine >= {CPU_FULL:.0%} busy, >= the one-organisation rate)"
    one, spread = routes.get("create"), routes.get("create-spread")
    if one is None or spread is None:
        return _not_run("create_spread_scales", measure, goal, "a creation route")
    factor = spread["rps"] / one["rps"] if one["rps"] else 0.0
    busy = float(spread.get("machine_cpu_busy") or 0.0)
    measured = (
        f"{spread['rps']:,.0f} req/s, p99 {spread['p99_ms']:.1f} ms, {factor:.2f}x one organisation, "
        f"machine CPU {busy:.0%} busy ({float(spread.get('bench_cpu_busy') or 0.0):.0%} by the bench)"
    )
    passed = factor >= SPREAD_NOISE and busy >= CPU_FULL and _clean(spread) and _clean(one)
    return Verdict("create_spread_scales", measure, goal, PASS if passed else MISS, measured, factor)


def _deliveries(result: Mapping[str, Any] | None) -> Verdict:
    measure = "webhook deliveries, 4 `shipyard worker` processes, loopback receiver"
    goal = f">= {DELIVERIES_MIN_PER_S:.0f}/s, each event exactly once at the receiver"
    if result is None:
        return _not_run("deliveries", measure, goal, "the delivery phase")
    rate = float(result.get("deliveries_per_s") or 0.0)
    once = bool(result.get("received_once_each")) and bool(result.get("claimed_once_each"))
    measured = f"{rate:,.0f}/s for {result['events']:,} events" + ("" if once else ", NOT exactly once")
    verdict = PASS if rate >= DELIVERIES_MIN_PER_S and once else MISS
    return Verdict("deliveries", measure, goal, verdict, measured, rate / DELIVERIES_MIN_PER_S)


def _timing(scale: Mapping[str, Any], point: str, tenant: str, request: str) -> Mapping[str, Any] | None:
    found: Mapping[str, Any] | None = scale.get("points", {}).get(point, {}).get(tenant, {}).get(request)
    return found


def _refusal(*timings: Mapping[str, Any]) -> str:
    # A request the server refused has no latency: the target misses, and says why.
    errors = [str(timing["error"]) for timing in timings if "error" in timing]
    return f"refused: {errors[0]}" if errors else ""


def _aggregate(tool: str, scale: Mapping[str, Any] | None) -> list[Verdict]:
    measure = f"MCP `{tool}` at 1M invoices"
    goals = (f"p95 <= {AGGREGATE_MAX_P95_MS:.0f} ms at 1M", f"flat from 50k to 1M (median within {FLAT_FACTOR}x)")
    ids = (f"{tool}_p95", f"{tool}_flat")
    large = _timing(scale, "large", "large", tool) if scale else None
    base = _timing(scale, "base", "large", tool) if scale else None
    if scale is None or large is None or base is None:
        return [_not_run(i, measure, goal, "the scale phase") for i, goal in zip(ids, goals, strict=True)]
    if refused := _refusal(base, large):
        return [Verdict(i, measure, goal, MISS, refused) for i, goal in zip(ids, goals, strict=True)]
    size = f"{scale['sizes']['large']:,} invoices"
    p95 = Verdict(
        ids[0],
        measure,
        goals[0],
        PASS if large["p95_ms"] <= AGGREGATE_MAX_P95_MS else MISS,
        f"p95 {large['p95_ms']:.1f} ms (p50 {large['p50_ms']:.1f}) at {size}",
        large["p95_ms"] / AGGREGATE_MAX_P95_MS,
    )
    growth = large["p50_ms"] / base["p50_ms"] if base["p50_ms"] else float("inf")
    flat = Verdict(
        ids[1],
        measure,
        goals[1],
        PASS if growth <= FLAT_FACTOR else MISS,
        f"p50 {base['p50_ms']:.1f} ms at {scale['sizes']['base']:,} → {large['p50_ms']:.1f} ms "
        f"at {size} ({growth:.2f}x)",
        growth,
    )
    return [p95, flat]


def _neighbour(scale: Mapping[str, Any] | None) -> Verdict:
    measure = "a small tenant's GET /invoices?status=paid beside a 1M-invoice tenant"
    goal = f"within {NEIGHBOUR_FACTOR}x of the same page with no neighbour (median)"
    alone = _timing(scale, "alone", "small", NEIGHBOUR_REQUEST) if scale else None
    beside = _timing(scale, "large", "small", NEIGHBOUR_REQUEST) if scale else None
    if scale is None or alone is None or beside is None:
        return _not_run("neighbour_filter", measure, goal, "the scale phase")
    if refused := _refusal(alone, beside):
        return Verdict("neighbour_filter", measure, goal, MISS, refused)
    factor = beside["p50_ms"] / alone["p50_ms"] if alone["p50_ms"] else float("inf")
    measured = (
        f"p50 {beside['p50_ms']:.1f} ms beside {scale['sizes']['large']:,} invoices, "
        f"{alone['p50_ms']:.1f} ms alone ({factor:.2f}x)"
    )
    return Verdict("neighbour_filter", measure, goal, PASS if factor <= NEIGHBOUR_FACTOR else MISS, measured, factor)


def evaluate(measurements: Mapping[str, Any]) -> list[Verdict]:
    """Every target of issue 17's table, in the table's order."""
    routes: Mapping[str, Any] = measurements.get("routes", {})
    scale = measurements.get("scale")
    create = _route_target(
        "create",
        "POST …/invoices, 32 connections, one organisation",
        routes.get("create"),
        CREATE_MIN_RATIO,
        CREATE_MAX_P99_MS,
    )
    verdicts = [create, _create_vs_peer(routes, measurements.get("peer")), _create_spread(routes)]
    verdicts.append(_deliveries(measurements.get("deliveries")))
    for tool in AGGREGATES:
        verdicts += _aggregate(tool, scale)
    verdicts.append(_neighbour(scale))
    verdicts.append(_route_target("read", "read by ID", routes.get("read"), READ_MIN_RATIO, READ_MAX_P99_MS))
    verdicts.append(_route_target("list", "list of 100", routes.get("list"), LIST_MIN_RATIO, READ_MAX_P99_MS))
    return verdicts


def print_verdicts(verdicts: list[Verdict], out: Callable[[str], None] = print) -> None:
    """The targets as the issue's table: verdict, measure, measured value and goal."""
    out("issue 17's targets (ratios measured in this run):")
    for v in verdicts:
        detail = v.reason if v.verdict == NOT_APPLICABLE else v.measured
        out(f"  {v.verdict:<4}  {v.id:<26} {detail}  [target: {v.goal}]")
    out("")


def document(
    *, run: Mapping[str, Any], measurements: Mapping[str, Any], verdicts: list[Verdict], checks: Mapping[str, Any]
) -> dict[str, Any]:
    """bench/results/latest.json: the run, every target's verdict, and the measurements behind them."""
    counts = {state: sum(v.verdict == state for v in verdicts) for state in (PASS, MISS, NOT_APPLICABLE)}
    return {
        "schema": SCHEMA,
        **run,
        "summary": counts,
        "targets": [asdict(v) for v in verdicts],
        "checks": dict(checks),
        "routes": measurements.get("routes", {}),
        "scale": measurements.get("scale"),
        "deliveries": measurements.get("deliveries"),
        "peer": measurements.get("peer"),
    }
