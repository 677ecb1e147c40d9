"""Live presence in Redis: every redis call of the presence feature.

Keys (one Redis, the one in settings.REDIS_URL):

- `presence:<user_id>:conns`  ZSET  connection (its channel-layer name) -> heartbeat expiry
- `presence:<user_id>:state`  HASH  status ("online" | "offline"), last_seen_at (epoch seconds)
- `presence:due`              ZSET  user_id -> when the user must be re-evaluated: the newest
                                    heartbeat expiry while connected, or the end of the grace
                                    period after the last disconnect

Every change is one Lua script, so it is atomic across server processes, and every
script reads the clock of Redis (TIME), so app hosts whose clocks disagree agree on
expiry. A connection counts while its expiry is in the future; a process that dies
stops refreshing its connections, they expire, and the next sweep by any process
(`evaluate`) turns the user offline exactly once: only the script call that flips the
stored status from online to offline reports the change.

Sync functions are for sync code (services, views, management commands); the `a...`
functions are for the event loop and use one redis.asyncio client per loop.
"""

import asyncio
import functools
import weakref
from collections.abc import Iterable

import redis
import redis.asyncio
from redis.exceptions import RedisError

from slackclone import errors
from slackclone.redis_client import get_async_redis, get_redis

PREFIX = "presence:"
DUE_KEY = f"{PREFIX}due"
STATE_PATTERN = f"{PREFIX}*:state"

ONLINE = "online"
OFFLINE = "offline"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: conns, state, due.  ARGV: connection, ttl, user_id, mode ("add" | "refresh").
# Returns {changed (1: went online, 0: was online, -1: refresh of an unknown connection), now}.
_TOUCH = (
    _NOW
    + """
local ttl = tonumber(ARGV[2])
local nowstr = string.format('%.3f', now)
if ARGV[4] == 'refresh' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {-1, nowstr}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], string.format('%.3f', now + ttl), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 60)
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[3], newest[2], ARGV[3])
redis.call('HSET', KEYS[2], 'last_seen_at', nowstr)
if redis.call('HGET', KEYS[2], 'status') ~= 'online' then
  redis.call('HSET', KEYS[2], 'status', 'online')
  return {1, nowstr}
end
return {0, nowstr}
"""
)

# KEYS: conns, state, due.  ARGV: connection, grace, user_id.  Returns live connections left.
_DISCONNECT = (
    _NOW
    + """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local left = redis.call('ZCARD', KEYS[1])
if removed == 1 then
  redis.call('HSET', KEYS[2], 'last_seen_at', string.format('%.3f', now))
end
if left == 0 then
  redis.call('ZADD', KEYS[3], string.format('%.3f', now + tonumber(ARGV[2])), ARGV[3])
end
return left
"""
)

# KEYS: conns, state, due.  ARGV: user_id.
# Returns last_seen_at (string) if this call turned the user offline, else nil.
_EVALUATE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #newest > 0 then
  redis.call('ZADD', KEYS[3], newest[2], ARGV[1])
  return false
end
local due = redis.call('ZSCORE', KEYS[3], ARGV[1])
if due and tonumber(due) > now then
  return false
end
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[2], 'status') == 'online' then
  redis.call('HSET', KEYS[2], 'status', 'offline')
  return redis.call('HGET', KEYS[2], 'last_seen_at') or ''
end
return false
"""
)

# KEYS: due.  ARGV: limit.  The users whose re-evaluation time has come.
_DUE = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now), 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

# KEYS: due, then conns and state of each user.  ARGV: the user ids.
# Returns {online (1|0), last_seen_at or ''} per user: what a reader should believe now,
# whether or not a sweep has run (lazy evaluation).
_READ = (
    _NOW
    + """
