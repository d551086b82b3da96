"""The command line's transaction: committed when the work returns, rolled back and exit 1 when it refuses."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity import repository as identity_repository
from shipyard.identity import service as identity_service
from shipyard.kit.cli_transaction import CommandRefusedError, in_transaction
from shipyard.kit.problems import ProblemError
from shipyard.settings import Settings


def _exists(settings: Settings, slug: str) -> bool:
    async def look(session: AsyncSession) -> bool:
        return await identity_repository.get_organization_by_slug(session, slug) is not None

    return in_transaction(settings, look)


async def _create(session: AsyncSession, slug: str) -> str:
    owner = await identity_service.get_or_create_user(session, f"owner@{slug}.example")
    organization = await identity_service.create_organization(session, slug, slug=slug, owner=owner)
    await session.flush()
    return organization.slug


def test_the_work_is_committed_and_its_result_returned(settings: Settings) -> None:
    async def work(session: AsyncSession) -> str:
        return await _create(session, "kept")

    assert in_transaction(settings, work) == "kept"
    assert _exists(settings, "kept")


@pytest.mark.parametrize(
    "refusal",
    [ProblemError(409, "conflict", "the slug is taken"), CommandRefusedError("the slug is taken")],
    ids=["problem", "refusal"],
)
def test_a_refusal_rolls_back_and_exits_1_with_one_line(
    settings: Settings, refusal: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    async def work(session: AsyncSession) -> str:
        await _create(session, "dropped")
        raise refusal

    with pytest.raises(typer.Exit) as exited:
        in_transaction(settings, work)
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == "error: the slug is taken\n"
    assert not _exists(settings, "dropped")
