#!/usr/bin/env bash
# Run a real OpenID provider for local development on http://127.0.0.1:9400.
#
# It is the provider the test suite uses (panva's oidc-provider, pinned in
# tests/oidc_provider/), with the client the app's development settings expect:
#   client_id     shipyard-dev
#   client_secret shipyard-dev-secret
#   redirect_uri  http://127.0.0.1:8000/api/auth/callback
#   post-logout   http://127.0.0.1:8000/
# and the test accounts (alice, alice-github, mallory, bob, carol, apple-user;
# any password). It prints the SHIPYARD_OIDC_* variables to export for
# `make run`, and runs until Ctrl-C. State (sessions, grants) lives in memory.
#
# Needs Node.js >= 20.19 with npm (installs its npm packages on first run) and
# the project's virtualenv (`make install`). SHIPYARD_DEV_IDP_PORT or --port
# picks the provider's port; PORT (or SHIPYARD_PORT) is the app's, as for
# `make run` (default 8000), and the redirect URIs follow it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "dev-idp: no virtualenv; run 'make install' first" >&2
    exit 1
fi
# The provider (oidc-provider 9) needs Node.js 20.19 or later: say so before npm fails obscurely.
NEEDED="sign-in needs Node.js 20.19 or later (with npm); install it from https://nodejs.org or your distribution"
if ! command -v node >/dev/null 2>&1; then
    echo "dev-idp: node is not installed; $NEEDED" >&2
    exit 1
fi
version="$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)"
IFS=. read -r major minor _ <<<"$version"
if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || ((major < 20 || (major == 20 && minor < 19))); then
    echo "dev-idp: found Node.js $version; $NEEDED" >&2
    exit 1
fi
exec .venv/bin/python -m tests.fixtures.oidc --dev "$@"
