"""compose.yaml and the Dockerfile, structurally: no Docker engine runs on the build machines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.binaries import require_binary

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "pgbouncer", "valkey", "migrate", "web", "worker", "scheduler", "caddy", "cloudflared"}
APP_SERVICES = ["migrate", "web", "worker", "scheduler"]
LONG_RUNNING_WITH_PROBES = ["postgres", "pgbouncer", "valkey", "web", "caddy", "cloudflared"]
SECRET_WORDS = re.compile(r"password|secret|token|key", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def test_every_service_of_the_topology_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_cloudflared_is_only_in_the_tunnel_profile(services: dict[str, dict[str, Any]]) -> None:
    assert services["cloudflared"]["profiles"] == ["tunnel"]
    assert _environment(services["cloudflared"])["TUNNEL_TOKEN"].startswith("${TUNNEL_TOKEN")
    others = {name for name, service in services.items() if service.get("profiles")}
    assert others == {"cloudflared"}


def test_app_services_trust_exactly_one_proxy_hop_and_publish_no_port(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        assert _environment(services[name])["SHIPYARD_TRUST_PROXY_HEADERS"] == "1"
        assert "ports" not in services[name], name


def test_published_ports_bind_loopback_except_caddys(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            if name == "caddy":
                assert str(port).split(":")[0] in {"80", "443"}, port
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_migrate_runs_once_before_the_app(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["command"] == ["shipyard", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_the_app_runs_read_only_without_capabilities(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]  # noqa: S108 - the container's own tmpfs
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING_WITH_PROBES:
        healthcheck = services[name].get("healthcheck", {})
        assert healthcheck.get("test"), name
        assert not healthcheck.get("disable"), name


def test_state_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    named = set(compose["volumes"])
    assert {"postgres-data", "valkey-data", "caddy-data"} <= named
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in named or source.startswith("./"), volume


def test_no_secret_is_written_inline(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_WORDS.search(key):
                assert value.startswith(("${", "/run/secrets/")), f"{name}: {key}"
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}
        assert secret["file"].startswith("./secrets/")


def test_scheduler_is_a_single_replica(services: dict[str, dict[str, Any]]) -> None:
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["scheduler"]["command"] == ["shipyard", "scheduler"]
    assert services["worker"]["command"] == ["shipyard", "worker"]


def test_caddy_uses_the_single_vps_caddyfile_pointed_at_web(services: dict[str, dict[str, Any]]) -> None:
    caddy = services["caddy"]
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert _environment(caddy)["SHIPYARD_UPSTREAM"] == "web:8000"


def _dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(line.startswith("HEALTHCHECK ") for line in runtime)
    assert not any(" uv " in f" {line} " for line in runtime), "the runtime stage must not need uv"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", "secrets/", ".venv", ".git", "var/"} <= ignored


# The capabilities a service's image needs to start: the official images' entrypoints start as
# root, chown their data and drop to their own user; Caddy binds 80 and 443.
ALLOWED_CAPABILITIES = {
    "postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
    "valkey": {"CHOWN", "SETGID", "SETUID"},
    "caddy": {"NET_BIND_SERVICE"},
}


def test_every_container_is_read_only_without_privileges(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert set(service.get("cap_add", [])) <= ALLOWED_CAPABILITIES.get(name, set()), name
        assert "no-new-privileges:true" in service.get("security_opt", []), name


def test_compose_pins_the_caddy_the_tests_run(services: dict[str, dict[str, Any]]) -> None:
    caddy = require_binary("caddy", "caddy")
    version = subprocess.run(  # noqa: S603 - Debian's caddy, fixed arguments
        [caddy, "version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()[0]
    assert services["caddy"]["image"] == f"caddy:{version.removeprefix('v')}"


def test_metrics_have_their_own_listener_that_the_public_path_never_reaches(
    services: dict[str, dict[str, Any]],
) -> None:
    web = _environment(services["web"])
    binds = web["SHIPYARD_BIND"].split()
    metrics_port = web["SHIPYARD_METRICS_LISTEN_PORT"]
    public_ports = {bind.rsplit(":", 1)[1] for bind in binds} - {metrics_port}
    assert f"0.0.0.0:{metrics_port}" in binds
    assert public_ports
    # Caddy and the tunnel forward to a public listener, never to the metrics one.
    assert _environment(services["caddy"])["SHIPYARD_UPSTREAM"] == f"web:{min(public_ports)}"
    tunnel_comment = (REPO / "compose.yaml").read_text().split("  cloudflared:", 1)[1].split("image:", 1)[0]
    assert f"http://web:{min(public_ports)}" in tunnel_comment
    # The other app services keep the production environment the web service extends.
    assert _environment(services["worker"])["SHIPYARD_ENV"] == web["SHIPYARD_ENV"] == "production"
    assert "metrics" not in " ".join(services["caddy"]["healthcheck"]["test"])
