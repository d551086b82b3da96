"""A person signs in through the edge: the development OpenID provider on the identity host, behind /auth.

The browser here is curl on this machine, through the edge's port published on loopback
(``--connect-to`` keeps the site's name in the URL, the TLS name and the cookies). It follows the
authorization-code flow as a browser would: Shipyard's /api/auth/login sends it to the provider at
https://shipyard.test/auth, the provider's sign-in form takes the account, and the callback leaves a
session that /api/v1/me accepts. The app hosts fetch discovery, keys and tokens from the same edge,
over TLS that chains to the cluster's CA (deploy/cluster/pki.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy.cluster import pki
from deploy.cluster.config import LOOPBACK_HTTPS_PORT, SITE

pytestmark = pytest.mark.cluster

ISSUER = f"https://{SITE}/auth"
ACCOUNT = "alice"
ACCOUNT_EMAIL = "alice@example.com"
CURL = shutil.which("curl") or "/usr/bin/curl"
FORM_ACTION = re.compile(r'<form method="post" action="(?P<action>/auth/interaction/[\w-]+/login)"')


def _browser(jar: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """curl with a cookie jar, as a browser on the internet reaches the site (through loopback here)."""
    command = [
        CURL, "-sS", "--max-time", "30", "--cacert", str(pki.ROOT_CERT),
        "--connect-to", f"{SITE}:443:127.0.0.1:{LOOPBACK_HTTPS_PORT}",
        "--cookie", str(jar), "--cookie-jar", str(jar), *arguments,
    ]  # fmt: skip
    return subprocess.run(  # noqa: S603 (fixed arguments)
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.usefixtures("hardened")
def test_discovery_names_the_issuer_behind_the_edge(tmp_path: Path) -> None:
    answer = _browser(tmp_path / "jar", f"{ISSUER}/.well-known/openid-configuration")
    assert answer.returncode == 0, answer.stderr
    metadata = json.loads(answer.stdout)
    assert metadata["issuer"] == ISSUER
    # Every endpoint is the edge's, under /auth: the provider knows where it is mounted.
    endpoints = [metadata[name] for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    assert all(url.startswith(f"{ISSUER}/") for url in endpoints), endpoints


@pytest.mark.usefixtures("hardened")
def test_a_person_signs_in_through_the_edge_and_the_session_calls_me(tmp_path: Path) -> None:
    jar = tmp_path / "jar"
    # Shipyard's login sends the browser to the provider, which shows its sign-in form.
    form = _browser(jar, "-L", "-w", "\n%{url_effective}", f"https://{SITE}/api/auth/login")
    assert form.returncode == 0, form.stderr
    page, _, landed = form.stdout.rpartition("\n")
    assert landed.startswith(f"{ISSUER}/interaction/"), landed
    action = FORM_ACTION.search(page)
    assert action, page[-2000:]
    # The person signs in; the provider sends the browser back to Shipyard's callback, which
    # exchanges the code (app host -> edge -> identity host) and starts a session.
    signed_in = _browser(
        jar, "-L", "-o", "/dev/null", "-w", "%{http_code} %{url_effective}",
        "--data-urlencode", f"login={ACCOUNT}", "--data-urlencode", "password=any",
        f"https://{SITE}{action['action']}",
    )  # fmt: skip
    assert signed_in.returncode == 0, signed_in.stderr
    status, _, url = signed_in.stdout.partition(" ")
    assert (status, url) == ("200", f"https://{SITE}/account"), signed_in.stdout
    me = _browser(jar, "-w", "\n%{http_code}", f"https://{SITE}/api/v1/me")
    body, _, status = me.stdout.rpartition("\n")
    assert status == "200", me.stdout
    account = json.loads(body)
    assert (account["profile"]["email"], account["profile"]["email_verified"]) == (ACCOUNT_EMAIL, True), account
    # Without the session's cookies the same call is refused.
    anonymous = _browser(tmp_path / "empty-jar", "-o", "/dev/null", "-w", "%{http_code}", f"https://{SITE}/api/v1/me")
    assert anonymous.stdout == "401", anonymous.stdout
