"""The cluster's network: a namespace with a private and a public bridge, and a neutral internet host.

The namespace is the controller's side of the cluster. It holds the management address (10.77.0.1)
and routes between the two subnets, so the internet host can reach every private address and only
the hosts' own firewalls stop it. Nothing in it is connected to this machine's network; the edge's
80 and 443 reach this machine's loopback through the forwarder (forwarder.py) only.
"""

from __future__ import annotations

from deploy.cluster.commands import in_netns, netns_path, run
from deploy.cluster.config import (
    INTERNET_ADDRESS,
    INTERNET_NETNS,
    MANAGEMENT_ADDRESS,
    NETNS,
    PRIVATE_BRIDGE,
    PRIVATE_PREFIX,
    PUBLIC_BRIDGE,
    PUBLIC_GATEWAY,
    SUBNET_BITS,
    WEBHOOK_RECEIVER_ADDRESS,
)

INTERNET_VETH = "sy-inet"


def _ip(*arguments: str, namespace: str = NETNS) -> None:
    run(["ip", "-n", namespace, *arguments], what=f"ip {' '.join(arguments[:3])} in {namespace}")


def create() -> None:
    """Create both namespaces, the bridges, the router and the internet host's link."""
    for namespace in (NETNS, INTERNET_NETNS):
        run(["ip", "netns", "add", namespace], what=f"creating network namespace {namespace}")
        _ip("link", "set", "lo", "up", namespace=namespace)
    for bridge, address in ((PRIVATE_BRIDGE, MANAGEMENT_ADDRESS), (PUBLIC_BRIDGE, PUBLIC_GATEWAY)):
        _ip("link", "add", bridge, "type", "bridge")
        _ip("address", "add", f"{address}/{SUBNET_BITS}", "dev", bridge)
        _ip("link", "set", bridge, "up")
    run(in_netns(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]), what="turning on routing in the namespace")
    _ip("link", "add", INTERNET_VETH, "type", "veth", "peer", "name", "inet0", "netns", INTERNET_NETNS)
    _ip("link", "set", INTERNET_VETH, "master", PUBLIC_BRIDGE, "up")
    _ip("address", "add", f"{INTERNET_ADDRESS}/{SUBNET_BITS}", "dev", "inet0", namespace=INTERNET_NETNS)
    _ip("link", "set", "inet0", "up", namespace=INTERNET_NETNS)
    private_subnet = f"{PRIVATE_PREFIX}.0/{SUBNET_BITS}"
    _ip("route", "add", private_subnet, "via", PUBLIC_GATEWAY, namespace=INTERNET_NETNS)
    # The webhook receiver's global address lives on the internet host and is routed only here.
    _ip("address", "add", f"{WEBHOOK_RECEIVER_ADDRESS}/32", "dev", "inet0", namespace=INTERNET_NETNS)
    _ip("route", "add", f"{WEBHOOK_RECEIVER_ADDRESS}/32", "via", INTERNET_ADDRESS)


def attach_to_public_bridge(interface: str) -> None:
    """Put a container's extra veth (the edge's public link) on the public bridge."""
    _ip("link", "set", interface, "master", PUBLIC_BRIDGE, "up")


def exists() -> bool:
    """Whether the cluster's namespace is there."""
    return netns_path(NETNS).exists()


def remove() -> None:
    """Delete both namespaces; their bridges and veths go with them. Nothing to do when absent."""
    for namespace in (INTERNET_NETNS, NETNS):
        if netns_path(namespace).exists():
            run(["ip", "netns", "delete", namespace], what=f"removing network namespace {namespace}")
