"""Point Caddy's reverse proxy at another upstream through its admin API, in one atomic config load.

deploy/caddy/Caddyfile names the app once (`SHIPYARD_UPSTREAM`, `unix//run/shipyard/shipyard.sock`
by default) and uses it in the public site and in the loopback metrics site. The Caddyfile adapter
turns each use into a `{"dial": "unix//run/..."}` upstream in the JSON config. The switch reads
the running config, rewrites every upstream that dials one of the app's sockets, and loads the
result with `POST /load`: Caddy applies it whole or not at all, keeps its listeners, and lets
requests already proxied finish on the old config.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx2

TIMEOUT_S = 30.0


class CaddySwitchError(RuntimeError):
    """Caddy's admin API refused the change, or its config has no upstream to switch."""


def _rewrite(node: Any, replace: Collection[str], new: str) -> int:  # noqa: ANN401 - arbitrary JSON
    """Replace every `dial` whose value is in `replace` by `new`, in place; return how many."""
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "dial" and isinstance(value, str) and value in replace:
                node[key] = new
                count += 1
            else:
                count += _rewrite(value, replace, new)
    elif isinstance(node, list):
        for item in node:
            count += _rewrite(item, replace, new)
    return count


def upstreams(admin_url: str) -> list[str]:
    """Every `dial` in Caddy's running config (for checks and `shipyard releases`)."""
    found: list[str] = []

    def walk(node: Any) -> None:  # noqa: ANN401 - arbitrary JSON
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "dial" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    with httpx2.Client(base_url=admin_url, timeout=TIMEOUT_S) as client:
        walk(_get_config(client))
    return found


def _get_config(client: httpx2.Client) -> Any:  # noqa: ANN401 - arbitrary JSON
    response = client.get("/config/")
    if response.status_code != 200:  # noqa: PLR2004 - HTTP OK
        msg = f"Caddy's admin API answered {response.status_code} to GET /config/: {response.text[:200]}"
        raise CaddySwitchError(msg)
    return response.json()


def switch_upstream(admin_url: str, *, replace: Collection[str], new: str) -> int:
    """Make every upstream dialling one of `replace` dial `new`; return how many changed.

    An upstream already dialling `new` counts as switched (a retry after a lost answer).
    """
    with httpx2.Client(base_url=admin_url, timeout=TIMEOUT_S) as client:
        config = _get_config(client)
        changed = _rewrite(config, set(replace) - {new}, new)
        if changed == 0:
            if _rewrite(config, {new}, new):
                return 0
            msg = f"Caddy's config has no upstream dialling any of {sorted(replace)}: nothing to switch"
            raise CaddySwitchError(msg)
        response = client.post("/load", json=config)
        if response.status_code != 200:  # noqa: PLR2004 - HTTP OK
            msg = f"Caddy refused the new upstream ({response.status_code}): {response.text[:200]}"
            raise CaddySwitchError(msg)
    return changed
