"""The receiving half of `shipyard webhooks listen`: a loopback HTTP server that verifies each delivery.

No database here. Each request is verified with the `standardwebhooks` package, exactly as a
customer's receiver would verify it, so a delivery printed as valid proves the whole signing path.
"""

from __future__ import annotations

import binascii
import json
import queue
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

LOOPBACK = "127.0.0.1"
PATH = "/webhooks"
# Larger than any event Shipyard sends; a bigger body is not read at all.
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Received:
    """One request: the verified event, or why it was refused (`event` is then None)."""

    webhook_id: str
    event: dict[str, Any] | None
    error: str | None = None


def verify(secret: str, body: bytes, headers: dict[str, str]) -> Received:
    """Verify one delivery against the endpoint's secret."""
    webhook_id = headers.get("webhook-id", "")
    try:
        event = Webhook(secret).verify(body, headers)
    except WebhookVerificationError as exc:
        return Received(webhook_id, None, f"signature: {exc}")
    except (ValueError, binascii.Error) as exc:  # a malformed header or body, or JSON that is not
        return Received(webhook_id, None, f"malformed: {type(exc).__name__}")
    if not isinstance(event, dict):
        return Received(webhook_id, None, "malformed: the body is not a JSON object")
    return Received(webhook_id, event)


class Listener:
    """Receives deliveries on `127.0.0.1:port` (0 picks a free port) and queues what it verified."""

    def __init__(self, secret: str, port: int = 0) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler(secret, self.received))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL the temporary endpoint points at."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}{PATH}"

    def start(self) -> None:
        """Start answering in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and release the port."""
        self._server.shutdown()
        self._server.server_close()


def _handler(secret: str, received: queue.Queue[Received]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            declared = self.headers.get("content-length") or "0"
            length = int(declared) if declared.isdigit() else 0
            if self.path != PATH or not 0 < length <= MAX_BODY_BYTES:
                self._answer(HTTPStatus.BAD_REQUEST, "not a webhook delivery")
                return
            body = self.rfile.read(length)
            result = verify(secret, body, {key.lower(): value for key, value in self.headers.items()})
            received.put(result)
            if result.event is None:
                self._answer(HTTPStatus.BAD_REQUEST, result.error or "refused")
            else:
                self._answer(HTTPStatus.OK, "verified")

        def _answer(self, status: HTTPStatus, text: str) -> None:
            payload = json.dumps({"result": text}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401 - http.server's signature
            """Silent: the command prints each delivery itself."""

    return Handler
