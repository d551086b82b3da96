"""The OpenID Connect client on its own, against the real provider: discovery, keys, ID token checks, logout."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shipyard.auth.oidc import client as oidc
from shipyard.auth.oidc.client import LoginError, OIDCClient, ProviderUnavailableError
from shipyard.auth.oidc.schemas import ProviderMetadata, VerifiedLogin
from shipyard.settings import Settings
from tests.fixtures.oidc import OidcProvider, sign_in_at_provider, sign_out_at_provider
from tests.fixtures.servers import free_port
from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    PUBLIC_URL,
    oidc_provider,
    query_of,
)


def _settings(provider: OidcProvider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "public_url": PUBLIC_URL,
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": SecretStr(provider.client_secret),
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
async def client(oidc_provider: OidcProvider) -> AsyncIterator[OIDCClient]:
    oidc_client = OIDCClient(_settings(oidc_provider))
    yield oidc_client
    await oidc_client.aclose()


async def _sign_in(client: OIDCClient, login: str = "alice") -> tuple[VerifiedLogin, str]:
    """A real sign-in through the provider, finished by `client` alone; (result, nonce)."""
    request = await client.authorization_request()
    async with httpx.AsyncClient(timeout=30) as idp:
        callback = query_of(await sign_in_at_provider(idp, request.url, login=login))
    assert callback["state"] == request.state
    verified = await client.complete(code=callback["code"], code_verifier=request.code_verifier, nonce=request.nonce)
    return verified, request.nonce


async def test_a_sign_in_yields_the_checked_claims_and_a_matching_userinfo(client: OIDCClient) -> None:
    verified, nonce = await _sign_in(client)

    assert verified.issuer == client.issuer
    assert verified.subject == "alice"
    assert verified.id_token_claims["nonce"] == nonce
    assert verified.id_token_claims["aud"] == client.client_id
    assert verified.userinfo["sub"] == "alice"
    assert verified.userinfo["email_verified"] is True
    assert verified.userinfo["shipyard_source"] == "google"


async def test_discovery_and_keys_are_fetched_once_and_cached(client: OIDCClient) -> None:
    first = await client.metadata()
    await _sign_in(client)
    await _sign_in(client, "bob")

    assert await client.metadata() is first
    assert client.jwks_fetches == 1


async def test_a_rotated_signing_key_is_picked_up_by_refetching_the_jwks(
    client: OIDCClient, oidc_provider: OidcProvider
) -> None:
    await _sign_in(client)
    new_key = oidc_provider.rotate_signing_key()  # restarts the provider, signing with an unseen kid

    verified, _ = await _sign_in(client, "bob")

    assert verified.subject == "bob"
    assert client.jwks_fetches == 2
    assert new_key["kid"] in {key.kid for key in client._keys}


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
    client: OIDCClient, oidc_provider: OidcProvider
) -> None:
    await _sign_in(client)
    with oidc_provider.tamper("unknown_kid") as tampering:
        for _ in range(3):
            with pytest.raises(LoginError) as refused:
                await _sign_in(client)
            assert (refused.value.reason, refused.value.check) == (oidc.INVALID_ID_TOKEN, "kid")
    assert tampering.applied == 3
    assert client.jwks_fetches == 2  # the first fetch, then one refetch for the three forged tokens


async def test_the_id_token_is_checked_with_leeway_on_expiry_and_issue_time(client: OIDCClient) -> None:
    verified, nonce = await _sign_in(client)
    claims = verified.id_token_claims
    leeway = 60

    await client.validate_id_token(verified.id_token, nonce=nonce, now=claims["exp"] + leeway - 1)
    with pytest.raises(LoginError) as expired:
        await client.validate_id_token(verified.id_token, nonce=nonce, now=claims["exp"] + leeway)
    assert expired.value.check == "exp"
    with pytest.raises(LoginError) as early:
        await client.validate_id_token(verified.id_token, nonce=nonce, now=claims["iat"] - leeway - 1)
    assert early.value.check == "iat"


async def test_an_id_token_is_refused_for_another_nonce(client: OIDCClient) -> None:
    verified, _ = await _sign_in(client)

    with pytest.raises(LoginError) as refused:
        await client.validate_id_token(verified.id_token, nonce="a-nonce-this-sign-in-never-sent")

    assert refused.value.reason == oidc.NONCE_MISMATCH


async def test_discovery_listing_none_does_not_let_an_unsigned_token_through(
    client: OIDCClient, oidc_provider: OidcProvider
) -> None:
    with oidc_provider.tamper("alg_none") as tampering:
        with pytest.raises(LoginError) as refused:
            await _sign_in(client)
        async with httpx.AsyncClient() as http:
            discovery = (await http.get(oidc_provider.discovery_url)).json()
        assert "none" in discovery["id_token_signing_alg_values_supported"]
    assert tampering.applied == 1
    assert (refused.value.reason, refused.value.check) == (oidc.INVALID_ID_TOKEN, "alg")
    assert client.algorithms == ("RS256", "ES256")


@pytest.mark.parametrize("algorithms", [["none"], ["RS256", "HS256"], ["hs512"], []])
def test_only_asymmetric_id_token_algorithms_can_be_configured(algorithms: list[str]) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        oidc.pinned_algorithms(algorithms)


async def test_a_discovery_document_for_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    # The document at <issuer>/.well-known names the issuer without the trailing slash.
    oidc_client = OIDCClient(_settings(oidc_provider, oidc_issuer=oidc_provider.issuer + "/"))
    try:
        with pytest.raises(ProviderUnavailableError, match="another issuer"):
            await oidc_client.authorization_request()
    finally:
        await oidc_client.aclose()


async def test_an_unreachable_provider_is_reported_as_unavailable(oidc_provider: OidcProvider) -> None:
    oidc_client = OIDCClient(_settings(oidc_provider, oidc_issuer=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(ProviderUnavailableError):
            await oidc_client.metadata()
        assert await oidc_client.end_session_url("hint") is None
    finally:
        await oidc_client.aclose()


async def test_a_provider_button_names_its_source_and_a_plain_issuer_ignores_it(
    client: OIDCClient, oidc_provider: OidcProvider
) -> None:
    plain = await client.authorization_request()
    via_github = await client.authorization_request(source="github")

    assert "shipyard_source" not in query_of(plain.url)
    assert query_of(via_github.url)["shipyard_source"] == "github"  # what Authentik's flow reads
    assert via_github.url.startswith(oidc_provider.metadata["authorization_endpoint"] + "?")
    async with httpx.AsyncClient(timeout=30) as idp:
        callback = query_of(await sign_in_at_provider(idp, via_github.url, login="bob"))
    verified = await client.complete(
        code=callback["code"], code_verifier=via_github.code_verifier, nonce=via_github.nonce
    )
    assert verified.subject == "bob"


async def test_rp_initiated_logout_ends_the_session_at_the_provider(client: OIDCClient) -> None:
    request = await client.authorization_request()
    async with httpx.AsyncClient(timeout=30) as idp:
        callback = query_of(await sign_in_at_provider(idp, request.url, login="alice"))
        verified = await client.complete(
            code=callback["code"], code_verifier=request.code_verifier, nonce=request.nonce
        )
        logout_url = await client.end_session_url(verified.id_token)
        assert logout_url is not None
        params = query_of(logout_url)
        assert params["id_token_hint"] == verified.id_token
        assert params["post_logout_redirect_uri"] == f"{PUBLIC_URL}/"
        assert await sign_out_at_provider(idp, logout_url) == f"{PUBLIC_URL}/"

        # Signed out there: the provider asks for a login again.
        again = await client.authorization_request()
        await sign_in_at_provider(idp, again.url, login="bob")


async def test_sign_in_is_off_without_an_issuer() -> None:
    assert oidc.create_oidc_client(Settings.model_validate({"env": "test"})) is None


async def test_a_provider_that_never_answers_times_out(oidc_provider: OidcProvider) -> None:
    release = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]  # a handler runs in a task
        await reader.read(1024)
        await release.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = _settings(oidc_provider, oidc_issuer=f"http://127.0.0.1:{port}", oidc_http_timeout_s=0.3)
    oidc_client = OIDCClient(settings)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderUnavailableError):
            await oidc_client.metadata()
        elapsed = time.monotonic() - started
    finally:
        await oidc_client.aclose()
        release.set()
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert handlers  # the request did reach the silent server
    assert elapsed < 5


DISCOVERY = {
    "issuer": "https://idp.example",
    "authorization_endpoint": "https://idp.example/authorize",
    "token_endpoint": "https://idp.example/token",
    "jwks_uri": "https://idp.example/jwks",
    "userinfo_endpoint": "https://idp.example/userinfo",
}


def test_discovery_tells_whether_the_provider_promises_rfc_9207_iss() -> None:
    assert not ProviderMetadata.from_discovery(DISCOVERY, "https://idp.example").iss_parameter_supported
    for advertised, required in ((True, True), (False, False), ("true", False)):
        document = {**DISCOVERY, "authorization_response_iss_parameter_supported": advertised}
        assert ProviderMetadata.from_discovery(document, "https://idp.example").iss_parameter_supported is required


def test_an_https_issuer_needs_https_endpoints() -> None:
    metadata = ProviderMetadata.from_discovery(DISCOVERY, "https://idp.example")
    assert (metadata.userinfo_endpoint, metadata.end_session_endpoint) == ("https://idp.example/userinfo", None)
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        with pytest.raises(ValueError, match=name):
            ProviderMetadata.from_discovery({**DISCOVERY, name: "http://idp.example/x"}, "https://idp.example")
    plain = ProviderMetadata.from_discovery(
        {**DISCOVERY, "userinfo_endpoint": "http://idp.example/u"}, "https://idp.example"
    )
    assert plain.userinfo_endpoint is None  # never sent a bearer token over plain http
