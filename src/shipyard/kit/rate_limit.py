"""Rate limiting per bucket and client address: in-process by default, Valkey/Redis db1 when REDIS_URL is set.

The algorithm is a sliding-window log: a key remembers the time of each hit it allowed within the
window, and a hit is allowed while fewer than `limit` remain. Unlike a fixed window it never lets
through a burst of twice the limit across a window boundary, and `Retry-After` is exact (the moment
the oldest remembered hit leaves the window). It costs `limit` timestamps per active key, which is
small for the limits it serves (sign-in: 5 a minute). Refused hits are not remembered, so a client
that keeps hammering is readmitted at the configured rate, no faster; fail2ban (fed by the
`auth_failed` events refusals log) is what bans it.

If Redis cannot be reached, the Redis limiter falls back to an in-process limiter and logs a warning
at most once a minute. That fails open in the sense that matters (sign-in stays available while
Redis is down) without switching limiting off: each web process still enforces the limit on its own,
so the effective limit is at most `limit` x processes. Failing closed would turn a Redis outage into
a sign-in outage, for a control that is defence in depth.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from shipyard.kit.logging import get_logger
from shipyard.kit.redis_url import redis_db_url

RATE_LIMIT_REDIS_DB = 1  # docs/conventions.md: db0 sessions, db1 cache + rate limits, db2 job queue
KEY_PREFIX = "shipyard:rl:"
DEFAULT_AUTH_LIMIT_PER_MINUTE = 5
AUTH_WINDOW_S = 60.0
UNKNOWN_CLIENT = "unknown"

log = get_logger("shipyard.rate_limit")


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The verdict on one hit."""

    allowed: bool
    limit: int
    remaining: int
    # Whole seconds until a hit would be allowed again: 0 when allowed, at least 1 when refused.
    retry_after_s: int
    # Whole seconds until the oldest counted hit leaves the window and gives one unit back (the
    # `t` of the RateLimit header); equal to retry_after_s when refused.
    reset_s: int = 0


