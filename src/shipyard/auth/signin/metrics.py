"""`shipyard_sign_ins_total`: the sign-in counter, labelled only with values from a bounded set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.auth.app_state import sign_in_state

if TYPE_CHECKING:
    from starlette.requests import Request

    from shipyard.kit.metrics import HttpMetrics
    from shipyard.settings import Settings


def count_sign_in(request: Request, settings: Settings, *, provider: str | None, reason: str | None = None) -> None:
    """Count a finished sign-in (a failure when `reason`, one of the fixed login_failed reasons, is given).

    The provider comes from the IdP's answer, so only the configured Authentik sources become a label:
    an unexpected value is `other`, and cannot create new series.
    """
    metrics: HttpMetrics | None = sign_in_state(request.app).metrics
    if metrics is not None:
        known = {slug for slug, _ in settings.sign_in_buttons if slug}
        metrics.count_sign_in(provider=provider, known=known, reason=reason)
