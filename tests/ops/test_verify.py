"""`shipyard verify` against a deliberately misconfigured HTTPS server: every check must notice.

The passing side (the real stack behind Caddy) is in tests/e2e/test_edge.py.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shipyard.ops.verify import CheckResult, check_redirect, run_checks, verify_command
from shipyard.ops.verify_http import make_target
from tests.fixtures.binaries import require_binary


class _CarelessApp(BaseHTTPRequestHandler):
    """Everything an operator can get wrong, in one server."""

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, bytes]] = {
            "/health": (200, "application/json", b'{"status":"ok"}'),
            "/ready": (503, "application/problem+json", b'{"status":503,"title":"down","failing":["database"]}'),
            "/openapi.json": (200, "application/json", json.dumps({"openapi": "3.0.3"}).encode()),
            "/metrics": (200, "text/plain", b"# HELP http_requests_total x\n"),
            "/": (200, "text/html", b"<html>plain http, no redirect</html>"),
        }
        status, content_type, body = routes.get(self.path, (404, "text/html", b"<h1>Not Found</h1>"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Strict-Transport-Security", "max-age=300")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """Stay quiet."""


@dataclass
class Careless:
    https_url: str
    http_url: str
    ca_file: Path


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def careless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Careless]:
    require_binary("openssl", "openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - the openssl CLI, from PATH
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    https = ThreadingHTTPServer(("127.0.0.1", 0), _CarelessApp)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _CarelessApp)
    for server in (https, plain):
        _serve(server)
    yield Careless(f"https://localhost:{https.server_address[1]}", f"http://localhost:{plain.server_address[1]}", cert)
    for server in (https, plain):
        server.shutdown()
        server.server_close()


def test_every_misconfiguration_is_reported_with_a_fix(careless: Careless) -> None:
    results = {
        result.name: result for result in run_checks(careless.https_url, careless.ca_file, http_url=careless.http_url)
    }
    failed = {name for name, result in results.items() if not result.ok}
    assert failed == {
        "http_redirect",
        "redirect_headers",
        "hsts",
        "header_x_content_type_options",
        "header_x_frame_options",
        "header_referrer_policy",
        "header_permissions_policy",
        "header_content_security_policy",
        "no_server_header",
        "request_id",
        "ready",
        "openapi",
        "problem_404",
        "metrics_not_public",
        "unknown_host",
    }
    assert results["tls_certificate"].ok, results["tls_certificate"].detail
    assert "expires in" in results["tls_certificate"].detail
    assert results["health"].ok
    assert all(results[name].fix for name in failed)
    assert "max-age=300" in results["hsts"].detail
    assert "3.0.3" in results["openapi"].detail


def test_a_private_ca_without_ca_file_fails_the_certificate_check_and_says_so(careless: Careless) -> None:
    results = run_checks(careless.https_url, None, http_url=careless.http_url)
    certificate = next(result for result in results if result.name == "tls_certificate")
    assert not certificate.ok
    assert "--ca-file" in certificate.fix


def test_command_prints_one_fail_line_per_failed_check_and_exits_1(careless: Careless) -> None:
    cli = typer.Typer()
    cli.command()(verify_command)
    outcome = CliRunner().invoke(
        cli, [careless.https_url, "--ca-file", str(careless.ca_file), "--http-url", careless.http_url]
    )
    assert outcome.exit_code == 1
    fail_lines = [line for line in outcome.output.splitlines() if line.startswith("FAIL")]
    assert len(fail_lines) == 15
    assert all(". Fix: " in line for line in fail_lines)
    assert outcome.output.splitlines()[-1] == "17 checks, 15 failed"


def test_a_non_https_url_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        run_checks("http://example.com")


class _Redirector(BaseHTTPRequestHandler):
    """Redirects every request to the Location the server was created with."""

    location = ""

    def do_GET(self) -> None:
        self.send_response(308)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        """Stay quiet."""


def _redirect_result(location: str, https_url: str) -> CheckResult:
    handler = type("_Fixed", (_Redirector,), {"location": location})
    plain = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    _serve(plain)
    try:
        return check_redirect(make_target(https_url, None, f"http://localhost:{plain.server_address[1]}", 5.0))
    finally:
        plain.shutdown()
        plain.server_close()


@pytest.mark.parametrize(
    "location",
    [
        "https://app.example.com:8443/",  # the right host on another port
        "https://app.example.com.evil.example/",  # a host that merely starts with ours
        "http://app.example.com:9443/",  # not HTTPS
        "https://app.example.com:x/",  # no port at all
    ],
)
def test_redirect_must_reach_the_verified_host_and_port(location: str) -> None:
    result = _redirect_result(location, "https://app.example.com:9443")
    assert not result.ok, result.detail
    assert location in result.detail


@pytest.mark.parametrize(
    ("location", "https_url"),
    [
        ("https://app.example.com:9443/", "https://app.example.com:9443"),
        ("https://APP.example.com/", "https://app.example.com"),
    ],
)
def test_redirect_to_the_verified_host_and_port_passes(location: str, https_url: str) -> None:
    assert _redirect_result(location, https_url).ok
