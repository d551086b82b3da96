"""Response models for `/api/v1/me`, the session list and `POST /api/auth/refresh`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shipyard.identity.schemas import MeRead


class ProfileRead(BaseModel):
    """The person."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str | None
    email_verified: bool
    name: str


class IdentityRead(BaseModel):
    """One sign-in identity linked to the person (the subject at the provider is not shown)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    issuer: str
    provider: str | None = Field(description="The upstream source (google, github, entraid, apple), when known.")
    email: str | None
    email_verified: bool
    last_login_at: datetime | None
    created_at: datetime


class MembershipRead(BaseModel):
    """An organisation the person belongs to, and their role there."""

    id: str
    slug: str
    name: str
    role: str


class AccountRead(MeRead):
    """The caller (as before: actor, role, scopes, organisation) plus the person's profile and sessions context."""

    profile: ProfileRead
    identities: list[IdentityRead]
    organizations: list[MembershipRead]
    session_id: str | None = Field(description="The browser session making this call; null for an API token.")
    csrf_token: str | None = Field(
        description="Send it as X-CSRF-Token on state-changing calls made with the session cookie; "
        "null for an API token."
    )


class SessionRead(BaseModel):
    """One signed-in browser of the person."""

    id: str
    current: bool = Field(description="True for the session making this call.")
    provider: str | None
    ip: str | None = Field(description="Where the sign-in came from.")
    user_agent: str | None
    remember: bool
    created_at: datetime
    last_seen_at: datetime = Field(description="Updated at most once a minute.")
    expires_at: datetime = Field(description="When the session ends unless it is refreshed before.")


class SessionList(BaseModel):
    """The person's live sessions, newest first (never more than a handful: no pagination)."""

    data: list[SessionRead]


class RefreshedRead(BaseModel):
    """A rotated session; the new tokens are in the cookies, never in the body."""

    session_id: str
    access_expires_at: datetime
    refresh_expires_at: datetime
