"""deploy/authentik/blueprint.yaml: the security-relevant structure, and the Python expressions it ships.

No authentik runs here, so the blueprint is read with a YAML loader that keeps authentik's tags
(`!Env`, `!Find`, `!KeyOf`, ...) as values, and the expressions are run as authentik runs them: as the
body of a function whose parameters are the variables authentik provides.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from tests.fixtures.authentik_blueprint import Tag, all_tags, expression_text, load_blueprint, run_expression

BLUEPRINT = Path(__file__).resolve().parents[2] / "deploy" / "authentik" / "blueprint.yaml"
SOURCES = {"google": "google", "github": "github", "entraid": "entraid", "apple": "apple"}
AUTHENTIK_TAGS = {"!Env", "!File", "!Find", "!KeyOf", "!Context", "!Format", "!If", "!Condition"}


@pytest.fixture(scope="module")
def blueprint() -> dict[str, Any]:
    return load_blueprint(BLUEPRINT)


def entries(blueprint: dict[str, Any], model: str) -> list[dict[str, Any]]:
    return [entry for entry in blueprint["entries"] if entry["model"] == model]


def by_id(blueprint: dict[str, Any], entry_id: str) -> dict[str, Any]:
    [entry] = [entry for entry in blueprint["entries"] if entry.get("id") == entry_id]
    return entry


def source(blueprint: dict[str, Any], slug: str) -> dict[str, Any]:
    [entry] = [e for e in entries(blueprint, "authentik_sources_oauth.oauthsource") if e["identifiers"]["slug"] == slug]
    return entry


def the_provider(blueprint: dict[str, Any]) -> dict[str, Any]:
    [provider] = entries(blueprint, "authentik_providers_oauth2.oauth2provider")
    return provider["attrs"]


def env_name(blueprint: dict[str, Any], value: Any) -> str:
    """The environment variable a value is read from (through `!Context` when needed), or fail."""
    if isinstance(value, Tag) and value.name == "!Context":
        value = blueprint["context"][value.value]
    assert isinstance(value, Tag), f"{value!r} is a literal, not read from the environment"
    assert value.name == "!Env", value
    return str(value.value[0] if isinstance(value.value, list) else value.value)


# --- structure -----------------------------------------------------------------------------------------------


def test_only_authentik_tags_are_used_and_every_key_of_names_an_earlier_entry(blueprint: dict[str, Any]) -> None:
    assert blueprint["version"] == 1
    assert {tag.name for tag in all_tags(blueprint)} <= AUTHENTIK_TAGS
    seen: set[str] = set()
    for entry in blueprint["entries"]:
        for tag in all_tags(entry):
            if tag.name == "!KeyOf":
                assert tag.value in seen, f"!KeyOf {tag.value} before (or without) its entry"
        if "id" in entry:
            seen.add(entry["id"])
    contexts = {tag.value for tag in all_tags(blueprint["entries"]) if tag.name == "!Context"}
    assert contexts <= set(blueprint["context"])


def test_the_file_holds_no_secret_only_environment_references(blueprint: dict[str, Any]) -> None:
    text = BLUEPRINT.read_text()
    assert "PRIVATE KEY" not in text
    # Client secrets and keys look like long runs of letters mixed with digits (hex, base64).
    token_like = [word for word in re.findall(r"[A-Za-z0-9+/=_-]{24,}", text) if sum(c.isdigit() for c in word) >= 6]
    assert token_like == []
    provider = the_provider(blueprint)
    assert env_name(blueprint, provider["client_id"]) == "SHIPYARD_OIDC_CLIENT_ID"
    assert env_name(blueprint, provider["client_secret"]) == "SHIPYARD_OIDC_CLIENT_SECRET"
    for slug in SOURCES:
        attrs = source(blueprint, slug)["attrs"]
        secret = env_name(blueprint, attrs["consumer_secret"])
        assert secret.startswith("SHIPYARD_")
        key = attrs["consumer_key"]
        keys = key.value[1:] if isinstance(key, Tag) and key.name == "!Format" else [key]
        assert all(env_name(blueprint, part).startswith("SHIPYARD_") for part in keys)
        # An unconfigured source is created switched off, not with somebody's credentials.
        assert attrs["enabled"] == Tag("!If", [attrs["enabled"].value[0], True, False])
        assert env_name(blueprint, attrs["enabled"].value[0]).startswith("SHIPYARD_")


def test_the_provider_is_a_confidential_client_with_one_strict_redirect_uri(blueprint: dict[str, Any]) -> None:
    provider = the_provider(blueprint)
    assert provider["client_type"] == "confidential"
    [redirect] = provider["redirect_uris"]
    assert redirect["matching_mode"] == "strict"
    assert env_name(blueprint, redirect["url"]) == "SHIPYARD_OIDC_REDIRECT_URI"
    assert provider["signing_key"].name == "!Find"
    assert provider["signing_key"].value[0] == "authentik_crypto.certificatekeypair"
    assert provider["access_token_validity"] == "minutes=15"
    assert provider["refresh_token_validity"] == "hours=24"
    assert provider["include_claims_in_id_token"] is True
    assert provider["authentication_flow"] == Tag("!KeyOf", "flow-signin")
    [application] = entries(blueprint, "authentik_core.application")
    assert application["attrs"]["provider"] == Tag("!KeyOf", "provider")


def test_the_scopes_are_openid_email_profile_offline_access_with_the_truthful_email(blueprint: dict[str, Any]) -> None:
    scopes = set()
    for mapping in the_provider(blueprint)["property_mappings"]:
        if mapping.name == "!KeyOf":
            scopes.add(by_id(blueprint, mapping.value)["attrs"]["scope_name"])
        else:
            model, (field, managed) = mapping.value
            assert (model, field) == ("authentik_providers_oauth2.scopemapping", "managed")
            # authentik's default email mapping always says email_verified: false; it must not be used.
            assert managed != "goauthentik.io/providers/oauth2/scope-email"
            scopes.add(managed.rsplit("scope-", 1)[1])
    assert scopes == {"openid", "email", "profile", "offline_access"}


def test_the_four_sources_never_link_by_email_and_use_pkce_where_supported(blueprint: dict[str, Any]) -> None:
    sources = entries(blueprint, "authentik_sources_oauth.oauthsource")
    assert {entry["identifiers"]["slug"]: entry["attrs"]["provider_type"] for entry in sources} == SOURCES
    for entry in sources:
        assert entry["attrs"]["user_matching_mode"] == "identifier"
    assert "email_link" not in BLUEPRINT.read_text().replace("`email_link`", "")
    assert {slug: source(blueprint, slug)["attrs"]["pkce"] for slug in SOURCES} == {
        "google": "S256",
        "github": "S256",
        "entraid": "S256",
        "apple": "none",
    }
    github_scopes = source(blueprint, "github")["attrs"]["additional_scopes"].lstrip("*").split()
    assert sorted(github_scopes) == ["read:user", "user:email"]


def test_each_source_runs_its_own_mapping_and_the_shipyard_source_flows(blueprint: dict[str, Any]) -> None:
    for slug in SOURCES:
        attrs = source(blueprint, slug)["attrs"]
        [mapping] = attrs["user_property_mappings"]
        expression = by_id(blueprint, mapping.value)["attrs"]["expression"]
        assert f'"shipyard_source": "{slug}"' in expression
        assert attrs["authentication_flow"] == Tag("!KeyOf", "flow-source-authentication")
        assert attrs["enrollment_flow"] == Tag("!KeyOf", "flow-source-enrollment")
    assert by_id(blueprint, "stage-update-user")["attrs"]["user_creation_mode"] == "never_create"
    assert by_id(blueprint, "stage-create-user")["attrs"]["user_creation_mode"] == "always_create"
    bindings = entries(blueprint, "authentik_flows.flowstagebinding")
    ordered = sorted(bindings, key=lambda binding: binding["identifiers"]["order"])

    def stages(flow: str) -> list[str]:
        return [b["identifiers"]["stage"].value for b in ordered if b["identifiers"]["target"] == Tag("!KeyOf", flow)]

    assert stages("flow-source-authentication") == ["stage-update-user", "stage-login"]
    assert stages("flow-source-enrollment") == ["stage-create-user", "stage-login"]


def test_every_expression_compiles(blueprint: dict[str, Any]) -> None:
    expressions = [
        entry["attrs"]["expression"] for entry in blueprint["entries"] if "expression" in entry.get("attrs", {})
    ]
    assert len(expressions) == 4 + 2 + 1 + 5
    for expression in expressions:
        text = expression_text(expression)
        compile(f"def handler():\n{textwrap.indent(text, '    ')}\n", str(BLUEPRINT), "exec")


# --- the ID token's email_verified and shipyard_source ----------------------------------------------------------


def _user(email: str, **attributes: Any) -> SimpleNamespace:
    return SimpleNamespace(email=email, attributes=attributes)


@pytest.mark.parametrize(
    ("email", "attributes", "verified"),
    [
        ("ada@example.com", {"shipyard_verified_email": "ada@example.com"}, True),
        ("Ada@Example.com", {"shipyard_verified_email": "ada@example.com"}, True),
        ("ada@example.com", {"shipyard_verified_email": ""}, False),
        ("ada@example.com", {"shipyard_verified_email": "old@example.com"}, False),
        ("ada@example.com", {}, False),
        ("", {"shipyard_verified_email": ""}, False),
    ],
)
def test_email_verified_is_true_only_for_the_address_the_upstream_verified(
    blueprint: dict[str, Any], email: str, attributes: dict[str, Any], *, verified: bool
) -> None:
    expression = by_id(blueprint, "scope-email")["attrs"]["expression"]
    claims = run_expression(expression, request=SimpleNamespace(user=_user(email, **attributes)))
    assert claims == {"email": email, "email_verified": verified}


def test_shipyard_source_falls_back_to_the_last_source_outside_a_session(blueprint: dict[str, Any]) -> None:
    expression = by_id(blueprint, "scope-shipyard-source")["attrs"]["expression"]
    request = SimpleNamespace(user=_user("ada@example.com", shipyard_source="github"))
    assert run_expression(expression, request=request, token=SimpleNamespace(session=None)) == {
        "shipyard_source": "github"
    }
    # Outside authentik the login-event lookup cannot import; the claim still comes out.
    assert run_expression(expression, request=request, token=SimpleNamespace(session=object())) == {
        "shipyard_source": "github"
    }
    assert run_expression(expression, request=SimpleNamespace(user=_user("")), token=None) == {"shipyard_source": None}


# --- what each upstream's data turns into ---------------------------------------------------------------------


def _mapping(blueprint: dict[str, Any], slug: str) -> str:
    return str(by_id(blueprint, f"mapping-{slug}")["attrs"]["expression"])


@pytest.mark.parametrize(("flag", "verified"), [({"verified_email": True}, True), ({"verified_email": False}, False)])
def test_google_verification_comes_from_google(
    blueprint: dict[str, Any], flag: dict[str, Any], *, verified: bool
) -> None:
    info = {"id": "1234", "email": "ada@gmail.com", **flag}
    user = run_expression(_mapping(blueprint, "google"), info=info, client=None, token={})
    assert user["username"] == "google-1234"
    assert user["email"] == "ada@gmail.com"
    assert user["attributes"] == {
        "shipyard_source": "google",
        "shipyard_verified_email": "ada@gmail.com" if verified else "",
    }


class GitHubClient:
    """The part of authentik's GitHub client the mapping calls: the /user/emails listing."""

    def __init__(self, emails: list[dict[str, Any]]) -> None:
        self.emails = emails

    def get_github_emails(self, token: dict[str, str]) -> list[dict[str, Any]]:
        assert token == {"access_token": "gho_x"}
        return self.emails


