"""gunicorn as the web unit runs it: the socket's permissions, Type=notify, and the unit's seccomp sandbox."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import WEB_UNIT, Stack
from tests.e2e.sandbox import policy_from_unit, write_policy
from tests.e2e.servers import Gunicorn, group_of
from tests.fixtures.servers import ServerError

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]


def test_socket_is_reachable_by_owner_and_proxy_group_only(stack: Stack) -> None:
    info = stack.gunicorn.socket_path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o770  # srwxrwx---: gunicorn's umask 007
    if stack.caddy.user is not None:
        assert info.st_gid == stack.caddy.user.pw_gid


def test_master_itself_sends_ready(stack: Stack) -> None:
    # Type=notify with NotifyAccess=main: systemd accepts READY=1 from the main PID only.
    assert stack.gunicorn.ready_sender_pid == stack.gunicorn.pid


def test_workers_run_inside_the_units_seccomp_sandbox(stack: Stack) -> None:
    for pid in [stack.gunicorn.pid, *stack.gunicorn.worker_pids()]:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        assert status["NoNewPrivs"].strip() == "1"
        assert status["Seccomp"].strip() == "2"  # filter mode
        assert int(status["Seccomp_filters"]) >= 3


@pytest.mark.slow
def test_gunicorn_cannot_bind_when_the_filter_forbids_chown(stack: Stack, tmp_path: Path) -> None:
    # Why the web unit re-allows @chown after `~@privileged`: gunicorn chowns the socket it binds.
    policy = write_policy(policy_from_unit(WEB_UNIT, drop=("@chown",)), tmp_path / "no-chown.json")
    gunicorn = Gunicorn(env=stack.env, socket_group=group_of(stack.caddy.user), policy=policy, workers=1)
    try:
        with pytest.raises(ServerError, match="exited"):
            gunicorn.start(timeout=60)
        assert "Permission denied" in gunicorn.log_tail() or "Operation not permitted" in gunicorn.log_tail()
    finally:
        gunicorn.stop()
