"""Request and response models for members, invitations and the active organisation."""

from __future__ import annotations

from datetime import datetime

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from shipyard.kit.types import EmailAddress, Text
from shipyard.models import Role

# JSON has no enum type: a role arrives as a string, which strict mode would refuse for an enum.
RoleInput = Annotated[Role, Strict(strict=False)]


class MemberRead(BaseModel):
    """A person's membership of the organisation."""

    id: str
    user_id: str
    email: str | None = Field(description="The person's email; null when no verified one is known yet.")
    name: str
    role: Role
    created_at: datetime
    updated_at: datetime


class MemberUpdate(BaseModel):
    """A new role for a member."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: RoleInput


class InvitationCreate(BaseModel):
    """An email address to invite, and the role the person gets on accepting."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: EmailAddress
    role: RoleInput


class InvitationRead(BaseModel):
    """An invitation (never its token: that exists only in the email)."""

    id: str
    email: str
    role: Role
    status: str = Field(description="pending, expired (pending but past expires_at), accepted or revoked.")
    expires_at: datetime
    created_at: datetime


class InvitationAccept(BaseModel):
    """The token from the invitation link's fragment (`#token=...`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    token: Text = Field(min_length=1, max_length=200)


class OrganizationMembership(BaseModel):
    """An organisation and the person's role in it."""

    id: str
    slug: str
    name: str
    role: Role


class InvitationAccepted(BaseModel):
    """The membership an accepted invitation created, and its organisation."""

    member: MemberRead
    organization: OrganizationMembership


class ActiveOrganizationSwitch(BaseModel):
    """The organisation the browser session should act in from now on."""

    model_config = ConfigDict(extra="forbid", strict=True)

    organization_id: Text = Field(min_length=1, max_length=64)