@pytest.mark.parametrize(
    ("emails", "email", "verified"),
    [
        ([{"email": "ada@example.com", "primary": True, "verified": True}], "ada@example.com", True),
        ([{"email": "ada@example.com", "primary": True, "verified": False}], "ada@example.com", False),
        (
            [
                {"email": "old@example.com", "primary": False, "verified": True},
                {"email": "ada@example.com", "primary": True, "verified": False},
            ],
            "ada@example.com",
            False,
        ),
        ([], "public@example.com", False),
    ],
)
def test_github_verification_is_that_of_the_primary_address(
    blueprint: dict[str, Any], emails: list[dict[str, Any]], email: str, *, verified: bool
) -> None:
    info = {"id": 42, "login": "ada", "email": "public@example.com" if not emails else None}
    user = run_expression(
        _mapping(blueprint, "github"), info=info, client=GitHubClient(emails), token={"access_token": "gho_x"}
    )
    assert user["username"] == "github-42"
    assert user["email"] == email
    assert user["attributes"]["shipyard_verified_email"] == (email if verified else "")


def _unsigned_id_token(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    ("claims", "verified"),
    [
        ({"email": "ada@contoso.com", "xms_edov": True}, True),
        ({"email": "ada@contoso.com", "xms_edov": "1"}, True),
        ({"email": "ada@contoso.com"}, False),
        ({"email": "ada@contoso.com", "xms_edov": False}, False),
        ({"email": "someone-else@contoso.com", "xms_edov": True}, False),
    ],
)
def test_microsoft_addresses_are_verified_only_with_xms_edov(
    blueprint: dict[str, Any], claims: dict[str, Any], *, verified: bool
) -> None:
    info = {"id": "0000-aaaa", "mail": "ada@contoso.com", "userPrincipalName": "ada@contoso.com"}
    token = {"access_token": "x", "id_token": _unsigned_id_token({"oid": "0000-aaaa", **claims})}
    user = run_expression(_mapping(blueprint, "entraid"), info=info, client=None, token=token)
    assert user["username"] == "entraid-0000-aaaa"
    assert user["email"] == "ada@contoso.com"
    assert user["attributes"]["shipyard_verified_email"] == ("ada@contoso.com" if verified else "")


