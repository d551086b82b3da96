"""`shipyard mcp`: the MCP server over stdio, as the API token in `SHIPYARD_MCP_TOKEN`.

stdout carries the protocol, so logs go to stderr. The token is checked at start-up (a refused
token exits with status 2 and says why on stderr) and again on every tool call.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import anyio

from shipyard.identity.authenticator import AuthFailure, TokenAuthenticator
from shipyard.kit.db import Database, create_database
from shipyard.kit.logging import configure_logging
from shipyard.kit.rate_limit import RateLimiter, create_rate_limiter
from shipyard.mcp.auth import MCP_READ, StaticTokenCredentials, lacks_mcp_read, refuse
from shipyard.mcp.server import create_mcp_server
from shipyard.settings import LogFormat, MissingSettingsError, Settings

TOKEN_ENV = "SHIPYARD_MCP_TOKEN"  # noqa: S105 - the name of the variable, not a secret
EXIT_REFUSED = 2


@dataclass(frozen=True, slots=True)
class StdioRuntime:
    """The app state's equivalent for a stdio process."""

    database: Database
    authenticator: TokenAuthenticator
    settings: Settings
    rate_limiter: RateLimiter


async def serve(settings: Settings, token: str) -> int:
    """Serve MCP on stdin/stdout until the client closes them; the exit status."""
    database = create_database(settings)
    authenticator = TokenAuthenticator(
        database.reader,
        database.writer,
        ttl_s=settings.token_cache_ttl_s,
        last_used_resolution=timedelta(seconds=settings.token_last_used_resolution_s),
    )
    runtime = StdioRuntime(database, authenticator, settings, create_rate_limiter(settings))
    try:
        outcome = await authenticator.authenticate(token, None)
        if isinstance(outcome, AuthFailure):
            await refuse(runtime, outcome)
            print(f"shipyard mcp: token refused ({outcome.reason})", file=sys.stderr)  # noqa: T201 - the CLI's error channel
            return EXIT_REFUSED
        if failure := lacks_mcp_read(outcome):
            await refuse(runtime, failure)
            print(f"shipyard mcp: the token lacks the scope {MCP_READ}", file=sys.stderr)  # noqa: T201 - same
            return EXIT_REFUSED
        server = create_mcp_server(lambda: runtime, StaticTokenCredentials(token))
        await server.run_stdio_async()
        return 0
    finally:
        await runtime.rate_limiter.aclose()
        await database.dispose()


def main() -> None:
    """Entry point for `shipyard mcp` and `python -m shipyard.mcp`."""
    try:
        settings = Settings()
        settings.require_production_ready()
    except MissingSettingsError as exc:
        print(f"shipyard mcp: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's error channel
        sys.exit(1)
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level, stream=sys.stderr)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"shipyard mcp: set {TOKEN_ENV} to an API token with the {MCP_READ} scope", file=sys.stderr)  # noqa: T201
        sys.exit(EXIT_REFUSED)
    sys.exit(anyio.run(serve, settings, token))
