"""The bench's results: what a run measured, the issue's targets, and the table."""

from __future__ import annotations

from dataclasses import dataclass, field

# A warm pool opens no connections; a few are normal (a worker's first overflow, pre-ping).
CHURN_THRESHOLD = 10


@dataclass(frozen=True, slots=True)
class Route:
    """A measured route and the issue's target for it."""

    mode: str  # the wrk.lua mode
    label: str
    min_ratio: float | None = None
    max_p99_ms: float | None = None

    @property
    def target(self) -> str:
        """The target in words, or an empty string."""
        parts = []
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:.0%} of ceiling")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:.0f} ms")
        return ", ".join(parts)


@dataclass(slots=True)
class Result:
    """One wrk run, reduced to what the table shows."""

    route: str
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    # CPU per request, in ms, of the gunicorn processes, of PostgreSQL and of wrk (see procstat.py).
    app_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0
    # Connections PostgreSQL accepted during the run, and how many of them had ended by its end: more
    # than a handful ended means the pool churns (a pool that grows once keeps what it opened).
    db_sessions_opened: int = 0
    db_sessions_closed: int = 0
    # wrk's connections held by each gunicorn worker, sampled a second into the run (procstat.py).
    connections_per_worker: list[int] = field(default_factory=list)
    # The share of the machine's CPU (every core, every process) that was busy during the run.
    machine_cpu_busy: float | None = None
    # The share of it that gunicorn, PostgreSQL and wrk used (the rest was other work on the machine).
    bench_cpu_busy: float | None = None
    ratio: float | None = None
    # What the ratio would be if CPU were the only limit, as on an otherwise idle machine: the
    # ceiling's CPU per request over this route's, everything on the machine counted (app, database
    # and wrk). Far less sensitive to other load than `ratio`.
    cpu_ratio: float | None = None
    target: str = ""
    verdict: str = ""


def judge(result: Result, route: Route, ceiling: Result) -> None:
    """Fill in the ratios to the ceiling and PASS/MISS against the route's target."""
    result.ratio = result.rps / ceiling.rps if ceiling.rps else None
    cost = result.app_cpu_ms + result.db_cpu_ms + result.client_cpu_ms
    ceiling_cost = ceiling.app_cpu_ms + ceiling.db_cpu_ms + ceiling.client_cpu_ms
    result.cpu_ratio = ceiling_cost / cost if cost else None
    result.target = route.target
    if route.min_ratio is None and route.max_p99_ms is None:
        return
    passed = result.ratio is not None and (route.min_ratio is None or result.ratio >= route.min_ratio)
    passed = passed and (route.max_p99_ms is None or result.p99_ms <= route.max_p99_ms)
    # Errors make the throughput meaningless: a 401 is much cheaper than a real answer.
    passed = passed and result.non_2xx == 0 and result.socket_errors == 0
    result.verdict = "PASS" if passed else "MISS"


def print_table(results: list[Result]) -> None:
    """The summary the issue asks for."""
    header = (
        f"{'route':<38} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} "
        f"{'cpu ms/req app+db+wrk':>21} {'cpu ratio':>9} {'errors':>6}  target"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{r.ratio:.1%}" if r.ratio is not None else "-"
        cpu_ratio = f"{r.cpu_ratio:.1%}" if r.cpu_ratio is not None else "-"
        cpu = f"{r.app_cpu_ms:.2f}+{r.db_cpu_ms:.2f}+{r.client_cpu_ms:.2f}"
        errors = r.non_2xx + r.socket_errors
        target = f"{r.target}: {r.verdict}" if r.verdict else r.target
        print(
            f"{r.route:<38} {r.rps:>7,.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {ratio:>6} "
            f"{cpu:>21} {cpu_ratio:>9} {errors:>6}  {target}"
        )
    print(
        "ratio: req/s over the req/s of the ceiling run just above it (seconds before), as the issue\n"
        "defines it. cpu ms/req: CPU per request of gunicorn, PostgreSQL and wrk. cpu ratio: that\n"
        "ceiling's total CPU per request over the route's, about the ratio on an otherwise idle machine.\n"
        "On a shared machine, compare CPU per request."
    )
    for r in results:
        if r.db_sessions_closed > CHURN_THRESHOLD:
            print(
                f"WARNING: {r.route} opened and closed {r.db_sessions_closed} PostgreSQL connections during the run: "
                "the pool is smaller than the concurrency, and overflow connections are opened and closed per request."
            )
    print()
