"""deploy/valkey on a real redis-server 7 (Valkey is not packaged in Debian 12; the protocol is the same)."""

from __future__ import annotations

import hashlib
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.fixtures.binaries import require_binary
from tests.fixtures.servers import RedisServer, _find_bin

REPO = Path(__file__).resolve().parents[2]
VALKEY = REPO / "deploy" / "valkey"
ADMIN_PASSWORD = secrets.token_hex(16)
APP_PASSWORD = secrets.token_hex(16)
PLACEHOLDER = "#" + "0" * 64


def _command(*args: str) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if data.startswith(b"*"):  # a flat array of bulk strings (CONFIG GET): read until complete
        count = int(data[1 : data.index(b"\r\n")])
        while data.count(b"\r\n") < 1 + 2 * count:
            data += sock.recv(65536)
    return data


class ValkeyFromDeploy(RedisServer):
    """redis-server reading deploy/valkey/shipyard.conf and an ACL file made from users.acl."""

    name: ClassVar[str] = "valkey"

    def _prepare(self, base_dir: Path) -> None:
        template = (VALKEY / "users.acl").read_text()
        lines = []
        for line in template.splitlines():
            password = {"admin": ADMIN_PASSWORD, "shipyard": APP_PASSWORD}.get(line.split()[1])
            digest = "#" + hashlib.sha256(password.encode()).hexdigest() if password else PLACEHOLDER
            lines.append(line.replace(PLACEHOLDER, digest))
        (base_dir / "users.acl").write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        # The shipped file first; then only what a throwaway server must change.
        return [
            _find_bin("redis-server"),
            str(VALKEY / "shipyard.conf"),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.base_dir),
            "--aclfile",
            str(self.base_dir / "users.acl"),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]

    def _probe(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(_command("AUTH", "admin", ADMIN_PASSWORD))
                if _reply(sock) != b"+OK\r\n":
                    return False
                sock.sendall(_command("PING"))
                return _reply(sock) == b"+PONG\r\n"
        except OSError:
            return False

    def ask(self, *args: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> bytes:
        """Send one command as `user`; return the raw reply."""
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(_command("AUTH", user, password))
            assert _reply(sock) == b"+OK\r\n"
            sock.sendall(_command(*args))
            return _reply(sock)


@pytest.fixture(scope="module")
def valkey() -> Iterator[ValkeyFromDeploy]:
    require_binary("redis-server", "redis-server")
    with ValkeyFromDeploy() as server:
        yield server


def test_queue_instance_never_evicts_and_keeps_an_append_only_file(valkey: ValkeyFromDeploy) -> None:
    assert valkey.ask("CONFIG", "GET", "maxmemory-policy").endswith(b"noeviction\r\n")
    assert valkey.ask("CONFIG", "GET", "appendonly").endswith(b"yes\r\n")
    assert valkey.ask("CONFIG", "GET", "appendfsync").endswith(b"everysec\r\n")


def test_shipped_file_binds_privately() -> None:
    directives = dict(
        line.split(None, 1) for line in (VALKEY / "shipyard.conf").read_text().splitlines() if line and line[0] != "#"
    )
    assert set(directives["bind"].split()) <= {"127.0.0.1", "-::1"}
    assert directives["protected-mode"] == "yes"


def test_default_user_is_off(valkey: ValkeyFromDeploy) -> None:
    with socket.create_connection((valkey.host, valkey.port), timeout=5) as sock:
        sock.sendall(_command("GET", "anything"))
        assert _reply(sock).startswith(b"-NOAUTH")


@pytest.mark.parametrize(
    "command",
    [
        ("GET", "session:1"),
        ("SET", "lock:scheduler", "1", "NX", "PX", "30000"),
        ("INCR", "ratelimit:1"),
        ("EXPIRE", "ratelimit:1", "60"),
        ("DEL", "session:1"),
        ("SELECT", "2"),
        ("XADD", "jobs", "*", "task", "x"),
        ("XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"),
        ("XREADGROUP", "GROUP", "workers", "w1", "STREAMS", "jobs", ">"),
        ("XACK", "jobs", "workers", "1-1"),
        ("XAUTOCLAIM", "jobs", "workers", "w2", "60000", "0"),
        ("EVALSHA", "0" * 40, "0"),
        ("SCRIPT", "LOAD", "return 1"),
        ("MULTI",),
        ("PING",),
    ],
)
def test_app_user_may_run_what_the_app_needs(valkey: ValkeyFromDeploy, command: tuple[str, ...]) -> None:
    assert valkey.ask("ACL", "DRYRUN", "shipyard", *command) == b"+OK\r\n"


@pytest.mark.parametrize(
    "command",
    [
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("KEYS", "*"),
        ("CONFIG", "SET", "appendonly", "no"),
        ("DEBUG", "SLEEP", "0"),
        ("SHUTDOWN",),
        ("MODULE", "LOAD", "/var/lib/evil.so"),
        ("SCRIPT", "FLUSH"),
        ("FUNCTION", "FLUSH"),
        ("ACL", "SETUSER", "shipyard", "+@all"),
        ("MONITOR",),
        ("REPLICAOF", "NO", "ONE"),
        ("SAVE",),
        ("SWAPDB", "0", "2"),
        ("CLIENT", "KILL", "ID", "1"),
    ],
)
def test_app_user_may_not_administer_the_server(valkey: ValkeyFromDeploy, command: tuple[str, ...]) -> None:
    assert b"no permissions" in valkey.ask("ACL", "DRYRUN", "shipyard", *command)


def test_app_user_authenticates_with_its_password(valkey: ValkeyFromDeploy) -> None:
    assert valkey.ask("PING", user="shipyard", password=APP_PASSWORD) == b"+PONG\r\n"
