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
# picks another port; the redirect URIs stay on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "dev-idp: no virtualenv; run 'make install' first" >&2
    exit 1
fi
exec .venv/bin/python -m tests.fixtures.oidc --dev "$@"
