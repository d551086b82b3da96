"""kit/pinned_http: connections go to the checked address and are kept alive per host name only."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import pytest

from shipyard.kit import pinned_http

pytestmark = pytest.mark.database_independent
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@dataclass
class Receiver:
    """A keep-alive HTTP/1.1 server on loopback that notes which connection carried each Host."""

    port: int = 0
    seen: list[tuple[str, int]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_port = writer.get_extra_info("peername")[1]
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append((headers["host"], peer_port))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver
        server.close()


async def _post(client: httpx2.AsyncClient, url: str) -> int:
    with pinned_http.pinned_to(LOOPBACK):
        response = await client.post(url, content=b"{}")
    return response.status_code


async def test_a_connection_goes_to_the_checked_address_without_asking_dns(receiver: Receiver) -> None:
    # `.invalid` never resolves (RFC 6761): the request can only arrive through the pinned address.
    async with pinned_http.client(timeout_s=5, keep_alive=4) as client:
        assert await _post(client, f"http://first.invalid:{receiver.port}/hook") == 204
    assert [host for host, _ in receiver.seen] == [f"first.invalid:{receiver.port}"]


async def test_a_kept_alive_connection_serves_its_own_host_name_only(receiver: Receiver) -> None:
    async with pinned_http.client(timeout_s=5, keep_alive=4) as client:
        for name in ("first.invalid", "first.invalid", "second.invalid", "first.invalid"):
            assert await _post(client, f"http://{name}:{receiver.port}/hook") == 204
    connection_of = dict(receiver.seen)
    ports = [port for _, port in receiver.seen]
    assert ports[0] == ports[1] == ports[3], "the same name reuses its connection"
    assert connection_of[f"second.invalid:{receiver.port}"] != ports[0], "another name at that address gets its own"


async def test_a_request_outside_pinned_to_opens_no_connection(receiver: Receiver) -> None:
    async with pinned_http.client(timeout_s=5, keep_alive=4) as client:
        with pytest.raises(httpx2.ConnectError, match="no checked address"):
            await client.post(f"http://127.0.0.1:{receiver.port}/hook", content=b"{}")
    assert receiver.seen == []
