"""The OpenID Connect relying party: discovery, the authorization request, the code exchange, the ID token.

Authlib builds the request and exchanges the code with PKCE S256, switched on explicitly (Authlib leaves it
off); joserfc checks the signature and Authlib's `CodeIDToken` the claims. What Authlib does not do by
default is done here: `iss` and `aud` through `claims_options` (which replaces Authlib's own `iss` check);
algorithms pinned to `oidc_id_token_algs` whatever discovery lists (a listed `none` would let an unsigned
token through); `azp` naming us when `aud` has several values; the nonce; a userinfo `sub` equal to the ID
token's. Discovery and JWKS are cached for `oidc_discovery_ttl_s`; an unknown `kid` refetches the JWKS at
most once per `jwks_refetch_interval_s` (forged tokens cannot make us hammer the provider). Upstream access
and refresh tokens never leave `complete()`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import httpx2
from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]  # Authlib ships no type hints
    AsyncOAuth2Client,
    OAuthError,
)
from authlib.oidc.core.claims import CodeIDToken  # type: ignore[import-untyped]  # Authlib ships no type hints
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import Key, KeySet

from shipyard.auth.oidc.schemas import AuthorizationRequest, ProviderMetadata, VerifiedLogin
from shipyard.kit.logging import get_logger

if TYPE_CHECKING:
    from shipyard.settings import Settings

log = get_logger("shipyard.auth.oidc")

# Reason codes of a refused sign-in (the `reason` member of a `login_failed` problem and its audit event).
STATE_MISMATCH: Final = "state_mismatch"
LOGIN_EXPIRED: Final = "login_expired"
INVALID_LOGIN_ATTEMPT: Final = "invalid_login_attempt"
PROVIDER_ERROR: Final = "provider_error"
ISSUER_MISMATCH: Final = "issuer_mismatch"
CODE_EXCHANGE_FAILED: Final = "code_exchange_failed"
INVALID_ID_TOKEN: Final = "invalid_id_token"  # noqa: S105 - a reason code, not a password
NONCE_MISMATCH: Final = "nonce_mismatch"
USERINFO_MISMATCH: Final = "userinfo_mismatch"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
SOURCE_PARAMETER: Final = "shipyard_source"
# Unusable ID token algorithms: unsigned, or a MAC keyed with the client secret (HS/RS confusion).
_FORBIDDEN_ALGORITHM_PREFIXES: Final = ("none", "hs")
# A failed discovery refresh keeps the stale document this long before trying again.
_STALE_GRACE_S: Final = 60.0
_MAX_SUBJECT_LENGTH: Final = 255  # user_identities.subject


class LoginError(Exception):
    """A sign-in refused for `reason`; `detail` is safe to show, `check` names the failed check (no secrets)."""

    def __init__(self, reason: str, detail: str, *, check: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.check = check


class ProviderUnavailableError(LoginError):
    """The provider could not be reached, or answered something unusable (discovery, JWKS, token endpoint)."""

    def __init__(self, detail: str) -> None:
        super().__init__(PROVIDER_UNAVAILABLE, detail)


def pinned_algorithms(algorithms: list[str]) -> tuple[str, ...]:
    """The ID token algorithms we accept; refuses `none` and HMAC (keyed with the client secret)."""
    refused = [alg for alg in algorithms if alg.lower().startswith(_FORBIDDEN_ALGORITHM_PREFIXES)]
    if refused or not algorithms:
        msg = f"SHIPYARD_OIDC_ID_TOKEN_ALGS must list asymmetric algorithms only (refused: {refused or 'empty'})"
        raise ValueError(msg)
    return tuple(algorithms)


class _BorrowedTransport(httpx2.AsyncBaseTransport):
    """The client's connection pool lent to a short-lived Authlib client; closing that client leaves it open."""

    def __init__(self, pool: httpx2.AsyncBaseTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send through the shared pool."""
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """The owner closes the pool."""


class OIDCClient:
    """One issuer and one confidential client; app-wide (it holds caches and a connection pool, no user state)."""

    def __init__(self, settings: Settings, *, jwks_refetch_interval_s: float = 60.0) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            msg = "sign-in needs SHIPYARD_OIDC_ISSUER and SHIPYARD_OIDC_CLIENT_ID"
            raise ValueError(msg)
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        self.redirect_uri = settings.effective_oidc_redirect_uri
        self.post_logout_redirect_uri = settings.public_url.rstrip("/") + "/"
        self.algorithms = pinned_algorithms(settings.oidc_id_token_algs)
        self._scope = " ".join(settings.oidc_scopes)
        self._leeway = settings.oidc_leeway_s
        self._ttl_s = float(settings.oidc_discovery_ttl_s)
        self._timeout = httpx2.Timeout(settings.oidc_http_timeout_s)
        self._jwks_refetch_interval_s = jwks_refetch_interval_s
        self._pool = httpx2.AsyncHTTPTransport()
        self._http = httpx2.AsyncClient(
            transport=_BorrowedTransport(self._pool), timeout=self._timeout, follow_redirects=False
        )
        self._lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_expires = 0.0
        self._keys: list[Key] = []
        self._keys_expires = 0.0
        self._last_refetch = -float("inf")
        self.jwks_fetches = 0  # for operators' curiosity and the tests

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
        await self._pool.aclose()

    # --- discovery and keys ---------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The issuer's discovery document (cached; a stale copy is kept while the provider is down)."""
        if self._metadata is not None and time.monotonic() < self._metadata_expires:
            return self._metadata
        async with self._lock:
            if self._metadata is not None and time.monotonic() < self._metadata_expires:
                return self._metadata
            try:
                document = await self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
                try:
                    self._metadata = ProviderMetadata.from_discovery(document, self.issuer)
                except ValueError as exc:
                    log.warning("oidc_discovery_unusable", issuer=self.issuer, error=str(exc))
                    raise ProviderUnavailableError(str(exc)) from exc
                self._metadata_expires = time.monotonic() + self._ttl_s
            except ProviderUnavailableError as exc:
                if self._metadata is None:
                    raise
                log.warning("oidc_discovery_stale", issuer=self.issuer, error=exc.detail)
                self._metadata_expires = time.monotonic() + _STALE_GRACE_S
            return self._metadata

    async def _signing_key(self, kid: str | None, alg: str) -> Key:
        metadata = await self.metadata()
        if not self._keys or time.monotonic() >= self._keys_expires:
            await self._refresh_keys(metadata, refetch=False)
        key = _find_key(self._keys, kid, alg)
        if key is None and time.monotonic() - self._last_refetch >= self._jwks_refetch_interval_s:
            # The provider may have rotated its key since we cached the set.
            await self._refresh_keys(metadata, refetch=True)
            key = _find_key(self._keys, kid, alg)
        if key is None:
            raise LoginError(
                INVALID_ID_TOKEN, "The ID token is signed by a key the provider does not publish.", check="kid"
            )
        return key

    async def _refresh_keys(self, metadata: ProviderMetadata, *, refetch: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if refetch:
                if now - self._last_refetch < self._jwks_refetch_interval_s:
                    return  # another request refetched a moment ago
                self._last_refetch = now
            elif self._keys and now < self._keys_expires:
                return
            document = await self._get_json(metadata.jwks_uri)
            self.jwks_fetches += 1
            self._keys = _import_signing_keys(document)
            self._keys_expires = time.monotonic() + self._ttl_s

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            log.warning("oidc_provider_unreachable", url=url, error=type(exc).__name__)
            detail = "The identity provider cannot be reached; try again shortly."
            raise ProviderUnavailableError(detail) from exc
        if response.status_code != httpx2.codes.OK:
            log.warning("oidc_provider_refused", url=url, status=response.status_code)
            detail = f"The identity provider answered {response.status_code}; try again shortly."
            raise ProviderUnavailableError(detail)
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderUnavailableError("The identity provider answered something that is not a JSON object.")
        return document

    # --- the flow -------------------------------------------------------------------------

    def _oauth_client(self) -> Any:  # noqa: ANN401 - Authlib is untyped
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
            scope=self._scope,
            redirect_uri=self.redirect_uri,
            # PKCE: Authlib sends no code_challenge unless told to.
            code_challenge_method="S256",
            transport=_BorrowedTransport(self._pool),
            timeout=self._timeout,
            follow_redirects=False,
        )

    async def authorization_request(self, *, source: str | None = None) -> AuthorizationRequest:
        """A fresh authorization request (state, nonce, PKCE S256), naming the upstream `source` a button chose."""
        metadata = await self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        # Authentik's sign-in flow reads `shipyard_source` to go straight to that source (deploy/authentik/);
        # any other issuer ignores an unknown parameter (RFC 6749 3.1).
        extra = {SOURCE_PARAMETER: source} if source else {}
        async with self._oauth_client() as oauth:
            url, _ = oauth.create_authorization_url(
                metadata.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce, **extra
            )
        if "code_challenge=" not in url or "code_challenge_method=S256" not in url:
            msg = "the authorization request carries no PKCE S256 challenge"
            raise RuntimeError(msg)
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def complete(self, *, code: str, code_verifier: str, nonce: str) -> VerifiedLogin:
        """Exchange `code` (with its PKCE verifier), check the ID token, and read userinfo for the same `sub`."""
        metadata = await self.metadata()
        token = await self._exchange(metadata, code, code_verifier)
        id_token, access_token = token.get("id_token"), token.get("access_token")
        if not isinstance(id_token, str):
            raise LoginError(INVALID_ID_TOKEN, "The identity provider sent no ID token.", check="id_token")
        claims = await self.validate_id_token(
            id_token, nonce=nonce, access_token=access_token if isinstance(access_token, str) else None
        )
        userinfo: dict[str, Any] = {}
        if metadata.userinfo_endpoint and isinstance(access_token, str):
            userinfo = await self._userinfo(metadata.userinfo_endpoint, access_token, claims["sub"])
        return VerifiedLogin(
            issuer=metadata.issuer, subject=claims["sub"], id_token=id_token, id_token_claims=claims, userinfo=userinfo
        )

    async def _exchange(self, metadata: ProviderMetadata, code: str, code_verifier: str) -> dict[str, Any]:
        try:
            async with self._oauth_client() as oauth:
                token = await oauth.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=self.redirect_uri,
                )
        except OAuthError as exc:
            error = exc.error if isinstance(exc.error, str) else "oauth_error"
            log.info("oidc_code_exchange_refused", error=error)
            detail = "The identity provider refused the authorization code."
            raise LoginError(CODE_EXCHANGE_FAILED, detail, check=error[:64]) from exc
        except httpx2.HTTPError as exc:
            log.warning("oidc_token_endpoint_failed", error=type(exc).__name__)
            raise ProviderUnavailableError("The identity provider's token endpoint failed.") from exc
        except ValueError as exc:
            raise LoginError(CODE_EXCHANGE_FAILED, "The token endpoint answered no JSON.", check="response") from exc
        return dict(token)

    async def validate_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None, now: int | None = None
    ) -> dict[str, Any]:
        """The claims of `id_token` once its algorithm, signature, iss, aud, azp, exp/iat and nonce check out."""
        metadata = await self.metadata()
        try:
            header = jws.extract_compact(id_token.encode("ascii")).headers()
        except (JoseError, ValueError) as exc:
            raise LoginError(INVALID_ID_TOKEN, "The ID token is malformed.", check="format") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise LoginError(
                INVALID_ID_TOKEN, "The ID token is signed with an algorithm we do not accept.", check="alg"
            )
        kid = header.get("kid")
        key = await self._signing_key(kid if isinstance(kid, str) else None, alg)
        try:
            token = jwt.decode(id_token, key, algorithms=[alg])
        except BadSignatureError as exc:
            raise LoginError(INVALID_ID_TOKEN, "The ID token's signature is wrong.", check="signature") from exc
        except (JoseError, ValueError) as exc:
            raise LoginError(INVALID_ID_TOKEN, "The ID token is malformed.", check="format") from exc
        claims = CodeIDToken(
            token.claims,
            token.header,
            # Passing options replaces Authlib's own `iss` check: both are listed here, as essential.
            {
                "iss": {"essential": True, "value": metadata.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "nonce": {"essential": True},
            },
            # client_id: Authlib requires `azp` to name us when `aud` has several values (or is not us).
            {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
        )
        try:
            claims.validate(now=now, leeway=self._leeway)
        except ExpiredTokenError as exc:
            raise LoginError(INVALID_ID_TOKEN, "The ID token has expired.", check="exp") from exc
        except ClaimError as exc:
            if exc.claim == "nonce":
                raise LoginError(NONCE_MISMATCH, "The ID token was issued for another sign-in.", check="nonce") from exc
            raise LoginError(
                INVALID_ID_TOKEN, f"The ID token's '{exc.claim}' claim is wrong.", check=exc.claim
            ) from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT_LENGTH:
            raise LoginError(INVALID_ID_TOKEN, "The ID token's subject is unusable.", check="sub")
        return dict(claims)

    async def _userinfo(self, endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
        try:
            response = await self._http.get(
                endpoint, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
            )
        except httpx2.HTTPError as exc:
            raise ProviderUnavailableError("The identity provider's userinfo endpoint failed.") from exc
        try:
            document = response.json() if response.status_code == httpx2.codes.OK else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise LoginError(PROVIDER_ERROR, "The identity provider refused the userinfo request.", check="userinfo")
        if document.get("sub") != subject:
            # OpenID Connect Core 5.3.2: the userinfo answer may be for someone else; it must not be used.
            raise LoginError(USERINFO_MISMATCH, "The userinfo answer is about another person.", check="sub")
        return document

    async def end_session_url(self, id_token_hint: str | None) -> str | None:
        """Where to send the browser to end the session at the provider (RP-initiated logout); None if unsupported."""
        try:
            metadata = await self.metadata()
        except ProviderUnavailableError:
            return None
        if not metadata.end_session_endpoint:
            return None
        params = {"client_id": self.client_id, "post_logout_redirect_uri": self.post_logout_redirect_uri}
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{urlencode(params)}"


def _import_signing_keys(document: dict[str, Any]) -> list[Key]:
    """The signature keys of a JWKS (encryption keys and keys we cannot read are skipped)."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ProviderUnavailableError("The identity provider's JWKS has no keys.")
    usable = [entry for entry in entries if isinstance(entry, dict) and entry.get("use", "sig") == "sig"]
    try:
        return list(KeySet.import_key_set({"keys": usable}).keys) if usable else []
    except (JoseError, ValueError) as exc:
        raise ProviderUnavailableError("The identity provider's JWKS cannot be read.") from exc


def _find_key(keys: list[Key], kid: str | None, alg: str) -> Key | None:
    """The key for `kid` that may sign with `alg`; without a kid, the only such key."""
    if kid is None:
        candidates = [key for key in keys if key.get("alg") in {None, alg}]
        return candidates[0] if len(candidates) == 1 else None
    try:
        return KeySet(keys).get_by_kid(kid, {"alg": alg})
    except InvalidKeyIdError:
        return None


def create_oidc_client(settings: Settings) -> OIDCClient | None:
    """The OIDC client for `settings`, or None when sign-in is not configured."""
    if not settings.oidc_enabled:
        return None
    return OIDCClient(settings)