@pytest.mark.parametrize(("flag", "verified"), [("true", True), (True, True), ("false", False), (None, False)])
def test_apple_verification_comes_from_apples_id_token(blueprint: dict[str, Any], flag: Any, *, verified: bool) -> None:
    info = {"sub": "001234.abcd", "email": "x1@privaterelay.appleid.com", "email_verified": flag}
    user = run_expression(_mapping(blueprint, "apple"), info=info, client=None, token={})
    assert user["username"] == "apple-001234.abcd"
    assert user["attributes"]["shipyard_verified_email"] == ("x1@privaterelay.appleid.com" if verified else "")


# --- the per-provider buttons: shipyard_source in the authorize URL picks the identification stage -----------------


def _executor_request(authorize_query: str | None, *, signed_in: bool = False) -> SimpleNamespace:
    # authentik sends the browser to /if/flow/shipyard-signin/?next=<authorize URL>; the flow executor
    # API then receives that page's query string, URL-encoded, in its own `query` parameter.
    flow_query = "" if authorize_query is None else "next=" + quote(f"/application/o/authorize/?{authorize_query}")
    http_request = SimpleNamespace(user=SimpleNamespace(is_authenticated=signed_in), GET={"query": flow_query})
    return SimpleNamespace(http_request=http_request)


