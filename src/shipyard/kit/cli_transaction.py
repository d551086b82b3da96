"""The command line's request boundary: one committed transaction per command, and its one-line refusals.

`shipyard`'s own commands and those a domain adds (`members`, `backup`) share it, so every command
commits the same way, logs to the same stream and refuses with the same `error: ...` line and exit 1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit.db import create_database
from shipyard.kit.logging import configure_logging
from shipyard.kit.problems import ProblemError
from shipyard.settings import LogFormat, Settings

T = TypeVar("T")


class CommandRefusedError(Exception):
    """A refusal the command prints as one line on stderr before it exits 1."""


def command_settings(*, logs_on_stdout: bool = False) -> Settings:
    """The settings, with logging configured for a command.

    stdout carries a command's result (`--json` output, a token's secret), so its logs go to stderr.
    Only the server logs to stdout, where its process manager collects them.
    """
    settings = Settings()
    stream = sys.stdout if logs_on_stdout else sys.stderr
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level, stream=stream)
    return settings


def refuse(message: str) -> typer.Exit:
    """Print `error: message` on stderr; the caller raises the returned exit (status 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; a problem or a refusal exits 1 with its detail."""

    async def run() -> T:
        database = create_database(settings)
        try:
            async with database.writer() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ProblemError as exc:
        raise refuse(str(exc.detail)) from None
    except CommandRefusedError as exc:
        raise refuse(str(exc)) from None
