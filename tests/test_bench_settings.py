"""`make bench` starts Shipyard in production mode: its settings must pass the start-up checks.

The bench is not run by the suite (it measures, it does not assert), so a new required setting or
a new quota once broke it silently: every worker refused to start, then every request got a 429.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from shipyard.settings import Settings

BENCH = Path(__file__).resolve().parent.parent / "bench"
pytestmark = pytest.mark.database_independent

# wrk with 32 connections sends thousands of reads a second from one token for 10 s and more.
REQUESTS_ONE_BENCH_ROUTE_SENDS = 200_000


@pytest.fixture
def bench_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("run", None)
    import run  # bench/run.py is a script, importable once bench/ is on the path

    env = run.shipyard_env(
        {}, port=8123, app_url="postgresql+asyncpg://app:secret@127.0.0.1:5/shipyard", metrics_dir=tmp_path
    )
    for name in [name for name in os.environ if name.startswith("SHIPYARD_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("bench_env")
def test_bench_settings_pass_the_production_start_up_checks() -> None:
    settings = Settings()
    assert settings.is_production
    assert settings.missing_for_production() == []


@pytest.mark.usefixtures("bench_env")
def test_bench_quotas_are_above_what_one_route_sends() -> None:
    settings = Settings()
    assert settings.api_rate_limit_reads >= REQUESTS_ONE_BENCH_ROUTE_SENDS
    assert settings.api_rate_limit_writes >= REQUESTS_ONE_BENCH_ROUTE_SENDS
