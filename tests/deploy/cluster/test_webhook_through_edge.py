"""A token creates a customer and an invoice through the edge; a worker delivers the invoice's webhook.

The receiver is a customer's server on the internet: the internet host, at a global address that
exists only inside the cluster's namespace, under a name the hosts resolve (deploy/cluster/config.py,
docs/decisions/0054). The app runs in production mode, so its SSRF guard and its https-only rule
apply unchanged; the receiver's certificate comes from the cluster's CA, which every host trusts.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from deploy.cluster import pki
from deploy.cluster.commands import in_netns
from deploy.cluster.config import (
    INTERNET_NETNS,
    LOOPBACK_HTTPS_PORT,
    REPO,
    SITE,
    STATE_DIR,
    WEBHOOK_RECEIVER_ADDRESS,
    WEBHOOK_RECEIVER_NAME,
)
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

SHIPYARD = "/opt/shipyard/current/venv/bin/shipyard"
RECEIVER_SECONDS = 150
DELIVERY_WAIT_SECONDS = 90
CURL = shutil.which("curl") or "/usr/bin/curl"
# The `shipyard` command as the app's units run it: their user, their settings file.
RUN_AS_APP = "sudo systemd-run --quiet --pipe --wait --collect -p EnvironmentFile=/etc/shipyard/env -p User=shipyard"


def _api(token: str, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    """Call the API through the edge's port on loopback, with the token and a fresh Idempotency-Key."""
    command = [
        CURL, "-sS", "--max-time", "30", "--cacert", str(pki.ROOT_CERT),
        "--connect-to", f"{SITE}:443:127.0.0.1:{LOOPBACK_HTTPS_PORT}",
        "-X", method, "-H", f"Authorization: Bearer {token}", "-w", "\n%{http_code}",
    ]  # fmt: skip
    if body is not None:
        command += ["-H", "Content-Type: application/json", "-H", f"Idempotency-Key: {uuid.uuid4()}"]
        command += ["--data-binary", json.dumps(body)]
    answer = subprocess.run(  # noqa: S603 (fixed arguments)
        [*command, f"https://{SITE}{path}"], capture_output=True, text=True, timeout=60, check=False
    )
    text, _, status = answer.stdout.rpartition("\n")
    assert status.isdigit(), answer.stderr
    return int(status), json.loads(text) if text else {}


def _token(cluster: Cluster) -> str:
    """An organisation and an admin token for it, made with the `shipyard` command on an app host."""
    slug = f"hooks-{secrets.token_hex(4)}"
    made = cluster.ssh(
        "app1",
        f"{RUN_AS_APP} {SHIPYARD} orgs create 'Hooks {slug}' --slug {slug} --owner-email owner@{slug}.example"
        f" && {RUN_AS_APP} {SHIPYARD} tokens create --org {slug} --name webhook-check"
        " --scopes customers:write,invoices:write,webhooks:write",
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.strip().splitlines()[-1].split()[-1]


def test_a_workers_webhook_for_a_new_invoice_reaches_the_customers_receiver(hardened: Cluster, tmp_path: Path) -> None:
    token = _token(hardened)
    status, endpoint = _api(
        token, "POST", "/api/v1/webhook-endpoints",
        {"url": f"https://{WEBHOOK_RECEIVER_NAME}/shipyard", "event_types": ["invoice.created"]},
    )  # fmt: skip
    assert status == 201, endpoint
    secret_file = STATE_DIR / "webhook-secret"
    secret_file.write_text(str(endpoint["secret"]), encoding="utf-8")
    secret_file.chmod(0o600)
    cert, key = pki.issue(WEBHOOK_RECEIVER_NAME, STATE_DIR / "receiver")
    record = tmp_path / "received.jsonl"
    record.touch()
    serve = [
        sys.executable, "-m", "tests.deploy.cluster.webhook_receiver",
        "--address", WEBHOOK_RECEIVER_ADDRESS, "--cert", str(cert), "--key", str(key),
        "--secret-file", str(secret_file), "--record", str(record), "--seconds", str(RECEIVER_SECONDS),
    ]  # fmt: skip
    receiver = subprocess.Popen(  # noqa: S603 (fixed arguments)
        in_netns(serve, INTERNET_NETNS),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ada = {"name": "Ada Lovelace", "email": "ada@example.com"}
        status, customer = _api(token, "POST", "/api/v1/customers", ada)
        assert status == 201, customer
        line = {"description": "Analytical engine time", "quantity": 3, "unit_amount": 12_50}
        status, invoice = _api(
            token, "POST", f"/api/v1/customers/{customer['id']}/invoices", {"currency": "EUR", "line_items": [line]}
        )
        assert status == 201, invoice
        deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
        received: list[dict[str, object]] = []
        while not received and time.monotonic() < deadline:
            time.sleep(1)
            received = [json.loads(text) for text in record.read_text(encoding="utf-8").splitlines()]
    finally:
        receiver.terminate()
        _, errors = receiver.communicate(timeout=10)
    assert received, f"no delivery reached the receiver within {DELIVERY_WAIT_SECONDS} s; receiver: {errors!r}"
    delivery = received[0]
    assert delivery["verified"] is True, delivery
    assert delivery["type"] == "invoice.created", delivery
    data = delivery["data"]
    assert isinstance(data, dict), delivery
    assert data["id"] == invoice["id"], delivery
