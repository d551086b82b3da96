"""gunicorn settings for Shipyard in production: `gunicorn -c deploy/gunicorn.conf.py`.

The systemd unit and `make bench` both use this file; the environment supplies what differs
between them (where to bind, how many workers). Everything else is fixed here on purpose, so the
benchmark measures the configuration that production runs.
"""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path
from typing import Any

wsgi_app = "shipyard.asgi:app"

# Production listens on a unix socket behind the reverse proxy; the benchmark binds loopback TCP
# because wrk cannot speak to a socket file. Several addresses, separated by spaces, open several
# listeners: Compose adds one that serves only /metrics (SHIPYARD_METRICS_LISTEN_PORT).
bind = os.environ.get("SHIPYARD_BIND", "unix:/run/shipyard/shipyard.sock").split()
# gunicorn creates its unix socket world-writable by default: any local user could then talk to
# the app directly, bypassing the proxy. 0o007 leaves it to the owner and the proxy's group.
umask = 0o007

# One asyncio event loop per core: an async worker is CPU-bound, and more workers than cores only
# add context switches and database connections.
workers = int(os.environ.get("SHIPYARD_WEB_WORKERS", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
# No preload_app: the app must be imported in each worker, after `on_starting` has emptied the
# metrics directory, or the master's import would write metric files under its own PID.

# A worker that has not checked in with the master for this long is hung: kill and replace it.
timeout = 30
# On SIGTERM, requests in flight get this long to finish; it stays below systemd's stop timeout
# (90 s by default) so that gunicorn, not SIGKILL, ends the workers.
graceful_timeout = 25
# The reverse proxy keeps idle upstream connections for up to 2 minutes (Caddy's default). The app
# must hold them longer, or it closes one just as the proxy reuses it, and a client gets a 502.
keepalive = 125

# Client address, scheme and host come from the app's own one-hop rule (SHIPYARD_TRUST_PROXY_HEADERS,
# kit/proxy_headers.py). uvicorn's proxy-header support under gunicorn trusts X-Forwarded-For from
# 127.0.0.1 by default: on a TCP bind that would let any local process spoof the client address in
# audit events and rate limits, whatever that setting says. So uvicorn trusts nobody.
forwarded_allow_ips = ""  # an empty list of trusted addresses

# The app writes its own access line per request (with route template, principal and request ID),
# through structlog on stdout; gunicorn's access log would only duplicate it without those fields.
accesslog = None
errorlog = "-"

# gunicorn >= 25 opens a control socket for `gunicornc` (resize, reload, shutdown) at a default path
# shared by every master of the same user: a second instance (a bench, a manual run) silently takes
# it over and deletes it on exit. Nothing here uses it, so it is one less way in; systemd manages us.
control_socket_disable = True


def _multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def on_starting(server: Any) -> None:  # noqa: ANN401, ARG001 - gunicorn's hook signature; the arbiter is unused
    """Empty the Prometheus multiprocess directory before any worker starts.

    Files left by a previous run would be merged into /metrics as if their (dead) PIDs were still
    serving: counters would not restart from zero and gauges would report stale values.
    """
    directory = _multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:  # noqa: ANN401, ARG001 - gunicorn's hook signature
    """Tell prometheus_client that a worker died, so its live gauges stop counting."""
    if _multiprocess_dir() is None:
        return
    # Imported here: the master needs it only when metrics are shared.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # untyped upstream


def post_worker_init(worker: Any) -> None:  # noqa: ANN401, ARG001 - gunicorn's hook signature; the worker is unused
    """Move everything the import left alive out of the garbage collector's sight.

    A worker holds a few hundred thousand long-lived objects (modules, the routes, the Pydantic and
    SQLAlchemy models) that the cyclic collector would otherwise walk on every full collection:
    under load that is a pause of tens of milliseconds every few seconds, and it showed as the
    benchmark's p99. `gc.freeze()` after a collection keeps them out of it (the approach the
    `gc.freeze` documentation describes for forking servers); objects created later, per request,
    are collected as usual.

    The youngest generation is then collected after 50,000 net allocations instead of 700: a request
    allocates a few thousand container objects, almost all freed by reference counting, so at 700
    the collector ran several times per request, walking objects that were about to go anyway. In
    paired bench runs that was 10-25% of a worker's CPU per GET by ID. Garbage in reference cycles
    waits a little longer (a few MB at most) before it is freed.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(50_000, older, oldest)
