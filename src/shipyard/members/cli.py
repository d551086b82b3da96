"""`shipyard members invite|list|set-role|remove --org SLUG`: the operator's side of teams.

The operator acts as the system (audit actor `system`): no owner rule binds them, but the last-owner
rule does. This is how the first-run owner of `default` invites the person who will sign in.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity import repository as identity_repository
from shipyard.kit.cli_transaction import CommandRefusedError, command_settings, in_transaction
from shipyard.members import invitation_service as invitations
from shipyard.members import repository
from shipyard.members import service as member_service
from shipyard.members.repository import MemberRow
from shipyard.models import Organization, Role

members_app = typer.Typer(help="Manage an organisation's members and invitations.", no_args_is_help=True)
ORG = typer.Option("--org", help="Organisation slug.")
AS_JSON = typer.Option("--json", help="Print a JSON array with stable field names (docs/cli.md).")
ROLES = ", ".join(role.value for role in Role)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        msg = f"unknown role {value!r}; one of {ROLES}"
        raise typer.BadParameter(msg) from None


async def _organization(session: AsyncSession, slug: str) -> Organization:
    organization = await identity_repository.get_organization_by_slug(session, slug)
    if organization is None:
        msg = f"no organisation with slug {slug!r}"
        raise CommandRefusedError(msg)
    return organization


async def _member(session: AsyncSession, organization: Organization, member: str) -> MemberRow:
    """A member by ID (`mem_...`) or by email address."""
    if "@" in member:
        user = await identity_repository.get_user_by_email(session, member.strip().lower())
        found = await repository.get_member_of_user(session, organization.id, user.id) if user else None
    else:
        found = await repository.get_member(session, organization.id, member)
    if found is None:
        msg = f"no member {member!r} in organisation {organization.slug!r}"
        raise CommandRefusedError(msg)
    return found


@members_app.command("invite")
def invite(
    email: Annotated[str, typer.Argument(help="The address to invite.")],
    org: Annotated[str, ORG],
    role: Annotated[str, typer.Option(help=f"The role on accepting: {ROLES}.")] = "member",
    print_link: Annotated[
        bool, typer.Option("--print-link", help="Also print the one-time link (when no email can be sent).")
    ] = False,
) -> None:
    """Invite an email address; the link goes out by email (or the log, without SMTP)."""
    settings = command_settings()
    wanted = _role(role)
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise typer.BadParameter(str(exc), param_hint="EMAIL") from None

    async def work(session: AsyncSession) -> invitations.Issued:
        organization = await _organization(session, org)
        context = invitations.InvitationContext(settings.public_url, timedelta(days=settings.invitation_ttl_days))
        return await invitations.create(session, None, organization, email=address, role=wanted, context=context)

    issued = in_transaction(settings, work)
    typer.echo(
        issued.link if print_link else f"invited {issued.invitation.email} as {wanted.value} ({issued.invitation.id})"
    )


@members_app.command("list")
def list_members(org: Annotated[str, ORG], as_json: Annotated[bool, AS_JSON] = False) -> None:
    """The organisation's members, oldest first (id, role, email and name per line, or --json)."""
    settings = command_settings()

    async def work(session: AsyncSession) -> list[MemberRow]:
        organization = await _organization(session, org)
        return await repository.list_members(session, organization.id, limit=10_000, after_id=None)

    reads = [member_service.member_read(membership, user) for membership, user in in_transaction(settings, work)]
    if as_json:
        typer.echo(json.dumps([read.model_dump(mode="json") for read in reads], indent=2))
        return
    for read in reads:
        typer.echo(f"{read.id}\t{read.role.value}\t{read.email or '-'}\t{read.name}")


@members_app.command("set-role")
def set_role(
    member: Annotated[str, typer.Argument(help="The member's ID (mem_...) or email address.")],
    org: Annotated[str, ORG],
    role: Annotated[str, typer.Option(help=f"The new role: {ROLES}.")],
) -> None:
    """Change a member's role (the last owner stays an owner). Processes notice within the token cache TTL."""
    settings = command_settings()
    wanted = _role(role)

    async def work(session: AsyncSession) -> str:
        organization = await _organization(session, org)
        membership, _ = await _member(session, organization, member)
        await member_service.change_role(session, None, organization.id, membership.id, wanted)
        return membership.id

    typer.echo(f"{in_transaction(settings, work)} is now {wanted.value}")


@members_app.command("remove")
def remove(
    member: Annotated[str, typer.Argument(help="The member's ID (mem_...) or email address.")],
    org: Annotated[str, ORG],
) -> None:
    """Remove a member and revoke their tokens in the organisation (never the last owner)."""
    settings = command_settings()

    async def work(session: AsyncSession) -> str:
        organization = await _organization(session, org)
        membership, _ = await _member(session, organization, member)
        await member_service.remove(session, None, organization.id, membership.id)
        return membership.id

    typer.echo(f"removed {in_transaction(settings, work)}")


def add_commands(app: typer.Typer) -> None:
    """Register `members` on the `shipyard` command."""
    app.add_typer(members_app, name="members")
