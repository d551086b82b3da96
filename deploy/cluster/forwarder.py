"""Publish the edge's 80 and 443 on this machine's loopback.

The harness binds the loopback socket in this machine's namespace, then starts this module inside
the cluster's namespace with that socket inherited (``pass_fds``): it accepts on loopback and
connects to the edge's public address, which only the cluster's namespace can reach. Plain TCP, so
TLS stays end to end between the client and Caddy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

CHUNK_BYTES = 65536
CONNECT_TIMEOUT_SECONDS = 5


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(listening: socket.socket, host: str, port: int) -> None:
    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError):
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(forward, sock=listening)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Forward connections accepted on ``--listen-fd`` to ``--to HOST:PORT``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--to", required=True, help="HOST:PORT inside the cluster's namespace")
    arguments = parser.parse_args()
    host, _, port = arguments.to.rpartition(":")
    listening = socket.socket(fileno=arguments.listen_fd)
    asyncio.run(_serve(listening, host, int(port)))


if __name__ == "__main__":
    main()
