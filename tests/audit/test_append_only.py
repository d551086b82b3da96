"""The audit log is append-only: in the code (no update or delete path) and, on PostgreSQL, in the grants."""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.fixtures.tenants import Tenant

SOURCE = Path(__file__).resolve().parents[2] / "src" / "shipyard"
_RAW_SQL = re.compile(
    r"\b(update\s+audit_events|delete\s+from\s+audit_events|truncate\b[^;]*\baudit_events)", re.IGNORECASE
)
_MUTATORS = frozenset({"update", "delete", "truncate"})


def _mentions_audit_event(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == "AuditEvent") or (isinstance(n, ast.Attribute) and n.attr == "AuditEvent")
        for n in ast.walk(node)
    )


def audit_mutations(source: str) -> list[str]:
    """Places in `source` that would update or delete audit events."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            # A mutator called on the model, or a method of something built from it (its __table__).
            targets = [*node.args, func.value] if isinstance(func, ast.Attribute) else list(node.args)
            if name in _MUTATORS and any(_mentions_audit_event(target) for target in targets):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _RAW_SQL.search(node.value):
            found.append(f"line {node.lineno}: SQL {node.value[:80]!r}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "session.execute(update(AuditEvent).values(result='x'))",
        "session.execute(sa.delete(models.AuditEvent))",
        "AuditEvent.__table__.delete()",
        "session.execute(text('DELETE FROM audit_events'))",
        "conn.exec_driver_sql('update audit_events set result = 1')",
    ],
)
def test_the_detector_finds_audit_mutations(snippet: str) -> None:
    assert audit_mutations(snippet) != []


def test_the_detector_ignores_other_tables() -> None:
    assert audit_mutations("session.execute(update(ApiToken).values(name='x'))") == []


def test_the_code_has_no_update_or_delete_path_for_audit_events() -> None:
    # Migrations are DDL run by the migrator role (0001 REVOKEs UPDATE and DELETE); the app never runs them.
    files = sorted(path for path in SOURCE.rglob("*.py") if "migrations" not in path.relative_to(SOURCE).parts)
    assert len(files) > 20
    offences = {
        str(path.relative_to(SOURCE)): found
        for path in files
        if (found := audit_mutations(path.read_text(encoding="utf-8")))
    }
    assert offences == {}


@pytest.fixture
async def app_role(database_urls: tuple[str, str]) -> AsyncIterator[AsyncConnection]:
    """A connection as the application's own database role."""
    engine = create_async_engine(database_urls[0])
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET result = 'tampered'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
async def test_the_app_role_cannot_rewrite_the_log(app_role: AsyncConnection, tenant: Tenant, statement: str) -> None:
    before = (await app_role.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
    assert before > 0  # the tenant's creation was logged
    del tenant
    with pytest.raises(DBAPIError, match="permission denied"):
        await app_role.execute(text(statement))
    await app_role.rollback()
    tampered = "SELECT count(*) FROM audit_events WHERE result = 'tampered'"
    assert (await app_role.execute(text(tampered))).scalar_one() == 0
    assert (await app_role.execute(text("SELECT count(*) FROM audit_events"))).scalar_one() == before


@pytest.mark.postgres_only
async def test_the_app_role_can_append_to_the_log_and_rewrite_other_tables(
    app_role: AsyncConnection, tenant: Tenant
) -> None:
    await app_role.execute(
        text(
            "INSERT INTO audit_events (id, organization_id, actor_type, action, result, details, occurred_at) "
            "VALUES ('aud_test', :org, 'system', 'test.appended', 'success', '{}', now())"
        ),
        {"org": tenant.organization_id},
    )
    renamed = await app_role.execute(
        text("UPDATE organizations SET name = 'Renamed' WHERE id = :org"), {"org": tenant.organization_id}
    )
    assert renamed.rowcount == 1
    await app_role.commit()


async def test_deleting_an_organisation_does_not_erase_its_audit_log(app: Any, tenant: Tenant) -> None:
    count = text("SELECT count(*) FROM audit_events WHERE organization_id = :org")
    params = {"org": tenant.organization_id}
    async with app.state.database.writer() as session:
        before = (await session.execute(count, params)).scalar_one()
        assert before > 0
        with contextlib.suppress(DBAPIError):
            await session.execute(text("DELETE FROM organizations WHERE id = :org"), params)
            await session.commit()
    async with app.state.database.reader() as session:
        assert (await session.execute(count, params)).scalar_one() == before
