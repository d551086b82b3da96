"""The development OpenID provider the identity host runs in Authentik's place (docs/decisions/0053).

The identity host has no internet, and Debian 12's Node.js is too old for oidc-provider 9, so this
machine's ``node`` and the provider's pinned ``node_modules`` are bound read-only into the container
(hosts.py); the identity role writes the provider's settings and unit when
``shipyard_identity_provider`` is ``development``.
"""

from __future__ import annotations

import re
import shutil

from deploy.cluster.commands import run
from deploy.cluster.config import DEV_PROVIDER_DIR, ClusterError

MIN_NODE = (20, 19)
NPM_TIMEOUT_SECONDS = 300


def node_path() -> str:
    """The path of the controller's node, when new enough for oidc-provider 9; a one-line error otherwise."""
    node = shutil.which("node")
    if node is None:
        raise ClusterError("the identity host's OpenID provider needs Node.js >= 20.19: run `make test-deps`")
    version = run([node, "--version"], what="asking node for its version").stdout
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < MIN_NODE:
        raise ClusterError(f"node {version.strip()} is too old for the identity host's OpenID provider; need >= 20.19")
    return node


def ensure_installed() -> None:
    """``npm ci`` the provider's pinned packages when node_modules is missing or older than the lockfile."""
    hidden_lock = DEV_PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lockfile = DEV_PROVIDER_DIR / "package-lock.json"
    if hidden_lock.exists() and hidden_lock.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ClusterError("npm is not installed: the identity host's OpenID provider needs its packages")
    command = [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--prefix", str(DEV_PROVIDER_DIR)]
    run(command, what="installing the OpenID provider's npm packages", timeout=NPM_TIMEOUT_SECONDS)