local out = {}
for i, uid in ipairs(ARGV) do
  local conns, state = KEYS[2 * i], KEYS[2 * i + 1]
  local live = redis.call('ZCOUNT', conns, '(' .. string.format('%.3f', now), '+inf')
  local status = redis.call('HGET', state, 'status')
  local online = 0
  if live > 0 then
    online = 1
  elseif status == 'online' then
    local due = redis.call('ZSCORE', KEYS[1], uid)
    if due and tonumber(due) > now then
      online = 1
    end
  end
  out[#out + 1] = online
  out[#out + 1] = redis.call('HGET', state, 'last_seen_at') or ''
end
return out
"""
)


def conns_key(user_id: str) -> str:
    return f"{PREFIX}{user_id}:conns"


def state_key(user_id: str) -> str:
    return f"{PREFIX}{user_id}:state"


def _keys(user_id: str) -> list[str]:
    return [conns_key(user_id), state_key(user_id), DUE_KEY]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(value) -> float | None:
    text = _text(value) if value is not None else ""
    return float(text) if text else None


def _unavailable(func):
    """Redis errors become StoreUnavailable("redis") (503 in the API)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise errors.StoreUnavailable("redis") from exc

    return wrapper


# --- sync ---------------------------------------------------------------------


@functools.cache
def _scripts(client: redis.Redis) -> dict:
    return {
        name: client.register_script(lua)
        for name, lua in (
            ("touch", _TOUCH),
            ("disconnect", _DISCONNECT),
            ("evaluate", _EVALUATE),
            ("due", _DUE),
            ("read", _READ),
        )
    }


def _sync() -> tuple[redis.Redis, dict]:
    client = get_redis()
    return client, _scripts(client)


@_unavailable
def connect(*, user_id: str, connection: str, ttl: float) -> tuple[bool, float]:
    """Register a live connection. Returns (went_online, now)."""
    _client, scripts = _sync()
    changed, now = scripts["touch"](keys=_keys(user_id), args=[connection, ttl, user_id, "add"])
    return int(changed) == 1, float(_text(now))


@_unavailable
def disconnect(*, user_id: str, connection: str, grace: float) -> int:
    """Forget a connection; the user stays online for `grace` seconds. Returns live connections left."""
    _client, scripts = _sync()
    return int(scripts["disconnect"](keys=_keys(user_id), args=[connection, grace, user_id]))


@_unavailable
def due_user_ids(*, limit: int = 500) -> list[str]:
    _client, scripts = _sync()
    return [_text(uid) for uid in scripts["due"](keys=[DUE_KEY], args=[limit])]


@_unavailable
def evaluate(*, user_id: str) -> tuple[bool, float | None]:
    """Settle a due user. Returns (went_offline, last_seen_at)."""
    _client, scripts = _sync()
    result = scripts["evaluate"](keys=_keys(user_id), args=[user_id])
    if result is None:
        return False, None
    return True, _seconds(result)


@_unavailable
def read_many(*, user_ids: list[str]) -> list[tuple[str, bool, float | None]]:
    """(user_id, online, last_seen_at) for each user, in order; unknown users are offline, never seen."""
    if not user_ids:
        return []
    _client, scripts = _sync()
    keys = [DUE_KEY]
    for uid in user_ids:
        keys += [conns_key(uid), state_key(uid)]
    flat = scripts["read"](keys=keys, args=list(user_ids))
    return [(uid, int(flat[2 * i]) == 1, _seconds(flat[2 * i + 1])) for i, uid in enumerate(user_ids)]


@_unavailable
def live_connections(*, user_ids: Iterable[str]) -> dict[str, list[str]]:
    """user_id -> the channel-layer names of their unexpired connections."""
    client = get_redis()
    user_ids = list(user_ids)
    seconds, micros = client.time()
    now = seconds + micros / 1_000_000
    pipe = client.pipeline(transaction=False)
    for uid in user_ids:
        pipe.zrangebyscore(conns_key(uid), f"({now:.3f}", "+inf")
    results = pipe.execute()
    return {uid: [_text(c) for c in conns] for uid, conns in zip(user_ids, results, strict=True)}


@_unavailable
def known_user_ids() -> list[str]:
    """Every user with presence state in Redis (for snapshots)."""
    client = get_redis()
    start, end = len(PREFIX), -len(":state")
    return [_text(key)[start:end] for key in client.scan_iter(match=STATE_PATTERN, count=500)]


# --- async (event loop) ---------------------------------------------------------

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple]" = weakref.WeakKeyDictionary()


def _async() -> tuple[redis.asyncio.Redis, dict]:
    """One client (one connection pool) per event loop: async clients must not cross loops."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(loop)
    if found is None:
        client = get_async_redis()
        scripts = {
            "touch": client.register_script(_TOUCH),
            "disconnect": client.register_script(_DISCONNECT),
            "due": client.register_script(_DUE),
        }
        found = _async_clients[loop] = (client, scripts)
    return found


async def aconnect(*, user_id: str, connection: str, ttl: float) -> tuple[bool, float]:
    _client, scripts = _async()
    changed, now = await scripts["touch"](keys=_keys(user_id), args=[connection, ttl, user_id, "add"])
    return int(changed) == 1, float(_text(now))


async def aheartbeat(*, connections: list[tuple[str, str]], ttl: float) -> list[tuple[str, str]]:
    """Refresh many (user_id, connection) pairs in one round trip. Returns the pairs
    Redis did not know (swept while this process stalled): the caller re-registers
    those that are still open."""
    if not connections:
        return []
    client, scripts = _async()
    async with client.pipeline(transaction=False) as pipe:
        for user_id, connection in connections:
            await scripts["touch"](keys=_keys(user_id), args=[connection, ttl, user_id, "refresh"], client=pipe)
        results = await pipe.execute()
    return [pair for pair, (changed, _now) in zip(connections, results, strict=True) if int(changed) == -1]


async def adisconnect(*, user_id: str, connection: str, grace: float) -> int:
    _client, scripts = _async()
    return int(await scripts["disconnect"](keys=_keys(user_id), args=[connection, grace, user_id]))


async def adue_user_ids(*, limit: int = 500) -> list[str]:
    _client, scripts = _async()
    return [_text(uid) for uid in await scripts["due"](keys=[DUE_KEY], args=[limit])]
