"""Throttles that keep the API up when Redis is down.

Writes have ONE budget per user (`THROTTLE_WRITE`), shared by every REST write (POST,
PATCH, DELETE) and every WebSocket `message.send` (issue 12): `write_budget_take` is
the one place it is spent, from `WriteRateThrottle` (DRF) and from
`realtime.services.socket_message_send`. The budget is a sliding log in Redis (a
sorted set of the window's write times per user) checked and spent by one Lua script,
so concurrent writes of one user, in any number of processes, never overspend it
(DRF's own cache-based throttle reads the history, then writes it back: concurrent
requests all see the same history and all pass). Redis time is the clock, so server
processes whose clocks disagree share one window.
"""

import logging
import math
import uuid

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from slackclone.redis_client import get_redis

logger = logging.getLogger(__name__)

# KEYS[1]: the user's log. ARGV: window (seconds), limit, a unique member.
# Returns "" when the write is allowed (and recorded), else the seconds to wait.
_TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('EXPIRE', KEYS[1], math.ceil(window))
    return ''
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""
_take = None


def write_budget_take(*, user_id) -> float | None:
    """Spend one write of `user_id`'s budget (`THROTTLE_WRITE`, e.g. "600/min").

    Returns None if the write may go ahead, else the seconds until the budget allows
    one more (> 0; nothing is spent then). Fails open (None) when Redis is unavailable,
    as the rest of throttling does: Redis down must not stop writes."""
    global _take
    rate = WriteRateThrottle.THROTTLE_RATES.get(WriteRateThrottle.scope)
    if not rate:
        return None
    limit, window = WriteRateThrottle.parse_rate(None, rate)
    try:
        if _take is None:
            _take = get_redis().register_script(_TAKE_SCRIPT)
        answer = _take(keys=[f"throttle:write:{user_id}"], args=[window, limit, uuid.uuid4().hex])
    except (RedisError, OSError) as exc:
        logger.warning("throttle store unavailable, not throttling: %s", exc.__class__.__name__)
        return None
    if not answer:
        return None
    return max(float(answer), 0.001)


def retry_after_seconds(wait: float) -> int:
    """The whole seconds a client is told to wait (Retry-After, `retry_after`): at least 1."""
    return max(1, math.ceil(wait))


class _FailOpen:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("throttle cache unavailable, not throttling: %s", exc.__class__.__name__)
            return True


class AuthRateThrottle(_FailOpen, SimpleRateThrottle):
    """Register and login: per client IP."""

    scope = "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteRateThrottle(SimpleRateThrottle):
    """Writes (POST, PATCH, DELETE): per user, from the budget that WebSocket sends
    share (`write_budget_take`); reads are not throttled."""

    scope = "write"
    _wait: float | None = None

    def get_cache_key(self, request, view):  # unused: the budget lives in write_budget_take
        return None

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.user.is_authenticated:
            return True
        self._wait = write_budget_take(user_id=request.user.pk)
        return self._wait is None

    def wait(self):
        return self._wait
