"""The test OpenID provider is a real OP: discovery, code flow with PKCE, signed tokens, tampering on demand."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, OctKey

from tests.fixtures.oidc import (
    OidcInteractionError,
    OidcProvider,
    cancel_at_provider,
    oidc_provider_fixture,
    sign_in_at_provider,
    sign_out_at_provider,
    start_oidc_provider,
)
from tests.fixtures.oidc_tamper import TamperMode

CALLBACK = "http://testserver/api/auth/callback"
HOME = "http://testserver/"


provider = oidc_provider_fixture(redirect_uris=[CALLBACK], post_logout_redirect_uris=[HOME])


@pytest.fixture
async def idp_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_url(provider: OidcProvider, *, state: str, nonce: str, challenge: str | None) -> str:
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{provider.metadata['authorization_endpoint']}?{urlencode(params)}"


async def _sign_in(provider: OidcProvider, http: httpx.AsyncClient, login: str) -> tuple[dict[str, Any], str]:
    """The whole relying-party side by hand; returns (token response, nonce)."""
    verifier, challenge = _pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    final = await sign_in_at_provider(
        http, _authorize_url(provider, state=state, nonce=nonce, challenge=challenge), login=login
    )
    assert final.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(final).query)
    assert query["state"] == [state]
    assert query["iss"] == [provider.issuer]
    response = await http.post(
        provider.metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(provider.client_id, provider.client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json(), nonce


async def _verified_claims(provider: OidcProvider, http: httpx.AsyncClient, id_token: str) -> dict[str, Any]:
    jwks = KeySet.import_key_set((await http.get(provider.metadata["jwks_uri"])).json())
    return dict(jwt.decode(id_token, jwks, algorithms=["RS256"]).claims)


def _unverified_part(id_token: str, index: int) -> dict[str, Any]:
    part = id_token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _unverified_claims(id_token: str) -> dict[str, Any]:
    return _unverified_part(id_token, 1)


async def test_discovery_names_the_issuer_requires_s256_and_offers_logout(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    document = (await idp_http.get(provider.discovery_url)).json()
    assert document["issuer"] == provider.issuer
    assert provider.issuer.startswith("http://127.0.0.1:")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["end_session_endpoint"] == f"{provider.issuer}/session/end"
    assert "none" not in document["id_token_signing_alg_values_supported"]


async def test_code_flow_with_pkce_yields_an_id_token_signed_by_the_published_key(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    tokens, nonce = await _sign_in(provider, idp_http, "alice")

    claims = await _verified_claims(provider, idp_http, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == provider.client_id
    assert claims["nonce"] == nonce
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Liddell"
    assert claims["shipyard_source"] == "google"
    userinfo = await idp_http.get(
        provider.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.json()["sub"] == "alice"
    assert userinfo.json()["shipyard_source"] == "google"


async def test_unverified_account_says_so_in_its_id_token(provider: OidcProvider, idp_http: httpx.AsyncClient) -> None:
    tokens, _ = await _sign_in(provider, idp_http, "mallory")

    claims = await _verified_claims(provider, idp_http, tokens["id_token"])
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is False
    assert claims["shipyard_source"] == "github"


async def test_authorization_without_pkce_is_refused_with_an_error_redirect(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    url = _authorize_url(provider, state="s", nonce="n", challenge=None)

    final = await sign_in_at_provider(idp_http, url, login="alice")

    query = parse_qs(urlsplit(final).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


async def test_a_code_exchanged_without_its_verifier_is_refused(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    _, challenge = _pkce_pair()
    url = _authorize_url(provider, state="s", nonce="n", challenge=challenge)
    code = parse_qs(urlsplit(await sign_in_at_provider(idp_http, url, login="bob")).query)["code"][0]

    response = await idp_http.post(
        provider.metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(provider.client_id, provider.client_secret),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_cancel_at_the_login_page_returns_access_denied(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    _, challenge = _pkce_pair()

    final = await cancel_at_provider(idp_http, _authorize_url(provider, state="s", nonce="n", challenge=challenge))

    assert final.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(final).query)["error"] == ["access_denied"]


async def test_sign_out_ends_the_session_at_the_provider(provider: OidcProvider, idp_http: httpx.AsyncClient) -> None:
    tokens, _ = await _sign_in(provider, idp_http, "carol")
    _, challenge = _pkce_pair()
    again = _authorize_url(provider, state="s", nonce="n", challenge=challenge)
    assert (await sign_in_at_provider(idp_http, again, login=None)).startswith(CALLBACK + "?code=")
    logout = f"{provider.metadata['end_session_endpoint']}?" + urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": HOME, "state": "bye"}
    )

    final = await sign_out_at_provider(idp_http, logout)

    assert final == HOME + "?state=bye"
    with pytest.raises(OidcInteractionError, match="asks for a login"):
        await sign_in_at_provider(idp_http, again, login=None)


async def test_apple_user_sends_the_name_only_on_the_first_sign_in(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    first, _ = await _sign_in(provider, idp_http, "apple-user")
    idp_http.cookies.clear()

    second, _ = await _sign_in(provider, idp_http, "apple-user")

    assert _unverified_claims(first["id_token"])["name"] == "Ada Apple"
    later = _unverified_claims(second["id_token"])
    assert "name" not in later
    assert "given_name" not in later
    assert later["email"] == "apple-user@privaterelay.appleid.com"


async def test_reset_forgets_sessions_and_first_logins(provider: OidcProvider, idp_http: httpx.AsyncClient) -> None:
    await _sign_in(provider, idp_http, "apple-user")
    _, challenge = _pkce_pair()

    provider.reset()

    with pytest.raises(OidcInteractionError, match="asks for a login"):
        await sign_in_at_provider(
            idp_http, _authorize_url(provider, state="s", nonce="n", challenge=challenge), login=None
        )
    idp_http.cookies.clear()
    tokens, _ = await _sign_in(provider, idp_http, "apple-user")
    assert _unverified_claims(tokens["id_token"])["name"] == "Ada Apple"


async def test_wrong_aud_tamper_re_signs_the_id_token_with_the_real_key(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    with provider.tamper("wrong_aud") as tampering:
        tokens, _ = await _sign_in(provider, idp_http, "alice")

    assert tampering.applied == 1
    claims = await _verified_claims(provider, idp_http, tokens["id_token"])
    assert claims["aud"] == "someone-elses-client"
    assert _unverified_claims(tampering.original_id_tokens[0])["aud"] == provider.client_id


async def test_other_key_tamper_breaks_the_signature(provider: OidcProvider, idp_http: httpx.AsyncClient) -> None:
    with provider.tamper("other_key"):
        tokens, _ = await _sign_in(provider, idp_http, "alice")

    with pytest.raises(BadSignatureError):
        await _verified_claims(provider, idp_http, tokens["id_token"])


async def test_userinfo_tamper_changes_only_the_userinfo_sub(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    with provider.tamper("userinfo_sub_mismatch") as tampering:
        tokens, _ = await _sign_in(provider, idp_http, "alice")
        userinfo = await idp_http.get(
            provider.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )

    assert tampering.applied == 1
    assert userinfo.json()["sub"] == "someone-else"
    assert (await _verified_claims(provider, idp_http, tokens["id_token"]))["sub"] == "alice"


def test_tampering_needs_the_proxy() -> None:
    provider = OidcProvider(redirect_uris=[CALLBACK], tamperable=False)

    with pytest.raises(RuntimeError, match="tamperable=False"), provider.tamper("wrong_iss"):
        pass


async def test_rotated_key_signs_new_tokens_and_tampering_follows_it(tmp_path: Path) -> None:
    with start_oidc_provider(tmp_path, redirect_uris=[CALLBACK]) as provider:
        assert provider.log_path.is_relative_to(tmp_path)
        assert "listening on 127.0.0.1" in provider.log_tail()
        old_kid = provider.private_jwk["kid"]

        new_kid = provider.rotate_signing_key()["kid"]

        async with httpx.AsyncClient(timeout=10) as http:
            published = {key["kid"] for key in (await http.get(provider.metadata["jwks_uri"])).json()["keys"]}
            with provider.tamper("nonce_mismatch"):
                tokens, nonce = await _sign_in(provider, http, "bob")
            claims = await _verified_claims(provider, http, tokens["id_token"])
    assert new_kid != old_kid
    assert published == {old_kid, new_kid}
    assert _unverified_part(tokens["id_token"], 0)["kid"] == new_kid
    assert claims["nonce"] != nonce


_OURS = object()


def _check_re_signed(expected: dict[str, Any]) -> Callable[[OidcProvider, KeySet, str], None]:
    def check(provider: OidcProvider, jwks: KeySet, token: str) -> None:
        claims = jwt.decode(token, jwks, algorithms=["RS256"]).claims
        for name, value in expected.items():
            assert claims[name] == (provider.client_id if value is _OURS else value), name

    return check


def _check_unsigned(provider: OidcProvider, jwks: KeySet, token: str) -> None:  # noqa: ARG001
    assert _unverified_part(token, 0)["alg"] == "none"
    assert token.endswith(".")


def _check_hs256(provider: OidcProvider, jwks: KeySet, token: str) -> None:  # noqa: ARG001
    key = OctKey.import_key(provider.client_secret.encode())
    assert jwt.decode(token, key, algorithms=["HS256"]).claims["sub"] == "alice"


def _check_foreign_key(*, kid_published: bool) -> Callable[[OidcProvider, KeySet, str], None]:
    def check(provider: OidcProvider, jwks: KeySet, token: str) -> None:  # noqa: ARG001
        assert (_unverified_part(token, 0)["kid"] in {key.kid for key in jwks}) is kid_published
        with pytest.raises((BadSignatureError, InvalidKeyIdError)):
            jwt.decode(token, jwks, algorithms=["RS256"])

    return check


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("wrong_aud", _check_re_signed({"aud": "someone-elses-client"})),
        ("wrong_aud_azp_ours", _check_re_signed({"aud": "someone-elses-client", "azp": _OURS})),
        ("azp_mismatch_with_multiple_aud", _check_re_signed({"azp": "someone-elses-client"})),
        ("wrong_iss", _check_re_signed({"iss": "http://127.0.0.1:1/not-the-issuer"})),
        ("alg_none", _check_unsigned),
        ("hs256_client_secret", _check_hs256),
        ("other_key", _check_foreign_key(kid_published=True)),
        ("unknown_kid", _check_foreign_key(kid_published=False)),
    ],
)
async def test_each_id_token_mode_serves_the_token_it_promises(
    provider: OidcProvider, idp_http: httpx.AsyncClient, mode: TamperMode, check: Callable[..., None]
) -> None:
    with provider.tamper(mode) as tampering:
        tokens, _ = await _sign_in(provider, idp_http, "alice")

    assert tampering.applied == 1
    jwks = KeySet.import_key_set((await idp_http.get(provider.metadata["jwks_uri"])).json())
    check(provider, jwks, tokens["id_token"])


async def test_expired_mode_backdates_exp_and_iat(provider: OidcProvider, idp_http: httpx.AsyncClient) -> None:
    with provider.tamper("expired"):
        tokens, _ = await _sign_in(provider, idp_http, "alice")

    claims = await _verified_claims(provider, idp_http, tokens["id_token"])  # signature checks, not exp
    assert claims["exp"] < time.time() - 500
    assert claims["iat"] < claims["exp"]


async def test_alg_none_mode_also_advertises_none_in_discovery(
    provider: OidcProvider, idp_http: httpx.AsyncClient
) -> None:
    with provider.tamper("alg_none"):
        document = (await idp_http.get(provider.discovery_url)).json()

    assert "none" in document["id_token_signing_alg_values_supported"]
