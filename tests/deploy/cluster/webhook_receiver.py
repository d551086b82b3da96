"""A customer's webhook receiver on the internet host: HTTPS, and it checks every signature itself.

Started by ``test_webhook_through_edge.py`` inside the internet host's namespace::

    python -m tests.deploy.cluster.webhook_receiver --address A --port 443 --cert C --key K \\
        --secret-file S --record R --seconds N

It answers 204 to a delivery whose Standard Webhooks signature verifies with the endpoint's secret
(the official ``standardwebhooks`` library, over the exact bytes received) and 401 to anything else,
and appends one JSON line per request to the record file. It stops by itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

ACCEPTED = 204
REFUSED = 401


def _handler(secret: str, record: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as error:
                entry = {"verified": False, "error": str(error), "path": self.path}
            else:
                entry = {"verified": True, "path": self.path, "webhook_id": headers.get("webhook-id"), **payload}
            with record.open("a", encoding="utf-8") as lines:
                lines.write(json.dumps(entry) + "\n")
            self.send_response(ACCEPTED if entry["verified"] else REFUSED)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            """The record file is the log."""

    return Handler


def main() -> None:
    """Serve until ``--seconds`` have passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=120)
    arguments = parser.parse_args()
    secret = arguments.secret_file.read_text(encoding="utf-8").strip()
    server = HTTPServer((arguments.address, arguments.port), _handler(secret, arguments.record))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(arguments.cert, arguments.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.timeout = 1
    deadline = time.monotonic() + arguments.seconds
    while time.monotonic() < deadline:
        server.handle_request()
    server.server_close()


if __name__ == "__main__":
    main()
