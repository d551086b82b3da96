"""The rate limit on sign-in (`/api/auth/*`): a FastAPI dependency over kit/rate_limit.py's limiter.

Over the limit a client gets 429 `rate_limited` with `Retry-After`, and an `auth_failed` log line
that fail2ban counts.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from shipyard.auth.app_state import sign_in_state
from shipyard.auth.failures import report_auth_failure
from shipyard.kit.context import current_request_context
from shipyard.kit.problems import ProblemError
from shipyard.kit.rate_limit import AUTH_WINDOW_S, DEFAULT_AUTH_LIMIT_PER_MINUTE, RateLimiter, rate_limit_key


def _client_ip(request: Request) -> str | None:
    # The request context holds the address after the one-hop proxy rule (kit/proxy_headers.py) ran.
    context = getattr(request.state, "request_context", None) or current_request_context()
    if context is not None:
        return context.ip
    return request.client.host if request.client else None


def rate_limited(bucket: str) -> Any:  # noqa: ANN401 - FastAPI's Depends() marker is typed Any
    """A dependency refusing a client over `auth_rate_limit_per_minute` hits a minute on `bucket` (429)."""

    async def check_rate_limit(request: Request) -> None:
        settings = sign_in_state(request.app).settings
        limit = int(getattr(settings, "auth_rate_limit_per_minute", DEFAULT_AUTH_LIMIT_PER_MINUTE))
        if limit <= 0:  # 0 switches the limit off (a load test, say)
            return
        limiter: RateLimiter = sign_in_state(request.app).rate_limiter
        ip = _client_ip(request)
        result = await limiter.hit(rate_limit_key(bucket, ip), limit=limit, window_s=AUTH_WINDOW_S)
        if result.allowed:
            return
        report_auth_failure(reason="rate_limited", client_ip=ip, bucket=bucket)
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many requests from this address; retry in {result.retry_after_s} seconds.",
            headers={"Retry-After": str(result.retry_after_s)},
        )

    return Depends(check_rate_limit)
