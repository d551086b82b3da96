"""Optional error reporting to Sentry (or a Sentry-compatible service), on with `SHIPYARD_SENTRY_DSN`.

The built-in error reports (`error_reports/`) stay: they need nothing outside the deployment. Sentry
adds grouping, alerting and stack traces across releases. Nothing secret may leave the process, so:

- the SDK attaches no request data, cookies, user or IP (`data_collection`, no web framework
  integration), no request bodies and no local variables of stack frames (a frame's `scope` holds
  the request's headers, a service's locals hold tokens and addresses);
- `before_send` passes every event, breadcrumbs included, through the log redaction
  (`kit/redaction.scrub`: secret-named keys, tokens, `whsec_` secrets, Authorization values, cookies,
  passwords, JWTs) and masks email addresses as well;
- the request ID is a tag on every event, so an event leads to the access line and the error report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sentry_sdk

from shipyard.kit.context import current_request_id
from shipyard.kit.redaction import scrub

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

    from shipyard.settings import Settings

# A domain ends in a name of letters, so `shipyard@0.1.0` (the release) is not an address.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
EMAIL_REDACTED = "[REDACTED_EMAIL]"


def configure_sentry(settings: Settings, *, release: str) -> bool:
    """Start the SDK when a DSN is configured; say whether it was started."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        release=f"shipyard@{release}",
        environment=settings.env.value,
        # Nothing about the user, no bodies, no SQL parameters, no local variables of stack frames.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        include_local_variables=False,
        max_request_body_size="never",
        # No framework, database or HTTP-client integrations: they would wrap the hot paths, and the
        # errors they catch already reach `report_exception` through the outermost middleware.
        auto_enabling_integrations=False,
        before_send=scrub_event,
        before_breadcrumb=_scrub_breadcrumb,
    )
    return True


def report_exception(exc: BaseException) -> None:
    """Send `exc` to Sentry if the SDK is on (a no-op otherwise); never raises."""
    if sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(exc)


def scrub_event(event: Event, _hint: Hint) -> Event:
    """`before_send`: tag the request ID and mask every secret and email address in the event."""
    request_id = current_request_id()
    if request_id is not None:
        event.setdefault("tags", {}).setdefault("request_id", request_id)
    scrubbed: Event = _mask_emails(scrub(event))
    return scrubbed


def _scrub_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = _mask_emails(scrub(crumb))
    return masked


def _mask_emails(value: Any) -> Any:  # noqa: ANN401 - an event is arbitrary JSON
    if isinstance(value, str):
        return _EMAIL.sub(EMAIL_REDACTED, value) if "@" in value else value
    if isinstance(value, dict):
        return {key: _mask_emails(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_emails(item) for item in value]
    return value
