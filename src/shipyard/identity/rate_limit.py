"""Rate limits on the versioned API (`/api/v1`): per token, per signed-in user, or per client address.

Each call is counted against one of two policies, `reads` (GET, HEAD, OPTIONS) or `writes`
(everything else), on the same limiter sign-in uses (kit/rate_limit.py: in-process, or Valkey/Redis
db1 when REDIS_URL is set so every process shares one count). The key is the caller: an API token
by its id, a browser session by its user, and anything unauthenticated (no credential, or one that
failed) by its client address, so an agent stuck in a loop spends its own quota and nobody else's.

Every answer under `/api/v1` carries the quota it was counted against, in the structured-field form
of draft-ietf-httpapi-ratelimit-headers-10 (`RateLimit-Policy: "reads";q=1200;w=60` and
`RateLimit: "reads";r=1187;t=42`), so a well-behaved agent can pace itself without ever being
refused. Over the limit the answer is 429 `rate_limited` with `Retry-After`.

It is a pure ASGI middleware: the caller is resolved through `resolve_principal`, which caches its
outcome in the scope, so the endpoint's own authentication costs nothing more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.identity.app_state import identity_state
from shipyard.identity.auth import resolve_principal
from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.problems import problem_response
from shipyard.kit.rate_limit import RateLimiter, RateLimitResult, client_key

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ApiRatePolicy:
    """One quota: `limit` calls per `window_s` seconds, named in the headers."""

    name: str
    limit: int
    window_s: float

    @property
    def policy_header(self) -> bytes:
        """The `RateLimit-Policy` field value: the policy's name, quota and window."""
        return f'"{self.name}";q={self.limit};w={max(1, math.ceil(self.window_s))}'.encode()

    def state_header(self, result: RateLimitResult) -> bytes:
        """The `RateLimit` field value: what is left of the quota and when one unit comes back."""
        return f'"{self.name}";r={result.remaining};t={result.reset_s}'.encode()


async def caller_key(scope: Scope) -> str:
    """Whom a call counts against: its token, its signed-in user, or (unauthenticated) its address."""
    outcome = await resolve_principal(scope)
    if isinstance(outcome, Principal):
        if outcome.token_id:
            return f"token:{outcome.token_id}"
        return f"user:{outcome.organization_id}:{outcome.user_id}"
    context = scope.get("state", {}).get("request_context")
    return f"ip:{client_key(getattr(context, 'ip', None))}"


class ApiRateLimitMiddleware:
    """Counts every `/api/v1` call against the reads or writes policy of its caller."""

    def __init__(self, app: ASGIApp, *, reads: ApiRatePolicy, writes: ApiRatePolicy) -> None:
        self.app = app
        self.reads = reads
        self.writes = writes
        # Each policy with its key prefix and `RateLimit-Policy` field, built once rather than on every call.
        self._reads = (reads, f"api_{reads.name}:", (b"ratelimit-policy", reads.policy_header))
        self._writes = (writes, f"api_{writes.name}:", (b"ratelimit-policy", writes.policy_header))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a call over its quota; otherwise pass it on and label its answer with the quota."""
        if scope["type"] != "http" or not scope["path"].startswith(API_V1):
            await self.app(scope, receive, send)
            return
        policy, key_prefix, policy_field = self._reads if scope["method"] in READ_METHODS else self._writes
        if policy.limit <= 0:  # 0 switches the policy off (a load test, say)
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = identity_state(scope["app"]).rate_limiter
        result = await limiter.hit(key_prefix + await caller_key(scope), limit=policy.limit, window_s=policy.window_s)
        quota_headers = [policy_field, (b"ratelimit", policy.state_header(result))]
        if not result.allowed:
            refusal = problem_response(
                429,
                "rate_limited",
                f"Over the {policy.name} quota of {policy.limit} calls per {policy.window_s:g} seconds; "
                f"retry in {result.retry_after_s} seconds.",
                headers={"Retry-After": str(result.retry_after_s)},
            )
            refusal.raw_headers.extend(quota_headers)
            await refusal(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *quota_headers]
            await send(message)

        await self.app(scope, receive, send_with_quota)