class RateLimiter(Protocol):
    """Counts hits per key; both backends answer the same."""

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitResult:
        """Record a hit on `key` if fewer than `limit` were allowed in the last `window_s` seconds."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def normalise_ip(candidate: str | None) -> str | None:
    """`candidate` as a canonical IP address (IPv4-mapped IPv6 as IPv4), or None when it is not one."""
    if not candidate:
        return None
    try:
        address = ipaddress.ip_address(candidate.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def client_key(ip: str | None) -> str:
    """The part of a key that names the client: its IP, or its /64 for IPv6.

    One IPv6 host usually holds a whole /64, so counting single IPv6 addresses would let it rotate
    through 2**64 of them. An address the request context could not resolve counts as one shared
    client, which is loud (everyone is limited together) rather than silent; it means a proxy is in
    front and SHIPYARD_TRUST_PROXY_HEADERS is off.
    """
    normalised = normalise_ip(ip)
    if normalised is None:
        return UNKNOWN_CLIENT
    address = ipaddress.ip_address(normalised)
    if address.version == 6:  # noqa: PLR2004 - the IP version, not a magic number
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return normalised


def rate_limit_key(bucket: str, ip: str | None) -> str:
    """`<bucket>:<client>`, the key both backends count under."""
    return f"{bucket}:{client_key(ip)}"


def _allowed(limit: int, remaining: int, reset_in_s: float) -> RateLimitResult:
    reset_s = max(1, math.ceil(reset_in_s))
    return RateLimitResult(allowed=True, limit=limit, remaining=max(0, remaining), retry_after_s=0, reset_s=reset_s)


def _refused(limit: int, wait_s: float) -> RateLimitResult:
    wait = max(1, math.ceil(wait_s))
    return RateLimitResult(allowed=False, limit=limit, remaining=0, retry_after_s=wait, reset_s=wait)


class InProcessRateLimiter:
    """A dict of hit logs on the monotonic clock; one process only (the embedded default).

    Memory stays bounded: keys whose last hit left its window are swept every `sweep_every_s`, and
    beyond `max_keys` the least recently hit key is forgotten (which can only let that client in
    early, never lock anyone out).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        sweep_every_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_every_s = sweep_every_s
        self._logs: OrderedDict[str, tuple[float, deque[float]]] = OrderedDict()
        self._last_sweep = clock()

    @property
    def tracked_keys(self) -> int:
        """How many keys hold state right now."""
        return len(self._logs)

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitResult:
        """Count a hit (no await inside: atomic on the event loop)."""
        return self.hit_now(key, limit=limit, window_s=window_s)

    def hit_now(self, key: str, *, limit: int, window_s: float) -> RateLimitResult:
        """The synchronous core of `hit`."""
        now = self._clock()
        if now - self._last_sweep >= self._sweep_every_s:
            self.sweep(now)
        _, hits = self._logs.get(key, (window_s, deque()))
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        self._logs[key] = (window_s, hits)
        self._logs.move_to_end(key)
        if len(hits) >= limit:
            return _refused(limit, hits[0] + window_s - now)
        hits.append(now)
        while len(self._logs) > self._max_keys:
            self._logs.popitem(last=False)
        return _allowed(limit, limit - len(hits), hits[0] + window_s - now)

    def sweep(self, now: float | None = None) -> None:
        """Forget every key whose most recent hit has left its window."""
        now = self._clock() if now is None else now
        self._last_sweep = now
        expired = [key for key, (window_s, hits) in self._logs.items() if not hits or hits[-1] <= now - window_s]
        for key in expired:
            del self._logs[key]

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS[1]: the log (a sorted set of hit times in ms). ARGV: limit, window in ms, a unique member.
# Returns {allowed, hits counted, ms until the oldest counted hit leaves the window}.
# The server's clock (TIME) is the one clock every app process shares. The whole script is atomic.
_SLIDING_LOG = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, count + 1, tonumber(first[2]) + window - now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, tonumber(oldest[2]) + window - now}
"""


class RedisRateLimiter:
    """The shared limiter for several processes or hosts, on Valkey/Redis (db1 by convention)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.5,
        fallback: InProcessRateLimiter | None = None,
        retry_redis_after_s: float = 5.0,
        warn_every_s: float = 60.0,
    ) -> None:
        # No client-side retries: a refused connection falls back at once instead of after backoff.
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
        )
        self._script = self._redis.register_script(_SLIDING_LOG)
        self.fallback = fallback or InProcessRateLimiter()
        self._retry_redis_after_s = retry_redis_after_s
        self._warn_every_s = warn_every_s
        # After a failure, Redis is skipped until this monotonic time (a dead Redis costs one timeout, not one per hit).
        self._redis_down_until = -math.inf
        self._last_warning = -math.inf

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitResult:
        """Count the hit in Redis; in-process while Redis is unreachable."""
        if time.monotonic() < self._redis_down_until:
            return self.fallback.hit_now(key, limit=limit, window_s=window_s)
        window_ms = max(1, round(window_s * 1000))
        try:
            verdict = await self._script(keys=[KEY_PREFIX + key], args=[limit, window_ms, secrets.token_hex(8)])
        except (RedisError, OSError) as exc:
            self._note_outage(exc)
            return self.fallback.hit_now(key, limit=limit, window_s=window_s)
        allowed, count, reset_ms = (int(part) for part in verdict)
        if allowed:
            return _allowed(limit, limit - count, reset_ms / 1000)
        return _refused(limit, reset_ms / 1000)

    def _note_outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._redis_down_until = now + self._retry_redis_after_s
        if now - self._last_warning >= self._warn_every_s:
            self._last_warning = now
            log.warning("rate_limit_redis_unavailable", error=type(exc).__name__, fallback="in_process")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def create_rate_limiter(settings: Any) -> RateLimiter:  # noqa: ANN401 - any object with the Settings attributes
    """Redis db1 when `settings.redis_url` is set, in-process otherwise."""
    redis_url = getattr(settings, "redis_url", None)
    if redis_url:
        return RedisRateLimiter(redis_db_url(redis_url, RATE_LIMIT_REDIS_DB))
    return InProcessRateLimiter()
