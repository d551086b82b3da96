"""The session store on Valkey/Redis db0 (production: `REDIS_URL` set).

Keys (all under `shipyard:sess:`; times are epoch milliseconds):

* `s:<session id>`    hash: the session (user, organisation, device, lifetimes, current token hashes)
* `a:<sha256>`        hash: an access token -> session ID and expiry
* `r:<sha256>`        hash: a refresh token -> session ID, expiry, and `used` once exchanged
* `u:<user id>`       set: the user's session IDs (for "my sessions")
* `login:<sha256>`    string: a login in flight, bound to the browser's secret

Every key carries a TTL equal to what it describes, so Redis forgets expired tokens by itself; a
used refresh token is kept until its own expiry so that a late copy is still recognised as reuse.
Rotation, reuse detection and revocation are Lua scripts, hence atomic: of two concurrent refreshes
with the same token exactly one is exchanged. The scripts touch keys they derive from their
arguments, which standalone Valkey/Redis allows (not a cluster; sessions live on one server).
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.auth.store import (
    IssuedSession,
    Lifetimes,
    NewSession,
    Refused,
    Reused,
    Rotated,
    RotationOutcome,
    SessionRecord,
    hash_token,
    new_token,
    storable_hint,
)
from shipyard.kit.ids import new_id
from shipyard.kit.redis_url import redis_db_url
from shipyard.models.base import utcnow

PREFIX = "shipyard:sess:"
SESSIONS_DB = 0

# Helpers shared by the scripts. Numbers are written with %d: Lua's default would print 1e+12 style.
_REVOKE_FUNCTION = """
local function revoke(p, sid, now)
  local skey = p .. 's:' .. sid
  local s = redis.call('HMGET', skey, 'access', 'uid', 'exp')
  if not s[2] or tonumber(s[3]) <= now then return 0 end
  if s[1] then redis.call('DEL', p .. 'a:' .. s[1]) end
  redis.call('DEL', skey)
  redis.call('SREM', p .. 'u:' .. s[2], sid)
  return 1
end
local function remember_user(p, uid, sid, ttl)
  local ukey = p .. 'u:' .. uid
  redis.call('SADD', ukey, sid)
  if redis.call('PTTL', ukey) < ttl then redis.call('PEXPIRE', ukey, string.format('%d', ttl)) end
end
local function put_token(key, sid, exp, now)
  redis.call('HSET', key, 'sid', sid, 'exp', string.format('%d', exp))
  redis.call('PEXPIRE', key, string.format('%d', exp - now))
end
"""

_CREATE = (
    _REVOKE_FUNCTION
    + """
local p, sid, now = ARGV[1], ARGV[2], tonumber(ARGV[10])
local access, aexp, refresh, rexp = ARGV[11], tonumber(ARGV[12]), ARGV[13], tonumber(ARGV[14])
local skey = p .. 's:' .. sid
redis.call('HSET', skey, 'uid', ARGV[3], 'org', ARGV[4], 'provider', ARGV[5], 'ip', ARGV[6], 'ua', ARGV[7],
  'remember', ARGV[8], 'hint', ARGV[9], 'created', ARGV[10], 'seen', ARGV[10], 'exp', ARGV[14],
  'access', access, 'refresh', refresh)
redis.call('PEXPIRE', skey, string.format('%d', rexp - now))
put_token(p .. 'a:' .. access, sid, aexp, now)
put_token(p .. 'r:' .. refresh, sid, rexp, now)
remember_user(p, ARGV[3], sid, rexp - now)
return 1
"""
)

_ROTATE = (
    _REVOKE_FUNCTION
    + """
local p, old, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local access, refresh = ARGV[4], ARGV[5]
local access_ttl, refresh_ttl, remember_ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local rkey = p .. 'r:' .. old
local token = redis.call('HMGET', rkey, 'sid', 'exp', 'used')
if not token[1] then return {'unknown_token'} end
local sid = token[1]
local skey = p .. 's:' .. sid
local exp = redis.call('HGET', skey, 'exp')
if not exp or tonumber(exp) <= now then return {'session_expired'} end
if token[3] then
  local record = redis.call('HGETALL', skey)
  revoke(p, sid, now)
  return {'reused', sid, record}
