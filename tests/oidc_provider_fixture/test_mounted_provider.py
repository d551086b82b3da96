"""The provider behind a proxy at a path (the cluster's edge routes /auth/* to it): every URL carries the path.

Started as the cluster's identity role starts it: an issuer with a path, no keys in the settings (it
makes its own), and X-Forwarded-Proto trusted.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.oidc import PROVIDER_DIR, ensure_node_modules, node_binary
from tests.fixtures.servers import LOOPBACK, free_port

pytestmark = pytest.mark.database_independent

PUBLIC = "https://shipyard.test"
ISSUER = f"{PUBLIC}/auth"
CALLBACK = f"{PUBLIC}/api/auth/callback"
START_SECONDS = 30
# What the edge adds: the browser's scheme and host.
PROXIED = {"X-Forwarded-Proto": "https", "Host": "shipyard.test"}


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The provider's own address (http, loopback); it believes it is at ISSUER."""
    ensure_node_modules()
    port = free_port()
    client = {
        "client_id": "shipyard",
        "client_secret": "not-a-secret",
        "redirect_uris": [CALLBACK],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
    }
    account = {"sub": "alice", "email": "alice@example.com", "email_verified": True}
    config = {"issuer": ISSUER, "host": LOOPBACK, "port": port, "behind_proxy": True}
    config |= {"clients": [client], "accounts": [account]}
    path = Path(tmp_path_factory.mktemp("mounted")) / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    base = f"http://{LOOPBACK}:{port}"
    process = subprocess.Popen(  # noqa: S603 - node and our own files
        [node_binary(), str(PROVIDER_DIR / "server.mjs"), str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/auth/.well-known/openid-configuration", headers=PROXIED).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_discovery_and_every_endpoint_are_under_the_issuers_path(mounted: str) -> None:
    metadata = httpx.get(f"{mounted}/auth/.well-known/openid-configuration", headers=PROXIED).json()
    assert metadata["issuer"] == ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint"):
        assert metadata[name].startswith(f"{ISSUER}/"), (name, metadata[name])
    # It makes its own signing key when the settings carry none.
    keys = httpx.get(f"{mounted}/auth/jwks", headers=PROXIED).json()["keys"]
    assert [key["alg"] for key in keys] == ["RS256"]
    assert "d" not in keys[0]


def test_nothing_is_served_outside_the_path(mounted: str) -> None:
    assert httpx.get(f"{mounted}/.well-known/openid-configuration", headers=PROXIED).status_code == 404


def test_the_sign_in_page_and_its_cookies_are_under_the_path(mounted: str) -> None:
    query = {
        "client_id": "shipyard",
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": CALLBACK,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "state": "s",
        "nonce": "n",
    }
    started = httpx.get(f"{mounted}/auth/auth", params=query, headers=PROXIED)
    assert started.status_code == 303, started.text
    page = started.headers["location"]
    assert page.startswith("/auth/interaction/"), page
    cookies = started.headers.get_list("set-cookie")
    assert all("path=/auth/" in cookie for cookie in cookies), cookies
    # Behind https (X-Forwarded-Proto trusted), the provider's cookies are Secure.
    assert all("secure" in cookie for cookie in cookies), cookies
    form = httpx.get(f"{mounted}{page}", headers=PROXIED, cookies=dict(started.cookies)).text
    assert f'action="{page}/login"' in form, form
