"""The cluster's fixed layout: hosts, addresses, names and where its state lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parent
REPO = CLUSTER_DIR.parent.parent
PACKAGES_FILE = CLUSTER_DIR / "packages.txt"
ANSIBLE_DIR = REPO / "deploy" / "ansible"

# Everything the cluster builds lives outside the repository: the root is reused across runs and
# worktrees, the run state (overlays, keys, sockets) is thrown away by `down`.
CACHE_DIR = Path(os.environ.get("SHIPYARD_CLUSTER_CACHE", "/var/cache/shipyard-cluster"))
STATE_DIR = Path(os.environ.get("SHIPYARD_CLUSTER_STATE", "/run/shipyard-cluster"))

NETNS = "shipyard-cluster"
INTERNET_NETNS = "shipyard-cluster-internet"
PRIVATE_BRIDGE = "sy-private"
PUBLIC_BRIDGE = "sy-public"
PRIVATE_PREFIX = "10.77.0"
PUBLIC_PREFIX = "198.18.0"
# The namespace itself is the controller's side: the management address Ansible connects from
# (the operator's address in production) and the router between the two subnets.
MANAGEMENT_ADDRESS = f"{PRIVATE_PREFIX}.1"
PUBLIC_GATEWAY = f"{PUBLIC_PREFIX}.1"
# A neutral host on the "internet" subnet, in its own namespace, for the port scans.
INTERNET_ADDRESS = f"{PUBLIC_PREFIX}.99"
SUBNET_BITS = 24
# The edge's 80 and 443 are published on this machine's loopback, on these ports by default.
LOOPBACK_HTTP_PORT = int(os.environ.get("SHIPYARD_CLUSTER_HTTP_PORT", "8780"))
LOOPBACK_HTTPS_PORT = int(os.environ.get("SHIPYARD_CLUSTER_HTTPS_PORT", "8743"))
# The site's name (the inventory's shipyard_domain): every host resolves it to the edge's private
# address, as split-horizon DNS would; the internet reaches the public one.
SITE = "shipyard.test"
# A webhook receiver on the internet host. The app's SSRF guard sends webhooks to global addresses
# only, so it gets one: the retired 6to4 relay prefix (RFC 7526), global in Python's sense and used
# by no one. It exists only inside the namespace (docs/decisions/0054).
WEBHOOK_RECEIVER_NAME = "hooks.customer.test"
WEBHOOK_RECEIVER_ADDRESS = "192.88.99.10"
# The development OpenID provider (tests/oidc_provider) and this machine's Node.js, bound read-only
# into the identity host, which has no internet to install them (docs/decisions/0053).
DEV_PROVIDER_DIR = REPO / "tests" / "oidc_provider"
DEV_PROVIDER_MOUNT = "/opt/shipyard-dev-idp"
NODE_MOUNT = "/usr/local/bin/node"
INITIAL_SSH_PORT = 22
HARDENED_SSH_PORT = 2222


@dataclass(frozen=True)
class Host:
    """One container: its name (also its hostname and machine name), group and addresses."""

    name: str
    group: str
    private_address: str
    public_address: str | None = None

    @property
    def machine(self) -> str:
        """The systemd-nspawn machine name, prefixed so it never clashes with another tool's."""
        return f"sy-{self.name}"


HOSTS: tuple[Host, ...] = (
    Host("edge", "edge", f"{PRIVATE_PREFIX}.10", public_address=f"{PUBLIC_PREFIX}.10"),
    Host("app1", "app", f"{PRIVATE_PREFIX}.21"),
    Host("app2", "app", f"{PRIVATE_PREFIX}.22"),
    Host("db", "database", f"{PRIVATE_PREFIX}.30"),
    Host("cache", "cache", f"{PRIVATE_PREFIX}.40"),
    Host("identity", "identity", f"{PRIVATE_PREFIX}.50"),
)


def host_named(name: str) -> Host:
    """Return the host called ``name``, or raise a one-line error listing the names."""
    for host in HOSTS:
        if host.name == name:
            return host
    names = ", ".join(host.name for host in HOSTS)
    raise ClusterError(f"no cluster host named {name!r}; the hosts are {names}")


class ClusterError(RuntimeError):
    """A failure of the cluster harness, with a one-line message that says what to do."""
