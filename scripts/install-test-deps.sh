#!/usr/bin/env bash
# Install the Debian packages the test suite needs (real PostgreSQL, Redis,
# PgBouncer, Caddy and wrk servers; Node.js for the test OpenID provider;
# Chromium for the browser test; fail2ban-regex for the fail2ban filter;
# Prometheus with promtool and Alertmanager with amtool for the monitoring
# files, and the node, PostgreSQL and Redis exporters for the dashboards; pgBackRest for the PostgreSQL
# backup tests), but only those that are missing.
#
# Quiet when everything is present. As non-root it only reports what is
# missing and exits 1, so CI and developers get a clear instruction instead of
# a half-working sudo prompt.
#
# Daemons: the Debian packages start their system services on install
# (postgresql-common even creates and starts a "main" cluster on port 5432,
# redis-server listens on 6379, caddy on 80, prometheus on 9090 and
# alertmanager on 9093). The tests never use those: they
# start throwaway servers on random ports (tests/fixtures/servers.py). To avoid
# leaving surprise listeners on well-known ports, we install with a temporary
# policy-rc.d that forbids service starts (the standard Debian mechanism, also
# honoured by deb-systemd-invoke), and afterwards stop any PostgreSQL cluster
# that became online during the install. The cluster's files are left in place
# because removing them is not our business (pg_dropcluster would).
set -euo pipefail

missing=()

have_cmd() {
    # /usr/sbin is often not on a non-root PATH, yet pgbouncer lives there.
    command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/usr/bin/$1" ]]
}

# The server binaries are not on PATH; postgresql-client alone would put psql
# there, which is why we look for the postgres binary itself.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null \
    || ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi
have_cmd redis-server || missing+=(redis-server)
have_cmd pgbouncer || missing+=(pgbouncer)
have_cmd caddy || missing+=(caddy)
have_cmd wrk || missing+=(wrk)
have_cmd node || missing+=(nodejs)
have_cmd npm || missing+=(npm)
have_cmd chromium || missing+=(chromium)
have_cmd fail2ban-regex || missing+=(fail2ban)
# The prometheus package ships promtool; prometheus-alertmanager ships amtool.
have_cmd promtool || missing+=(prometheus)
have_cmd prometheus-alertmanager || missing+=(prometheus-alertmanager)
# The exporters the dashboards' live test scrapes (tests/deploy/test_dashboards_live.py).
have_cmd prometheus-node-exporter || missing+=(prometheus-node-exporter)
have_cmd prometheus-postgres-exporter || missing+=(prometheus-postgres-exporter)
have_cmd prometheus-redis-exporter || missing+=(prometheus-redis-exporter)
have_cmd pgbackrest || missing+=(pgbackrest)
# The six-host cluster (deploy/cluster/): containers booting systemd, the cached Debian root, and the
# tools its checks run from outside the hosts (port scan, SSH audit).
have_cmd systemd-nspawn || missing+=(systemd-container)
have_cmd mmdebstrap || missing+=(mmdebstrap)
have_cmd nsenter || missing+=(util-linux)
have_cmd nmap || missing+=(nmap)
have_cmd ssh-audit || missing+=(ssh-audit)
have_cmd ssh || missing+=(openssh-client)

node_too_old() {
    # tests/oidc_provider pins oidc-provider 9, which needs Node.js >= 20.19 (Debian 12's nodejs is 18).
    have_cmd node && ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

if ((${#missing[@]} == 0)); then
    if node_too_old; then
        echo "install-test-deps: Node.js >= 20.19 is needed for tests/oidc_provider; found $(node --version)" >&2
        exit 1
    fi
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    {
        echo "install-test-deps: missing Debian packages: ${missing[*]}"
        echo "install them as root, e.g.:"
        echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
        echo "or run: sudo $0"
    } >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Refresh the package lists only when apt cannot find a candidate for one of
# the packages (fresh container with empty lists, or stale lists).
needs_update=0
for pkg in "${missing[@]}"; do
    candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
        needs_update=1
        break
    fi
done
if ((needs_update)); then
    apt-get update -qq
fi

clusters_online() {
    # "ver name" of every online cluster; nothing when postgresql-common is absent.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 " " $2}'
    fi
}
online_before="$(clusters_online)"

# Forbid service starts during the install, unless the machine already has its
# own policy (e.g. Docker images ship one that always says no).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, created by shipyard install-test-deps.sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
cleanup() {
    if ((own_policy)); then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

echo "install-test-deps: installing ${missing[*]}" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Belt and braces: stop clusters that went online during the install.
while read -r ver name; do
    [[ -n "${ver:-}" ]] || continue
    if ! grep -qxF "$ver $name" <<<"$online_before"; then
        echo "install-test-deps: stopping cluster $ver/$name started by the install" >&2
        pg_ctlcluster "$ver" "$name" stop || true
    fi
done <<<"$(clusters_online)"

echo "install-test-deps: done" >&2
