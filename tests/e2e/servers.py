"""The production processes, started from the files in deploy/ on loopback: PgBouncer, gunicorn, Caddy.

Each one reads the shipped configuration and changes only what a test machine must: ports, paths,
and Caddy's certificate authority (`tls internal`). As root, PgBouncer runs as `postgres` and Caddy
as `caddy` (or `nobody`): neither needs root, and Caddy must prove it.
"""

from __future__ import annotations

import array
import configparser
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import httpx

from tests.fixtures.servers import LOOPBACK, ServerError, _find_bin, _log_tail, _ManagedServer, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = REPO / ".venv" / "bin"
SANDBOX = Path(__file__).resolve().parent / "sandbox.py"


def unprivileged_user(*candidates: str) -> pwd.struct_passwd | None:
    """The first existing user among `candidates` when we are root; None (run as ourselves) otherwise."""
    if os.geteuid() != 0:
        return None
    for name in candidates:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    msg = f"none of the users {candidates} exists"
    raise ServerError(msg)


def private_dir(prefix: str, owner: pwd.struct_passwd | None, mode: int = 0o700) -> Path:
    """A new directory under /tmp (reachable by other users) owned by `owner`."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(mode)
    return path


class PgBouncerServer(_ManagedServer):
    """PgBouncer with deploy/pgbouncer/pgbouncer.ini, pointed at a test PostgreSQL."""

    name: ClassVar[str] = "pgbouncer"

    def __init__(self, *, postgres_port: int, userlist: str, startup_timeout: float = 30.0) -> None:
        """`userlist` is the content of the auth_file (SCRAM verifiers)."""
        super().__init__(port=None, startup_timeout=startup_timeout)
        self.postgres_port = postgres_port
        self.userlist = userlist
        self.user = unprivileged_user("postgres")

    def _make_base_dir(self) -> Path:
        return private_dir("shipyard-pgbouncer-", self.user)

    def _run_as(self) -> str | None:
        return self.user.pw_name if self.user else None

    def _prepare(self, base_dir: Path) -> None:
        config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
        config.optionxform = str  # type: ignore[assignment,method-assign]  # keep names as written
        config.read(DEPLOY / "pgbouncer" / "pgbouncer.ini")
        config["databases"] = {"shipyard": f"host={LOOPBACK} port={self.postgres_port} dbname=shipyard"}
        config["pgbouncer"].update(
            listen_addr=LOOPBACK,
            listen_port=str(self.port),
            unix_socket_dir="",
            auth_file=str(base_dir / "userlist.txt"),
            logfile="",
            pidfile="",
        )
        (base_dir / "userlist.txt").write_text(self.userlist)
        with (base_dir / "pgbouncer.ini").open("w") as handle:
            config.write(handle)
        if self.user:
            for name in ("userlist.txt", "pgbouncer.ini"):
                os.chown(base_dir / name, self.user.pw_uid, self.user.pw_gid)

    def _command(self) -> list[str]:
        return [_find_bin("pgbouncer"), str(self.base_dir / "pgbouncer.ini")]

    def _probe(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False


class CaddyServer(_ManagedServer):
    """Caddy running deploy/caddy/Caddyfile with `tls internal` on high loopback ports, never as root."""

    name: ClassVar[str] = "caddy"

    def __init__(
        self,
        *,
        upstream: str,
        authentik: str,
        caddyfile: Path = DEPLOY / "caddy" / "Caddyfile",
        extra_env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        """`upstream` as Caddy writes it (`unix//path`, `host:port`)."""
        super().__init__(port=None, startup_timeout=startup_timeout)
        self.http_port = free_port()
        self.admin_port = free_port()
        self.metrics_port = free_port()
        self.upstream = upstream
        self.authentik = authentik
        self.caddyfile = caddyfile
        self.extra_env = extra_env or {}
        self.user = unprivileged_user("caddy", "nobody")

    @property
    def base_url(self) -> str:
        """The public site."""
        return f"https://localhost:{self.port}"

    @property
    def http_url(self) -> str:
        """The plain-HTTP listener (redirects)."""
        return f"http://localhost:{self.http_port}"

    @property
    def root_ca(self) -> Path:
        """The internal CA's root certificate, where Caddy keeps it."""
        return self.base_dir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def access_log(self) -> Path:
        """The JSON access log the Caddyfile writes."""
        return self.base_dir / "access.log"

    def _make_base_dir(self) -> Path:
        return private_dir("shipyard-caddy-", self.user)

    def _run_as(self) -> str | None:
        return self.user.pw_name if self.user else None

    def _prepare(self, base_dir: Path) -> None:
        (base_dir / "bind.caddy").write_text(f"bind {LOOPBACK}\n")
        env = {
            "HOME": str(base_dir),
            "XDG_DATA_HOME": str(base_dir / "data"),
            "XDG_CONFIG_HOME": str(base_dir / "config"),
            "SHIPYARD_DOMAIN": "localhost",
            "SHIPYARD_CADDY_TLS": "internal",
            "SHIPYARD_UPSTREAM": self.upstream,
            "SHIPYARD_AUTHENTIK_UPSTREAM": self.authentik,
            "SHIPYARD_HTTP_PORT": str(self.http_port),
            "SHIPYARD_HTTPS_PORT": str(self.port),
            "SHIPYARD_CADDY_ADMIN": f"{LOOPBACK}:{self.admin_port}",
            "SHIPYARD_CADDY_LOG": str(self.access_log),
            "SHIPYARD_CADDY_INCLUDE": str(base_dir / "bind.caddy"),
            "SHIPYARD_METRICS_PORT": str(self.metrics_port),
            **self.extra_env,
        }
        (base_dir / "caddy.env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        if self.user:
            for path in base_dir.iterdir():
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _command(self) -> list[str]:
        return [
            _find_bin("caddy"),
            "run",
            "--config",
            str(self.caddyfile),
            "--adapter",
            "caddyfile",
            "--envfile",
            str(self.base_dir / "caddy.env"),
        ]

    def _probe(self) -> bool:
        if not self.root_ca.exists():
            return False
        context = ssl.create_default_context(cafile=str(self.root_ca))
        try:
            response = httpx.get(f"{self.base_url}/health", verify=context, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py on a unix socket, optionally inside the unit's seccomp sandbox."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        socket_group: int | None,
        policy: Path | None,
        workers: int = 2,
    ) -> None:
        """`socket_group` becomes the process's (and so the socket's) group, like the unit's Group=."""
        self.base_dir = Path(tempfile.mkdtemp(prefix="shipyard-gunicorn-", dir="/tmp"))
        if socket_group is not None:
            os.chown(self.base_dir, -1, socket_group)
        self.base_dir.chmod(0o750)
        self.socket_path = self.base_dir / "shipyard.sock"
        self.log_path = self.base_dir / "gunicorn.log"
        self.notify_path = self.base_dir / "notify.sock"
        self.socket_group = socket_group
        self.policy = policy
        self.env = {
            **env,
            "SHIPYARD_BIND": f"unix:{self.socket_path}",
            "SHIPYARD_WEB_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(self.base_dir / "prometheus"),
            "NOTIFY_SOCKET": str(self.notify_path),
        }
        self.workers = workers
        self._proc: subprocess.Popen[bytes] | None = None
        self.ready_sender_pid: int | None = None

    @property
    def pid(self) -> int:
        """The master (arbiter) PID."""
        if self._proc is None:
            msg = "gunicorn is not running"
            raise ServerError(msg)
        return self._proc.pid

    def command(self) -> list[str]:
        """The unit's ExecStart, behind the sandbox when a policy is given."""
        gunicorn = [str(VENV_BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py")]
        if self.policy is None:
            return gunicorn
        return [str(VENV_BIN / "python"), str(SANDBOX), str(self.policy), "--", *gunicorn]

    def start(self, timeout: float = 60.0) -> Gunicorn:
        """Start it and wait for READY=1 on the notify socket, then for the workers to answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(str(self.notify_path))
            notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if self.socket_group is not None:
                os.chown(self.notify_path, -1, self.socket_group)
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(  # noqa: S603 - fixed argv
                    self.command(),
                    cwd=REPO,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    group=self.socket_group,
                )
            self.ready_sender_pid = self._wait_ready(notify, timeout)
        self.wait_serving(timeout)
        return self

    def _wait_ready(self, notify: socket.socket, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        notify.settimeout(0.2)
        credentials_size = array.array("i", [0, 0, 0]).itemsize * 3
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                msg = f"gunicorn exited with {self._proc.returncode}:\n{_log_tail(self.log_path)}"
                raise ServerError(msg)
            try:
                data, ancillary, _flags, _addr = notify.recvmsg(4096, socket.CMSG_SPACE(credentials_size))
            except TimeoutError:
                continue
            if b"READY=1" in data.split(b"\n"):
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        return int(array.array("i", payload[:credentials_size])[0])
                msg = "READY=1 came without sender credentials"
                raise ServerError(msg)
        msg = f"gunicorn sent no READY=1 within {timeout:.0f}s:\n{_log_tail(self.log_path)}"
        raise ServerError(msg)

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Block until all workers are up and /health answers over the socket."""
        deadline = time.monotonic() + timeout
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        with httpx.Client(transport=transport, base_url="http://shipyard", timeout=2) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if len(self.worker_pids()) == self.workers and client.get("/health").status_code == 200:
                        return
                time.sleep(0.1)
        msg = f"gunicorn did not serve within {timeout:.0f}s:\n{_log_tail(self.log_path)}"
        raise ServerError(msg)

    def worker_pids(self) -> list[int]:
        """PIDs of the master's live children."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children if _is_alive(int(pid))]

    def reload(self) -> None:
        """What `systemctl reload shipyard-web` does: HUP the master."""
        os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (graceful), then SIGKILL the group; remove the directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        elif proc is not None:
            proc.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self) -> str:
        """The end of gunicorn's log (the app logs JSON lines there too)."""
        return _log_tail(self.log_path)


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def group_of(user: pwd.struct_passwd | None) -> int | None:
    """The primary group of `user` (the unit's Group= for the socket), or None."""
    return user.pw_gid if user else None


def group_name(gid: int) -> str:
    """A group's name, for messages."""
    return grp.getgrgid(gid).gr_name
