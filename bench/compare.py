"""`make bench-compare BASELINE=<ref>`: CPU per request of two code versions, alternated in one run.

A refactoring must not make the hot reads dearer. Comparing two `make bench` runs minutes apart
measures the machine's drift as much as the code (bench/README.md), so this runs both versions
against the same PostgreSQL and seed data, in rounds, alternating which version goes first, and
compares the app's CPU per request (gunicorn's master and workers, from /proc) for the read by ID
and the list of 100. The baseline's `src/` is taken with `git archive` into a temporary folder and
put first on the workers' PYTHONPATH, so it runs with the same virtualenv and gunicorn settings.

Every server listens on 127.0.0.1, every step has a time limit, and everything is stopped on the
way out. The verdict is PASS when the median CPU per request of the current code is within
`--tolerance` (5%) of the baseline's for each route; results go to bench/results/compare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.fixtures.servers, the suite's throwaway PostgreSQL

import seed  # noqa: E402 - a sibling module of this script, importable once the path is set
from gunicorn_process import Gunicorn  # noqa: E402 - same
from measuring import measure, phase, probe_for, split_for  # noqa: E402 - same
from run import RESULTS, ROUTES, shipyard_env, stop_cleanly_within  # noqa: E402 - same
from tests.fixtures.servers import PostgresServer, free_port  # noqa: E402 - needs the repo root on sys.path

COMPARED = tuple(route for route in ROUTES if route.mode in {"read", "list"})


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the git revision to compare with (e.g. a commit)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs both versions")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per route and version")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--tolerance", type=float, default=0.05, help="allowed CPU-per-request increase")
    parser.add_argument("--time-limit", type=int, default=1500, help="abort the whole run after this many seconds")
    return parser.parse_args()


def export_source(revision: str, into: Path) -> Path:
    """`src/` of `revision` in `into`, via git archive (no worktree is registered)."""
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", "--format=tar", revision, "src"], cwd=REPO, stdout=out, check=True, timeout=60
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure_version(
    name: str,
    pythonpath: str | None,
    args: argparse.Namespace,
    work: Path,
    postgres: PostgresServer,
    seeded: seed.Seeded,
) -> dict[str, float]:
    """One version under gunicorn: the app's CPU ms per request for each compared route."""
    ids_file = work / "customer_ids.txt"
    ids_file.write_text("\n".join(seeded.customer_ids) + "\n", encoding="utf-8")
    extra = [str(ids_file), seeded.token, os.urandom(4).hex()]
    port = free_port()
    env = shipyard_env(os.environ.copy(), port=port, app_url=seeded.app_url, metrics_dir=work / f"metrics-{name}")
    (work / f"metrics-{name}").mkdir(exist_ok=True)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    cpu: dict[str, float] = {}
    with Gunicorn([], env, RESULTS / f"compare-{name}.log", port, "/ready") as server:
        for route in COMPARED:
            result = measure(
                f"http://127.0.0.1:{port}", route, args, extra, probe_for(server, postgres), split_for(server)
            )
            if result.non_2xx or result.socket_errors:
                msg = f"{name} {route.label}: {result.non_2xx} non-2xx and {result.socket_errors} socket errors"
                raise RuntimeError(msg)
            cpu[route.mode] = result.app_cpu_ms
    return cpu


def verdicts(samples: dict[str, list[dict[str, float]]], tolerance: float) -> list[dict[str, object]]:
    """Median CPU per request of each version and route, and whether the current code stays within bounds."""
    rows: list[dict[str, object]] = []
    for route in COMPARED:
        before = statistics.median(run[route.mode] for run in samples["baseline"])
        after = statistics.median(run[route.mode] for run in samples["current"])
        ratio = after / before if before else float("inf")
        rows.append(
            {
                "route": route.label,
                "baseline_app_cpu_ms": round(before, 3),
                "current_app_cpu_ms": round(after, 3),
                "ratio": round(ratio, 3),
                "baseline_runs": [round(run[route.mode], 3) for run in samples["baseline"]],
                "current_runs": [round(run[route.mode], 3) for run in samples["current"]],
                "verdict": "PASS" if ratio <= 1 + tolerance else "MISS",
            }
        )
    return rows


def main() -> int:
    """Seed once, then alternate the two versions for `--rounds` rounds; print and save the verdicts."""
    args = parse_args()
    stop_cleanly_within(args.time_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-bench-compare-")))
        baseline_src = export_source(args.baseline, work)
        phase(f"baseline {args.baseline} exported to {baseline_src}; starting PostgreSQL")
        postgres = stack.enter_context(PostgresServer())
        seeded = seed.prepare(postgres, customers=args.customers, invoices=args.invoices)
        for round_number in range(args.rounds):
            order = [("baseline", str(baseline_src)), ("current", None)]
            if round_number % 2:
                order.reverse()  # neither version always runs on the warmer machine
            for name, pythonpath in order:
                phase(f"round {round_number + 1}/{args.rounds}: {name}")
                samples[name].append(measure_version(name, pythonpath, args, work, postgres, seeded))
    rows = verdicts(samples, args.tolerance)
    for row in rows:
        print(
            f"{row['route']:<36} baseline {row['baseline_app_cpu_ms']:.3f} ms"
            f"  current {row['current_app_cpu_ms']:.3f} ms  ratio {row['ratio']:.3f}  {row['verdict']}"
        )
    report = {"baseline": args.baseline, "tolerance": args.tolerance, "rounds": args.rounds, "routes": rows}
    (RESULTS / "compare.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"\nbench interrupted ({str(exc) or 'Ctrl-C'}); everything it started has been stopped", file=sys.stderr)
        sys.exit(130)