end
if tonumber(token[2]) <= now then return {'token_expired'} end
redis.call('HSET', rkey, 'used', ARGV[3])
local previous = redis.call('HGET', skey, 'access')
if previous then redis.call('DEL', p .. 'a:' .. previous) end
local ttl = refresh_ttl
if redis.call('HGET', skey, 'remember') == '1' then ttl = remember_ttl end
local rexp = now + ttl
local aexp = math.min(now + access_ttl, rexp)
put_token(p .. 'a:' .. access, sid, aexp, now)
put_token(p .. 'r:' .. refresh, sid, rexp, now)
redis.call('HSET', skey, 'access', access, 'refresh', refresh, 'exp', string.format('%d', rexp), 'seen', ARGV[3])
redis.call('PEXPIRE', skey, string.format('%d', ttl))
remember_user(p, redis.call('HGET', skey, 'uid'), sid, ttl)
return {'ok', sid, redis.call('HGETALL', skey), string.format('%d', aexp), string.format('%d', rexp)}
"""
)

_REVOKE = _REVOKE_FUNCTION + "\nreturn revoke(ARGV[1], ARGV[2], tonumber(ARGV[3]))\n"

_TOUCH = """
local skey = ARGV[1] .. 's:' .. ARGV[2]
if redis.call('EXISTS', skey) == 1 then redis.call('HSET', skey, 'seen', ARGV[3]) end
return 1
"""


# Moves a live session to another organisation; a session that ended meanwhile is not recreated.
_SWITCH = """
local skey = ARGV[1] .. 's:' .. ARGV[2]
if redis.call('EXISTS', skey) == 1 then redis.call('HSET', skey, 'org', ARGV[3]) return 1 end
return 0
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _now(now: datetime | None) -> datetime:
    """`now` to the millisecond, the store's precision, so what is returned equals what is stored."""
    moment = now or utcnow()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _moment(ms: str | int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _record(session_id: str, fields: dict[str, str]) -> SessionRecord:
    return SessionRecord(
        session_id=session_id,
        user_id=fields["uid"],
        organization_id=fields["org"],
        provider=fields.get("provider") or None,
        ip=fields.get("ip") or None,
        user_agent=fields.get("ua") or None,
        remember=fields.get("remember") == "1",
        id_token_hint=fields.get("hint") or None,
        created_at=_moment(fields["created"]),
        last_seen_at=_moment(fields["seen"]),
        expires_at=_moment(fields["exp"]),
    )


class RedisSessionStore:
    """Sessions and logins in one Valkey/Redis database."""

    def __init__(self, redis_url: str, lifetimes: Lifetimes, *, prefix: str = PREFIX) -> None:
        self.redis: Redis = Redis.from_url(redis_db_url(redis_url, SESSIONS_DB), decode_responses=True)
        self.lifetimes = lifetimes
        self.prefix = prefix
        self._create = self.redis.register_script(_CREATE)
        self._rotate = self.redis.register_script(_ROTATE)
        self._revoke = self.redis.register_script(_REVOKE)
        self._touch = self.redis.register_script(_TOUCH)
        self._switch = self.redis.register_script(_SWITCH)

    # --- logins in flight --------------------------------------------------------------------

    async def save_login_attempt(self, state: str, browser_secret: str, data: dict[str, Any], ttl_s: int) -> None:
        """Store the login for `ttl_s` seconds under the hash of its `state`."""
        value = json.dumps({"browser": hash_token(browser_secret), "data": data})
        await self.redis.set(f"{self.prefix}login:{hash_token(state)}", value, ex=ttl_s)

    async def take_login_attempt(self, state: str, browser_secret: str) -> dict[str, Any] | None:
        """GETDEL the login: consumed by the first taker; returned only to the browser that started it."""
        value = await self.redis.getdel(f"{self.prefix}login:{hash_token(state)}")
        if value is None:
            return None
        stored = json.loads(value)
        if not hmac.compare_digest(stored["browser"], hash_token(browser_secret)):
            return None
        data: dict[str, Any] = stored["data"]
        return data

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self,
        db: AsyncSession,  # noqa: ARG002 - the database store writes through it; Redis needs no transaction
        new: NewSession,
        *,
        now: datetime | None = None,
    ) -> IssuedSession:
        """Write the session and its first tokens in one script."""
        now = _now(now)
        refresh_expires = now + self.lifetimes.refresh_for(remember=new.remember)
        issued = IssuedSession(
            session_id=new_id("ses"),
            access_token=new_token(),
            access_expires_at=min(now + self.lifetimes.access, refresh_expires),
            refresh_token=new_token(),
            refresh_expires_at=refresh_expires,
            remember=new.remember,
        )
        await self._create(
            keys=[],
            args=[
                self.prefix,
                issued.session_id,
                new.user_id,
                new.organization_id,
                (new.provider or "")[:64],
                new.ip or "",
                (new.user_agent or "")[:512],
                "1" if new.remember else "0",
                storable_hint(new.id_token_hint) or "",
                _ms(now),
                hash_token(issued.access_token),
                _ms(issued.access_expires_at),
                hash_token(issued.refresh_token),
                _ms(issued.refresh_expires_at),
            ],
        )
        return issued

    # redis-py types replies as bytes | str; with decode_responses=True they are always str.
    async def _hash(self, key: str) -> dict[str, str]:
        return cast("dict[str, str]", await self.redis.hgetall(f"{self.prefix}{key}"))

    async def _live_session(self, session_id: str, now: datetime) -> SessionRecord | None:
        fields = await self._hash(f"s:{session_id}")
        if not fields or int(fields["exp"]) <= _ms(now):
            return None
        return _record(session_id, fields)

    async def resolve_access(self, access_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session behind an unexpired access token that is still its session's current one."""
        now = _now(now)
        token_hash = hash_token(access_token)
        token = await self._hash(f"a:{token_hash}")
        if not token or int(token["exp"]) <= _ms(now):
            return None
        fields = await self._hash(f"s:{token['sid']}")
        if not fields or int(fields["exp"]) <= _ms(now) or fields.get("access") != token_hash:
            return None
        return _record(token["sid"], fields)

    async def find_by_refresh(self, refresh_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session a refresh token belongs to, used or not."""
        session_id = cast("str | None", await self.redis.hget(f"{self.prefix}r:{hash_token(refresh_token)}", "sid"))
        return None if session_id is None else await self._live_session(session_id, _now(now))

    async def rotate_refresh(self, refresh_token: str, *, now: datetime | None = None) -> RotationOutcome:
        """Exchange the token in one script; a used one revokes its session there and then."""
        now = _now(now)
        access, refresh = new_token(), new_token()
        reply = await self._rotate(
            keys=[],
            args=[
                self.prefix,
                hash_token(refresh_token),
                _ms(now),
                hash_token(access),
                hash_token(refresh),
                int(self.lifetimes.access.total_seconds() * 1000),
                int(self.lifetimes.refresh.total_seconds() * 1000),
                int(self.lifetimes.remember.total_seconds() * 1000),
            ],
        )
        status = reply[0]
        if status == "reused":
            return Reused(_record(reply[1], _pairs(reply[2])))
        if status != "ok":
            return Refused(status)
        record = _record(reply[1], _pairs(reply[2]))
        issued = IssuedSession(
            session_id=record.session_id,
            access_token=access,
            access_expires_at=_moment(reply[3]),
            refresh_token=refresh,
            refresh_expires_at=_moment(reply[4]),
            remember=record.remember,
        )
        return Rotated(issued, record)

    async def touch(self, session_id: str, *, now: datetime | None = None) -> None:
        """Set the session's last-seen time (if it still exists)."""
        await self._touch(keys=[], args=[self.prefix, session_id, _ms(_now(now))])

    async def get_session(self, session_id: str, *, now: datetime | None = None) -> SessionRecord | None:
        """A live session by ID."""
        return await self._live_session(session_id, _now(now))

    async def switch_organization(self, session_id: str, organization_id: str) -> bool:
        """Make `organization_id` the session's active organisation; False if the session is gone."""
        return bool(await self._switch(keys=[], args=[self.prefix, session_id, organization_id]))

    async def list_sessions(self, user_id: str, *, now: datetime | None = None) -> list[SessionRecord]:
        """The user's live sessions, newest first; IDs of sessions Redis has forgotten are dropped."""
        now = _now(now)
        user_key = f"{self.prefix}u:{user_id}"
        session_ids = sorted(cast("set[str]", await self.redis.smembers(user_key)))
        if not session_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.hgetall(f"{self.prefix}s:{session_id}")
            found: list[dict[str, str]] = await pipe.execute()
        gone = [session_id for session_id, fields in zip(session_ids, found, strict=True) if not fields]
        if gone:
            await self.redis.srem(user_key, *gone)
        records = [
            _record(session_id, fields)
            for session_id, fields in zip(session_ids, found, strict=True)
            if fields and int(fields["exp"]) > _ms(now)
        ]
        return sorted(records, key=lambda record: (record.created_at, record.session_id), reverse=True)

    async def revoke_session(self, session_id: str, reason: str, *, now: datetime | None = None) -> bool:  # noqa: ARG002 - Redis keeps no tombstone; the audit log has the reason
        """Delete the session and its access token."""
        return bool(await self._revoke(keys=[], args=[self.prefix, session_id, _ms(_now(now))]))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
