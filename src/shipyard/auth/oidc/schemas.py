"""What the OpenID provider tells us: its metadata, the authorization request, the verified answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What discovery told us about the issuer."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    # RFC 9207: the provider promises `iss` in every authorization response, so one without it is refused.
    iss_parameter_supported: bool = False

    @classmethod
    def from_discovery(cls, document: dict[str, Any], issuer: str) -> ProviderMetadata:
        """`issuer`'s discovery document, if it is its own (OpenID Discovery 4.3) and usable; else ValueError."""
        if document.get("issuer") != issuer:
            msg = "The identity provider's discovery document names another issuer."
            raise ValueError(msg)
        schemes = ("https://",) if issuer.startswith("https://") else ("https://", "http://")
        endpoints: dict[str, str | None] = {}
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        ):
            value = document.get(name)
            endpoints[name] = value if isinstance(value, str) and value.startswith(schemes) else None
            if endpoints[name] is None and name in {"authorization_endpoint", "token_endpoint", "jwks_uri"}:
                msg = f"The identity provider's discovery document has no usable {name}."
                raise ValueError(msg)
        return cls(
            issuer=issuer,
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            userinfo_endpoint=endpoints["userinfo_endpoint"],
            end_session_endpoint=endpoints["end_session_endpoint"],
            iss_parameter_supported=document.get("authorization_response_iss_parameter_supported") is True,
        )


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Where to send the browser, and the one-time values to remember until it comes back."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    """A completed sign-in: the checked ID token's claims and the userinfo answer (same `sub`)."""

    issuer: str
    subject: str
    id_token: str
    id_token_claims: dict[str, Any]
    userinfo: dict[str, Any] = field(default_factory=dict)
