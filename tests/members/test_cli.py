"""`shipyard members ...`, run as a subprocess against the test's own database."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.models import Role
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.tenants import Tenant, add_member
from tests.members.conftest import audit_actions, emails_to

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def cli(database_urls: tuple[str, str], tmp_path: Path, pycache: Path) -> Cli:
    """`shipyard` configured for this test's database, links pointing at https://shipyard.example.com."""
    env = cli_env(
        pycache,
        tmp_path,
        SHIPYARD_DATABASE_URL=database_urls[0],
        SHIPYARD_PUBLIC_URL="https://shipyard.example.com",
    )
    return Cli(env, tmp_path)


async def test_the_owner_invites_by_cli_and_the_link_is_emailed(
    cli: Cli, app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    invited = cli.run("members", "invite", "Grace@Example.com", "--org", "acme", "--role", "admin")

    assert invited.returncode == 0, invited.stderr
    assert re.fullmatch(r"invited grace@example\.com as admin \(ivt_[0-9A-Z]{26}\)\n", invited.stdout)
    [message] = await emails_to(app, "grace@example.com")
    assert re.search(r"https://shipyard\.example\.com/invitations/accept#token=[\w-]{43}", message.text_body)
    listed = (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["data"]
    assert [(i["email"], i["role"]) for i in listed] == [("grace@example.com", "admin")]
    assert "invitation.created" in await audit_actions(app, tenant.organization_id)

    again = cli.run("members", "invite", "grace@example.com", "--org", "acme")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: This address already has an open invitation; resend or revoke that one.",
    )
    printed = cli.run("members", "invite", "ada@example.com", "--org", "acme", "--print-link")
    assert re.fullmatch(r"https://shipyard\.example\.com/invitations/accept#token=[\w-]{43}\n", printed.stdout)


async def test_list_set_role_and_remove(cli: Cli, app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_member(app, tenant, "mo@example.com", Role.MEMBER)

    listed = cli.run("members", "list", "--org", "acme", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["email"], r["role"]) for r in rows] == [("owner@acme.example", "owner"), ("mo@example.com", "member")]
    assert set(rows[0]) == {"id", "user_id", "email", "name", "role", "created_at", "updated_at"}

    promoted = cli.run("members", "set-role", "mo@example.com", "--org", "acme", "--role", "admin")
    assert promoted.stdout.strip() == f"{rows[1]['id']} is now admin"
    plain = cli.run("members", "list", "--org", "acme").stdout.splitlines()
    assert plain[1].split("\t")[:3] == [rows[1]["id"], "admin", "mo@example.com"]

    last = cli.run("members", "set-role", rows[0]["id"], "--org", "acme", "--role", "viewer")
    assert last.returncode == 1
    assert last.stderr.startswith("error: The last owner cannot be demoted")
    assert "Traceback" not in last.stderr

    removed = cli.run("members", "remove", rows[1]["id"], "--org", "acme")
    assert removed.stdout.strip() == f"removed {rows[1]['id']}"
    remaining = (await client.get("/api/v1/members", headers=tenant.headers)).json()["data"]
    assert [m["email"] for m in remaining] == ["owner@acme.example"]
    actions = await audit_actions(app, tenant.organization_id)
    assert {"member.role_changed", "member.removed"} <= set(actions)


async def test_one_line_errors_for_what_does_not_exist(cli: Cli, tenant: Tenant) -> None:
    no_org = cli.run("members", "list", "--org", "nope")
    no_member = cli.run("members", "remove", "nobody@example.com", "--org", "acme")
    bad_role = cli.run("members", "invite", "x@example.com", "--org", "acme", "--role", "god")
    bad_email = cli.run("members", "invite", "not-an-email", "--org", "acme")

    assert (no_org.returncode, no_org.stderr.strip()) == (1, "error: no organisation with slug 'nope'")
    assert (no_member.returncode, no_member.stderr.strip()) == (
        1,
        "error: no member 'nobody@example.com' in organisation 'acme'",
    )
    assert bad_role.returncode == bad_email.returncode == 2
    assert tenant.slug == "acme"