def _stages_chosen(blueprint: dict[str, Any], request: SimpleNamespace) -> list[str]:
    chosen = []
    for binding in entries(blueprint, "authentik_policies.policybinding"):
        target = binding["identifiers"]["target"].value
        if not target.startswith("binding-"):
            continue
        policy = by_id(blueprint, binding["identifiers"]["policy"].value)
        if run_expression(expression_text(policy["attrs"]["expression"]), request=request):
            chosen.append(target.removeprefix("binding-"))
    return chosen


@pytest.mark.parametrize("slug", sorted(SOURCES))
def test_a_button_hint_leaves_only_that_sources_stage(blueprint: dict[str, Any], slug: str) -> None:
    query = f"client_id=shipyard&response_type=code&scope=openid+email&state=s&shipyard_source={slug}"
    assert _stages_chosen(blueprint, _executor_request(query)) == [slug]
    stage = by_id(blueprint, f"stage-identify-{slug}")["attrs"]
    # One source, no fields, no passwordless flow: authentik's identification stage redirects at once.
    assert stage["user_fields"] == []
    assert stage["sources"] == [Tag("!KeyOf", f"source-{slug}")]
    assert "passwordless_flow" not in stage


@pytest.mark.parametrize("query", [None, "client_id=shipyard&state=s", "client_id=shipyard&shipyard_source=myspace"])
def test_no_or_an_unknown_hint_shows_every_source(blueprint: dict[str, Any], query: str | None) -> None:
    assert _stages_chosen(blueprint, _executor_request(query)) == ["any"]
    assert len(by_id(blueprint, "stage-identify-any")["attrs"]["sources"]) == 4


def test_nobody_signed_in_to_authentik_reaches_a_source_from_the_sign_in_flow(blueprint: dict[str, Any]) -> None:
    # A source callback while signed in would link the new upstream identity to the signed-in user.
    assert _stages_chosen(blueprint, _executor_request("shipyard_source=github", signed_in=True)) == []
    assert _stages_chosen(blueprint, _executor_request(None, signed_in=True)) == []


def test_the_sign_in_flow_checks_its_policies_when_each_stage_comes_up(blueprint: dict[str, Any]) -> None:
    bindings = [
        b for b in entries(blueprint, "authentik_flows.flowstagebinding") if b.get("id", "").startswith("binding-")
    ]
    assert len(bindings) == 5
    for binding in bindings:
        assert binding["identifiers"]["target"] == Tag("!KeyOf", "flow-signin")
        assert binding["attrs"] == {"evaluate_on_plan": False, "re_evaluate_policies": True}
