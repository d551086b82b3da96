"""What a sign-in carries between its steps: the login attempt in flight and who signed in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginAttemptData(BaseModel):
    """A login in flight, saved under its `state` until the provider sends the browser back (one-time)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    nonce: str = Field(min_length=16)
    # PKCE: the code is useless without it, so an attempt that lost it is refused before any exchange.
    code_verifier: str = Field(min_length=43, max_length=128)
    provider: str | None = None
    remember: bool = False
    return_to: str = "/account"


class SignInProfile(BaseModel):
    """Who the provider says signed in: the `(issuer, subject)` key and what it tells about the person."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    subject: str
    # The upstream source (google, github, entraid, apple) when the IdP names it, else the button used.
    provider: str | None = None
    email: str | None = None
    email_verified: bool = False
    name: str = ""
