"""The process's Redis clients (presence, health). The channel layer has its own pool."""

from functools import cache

import redis
import redis.asyncio
from django.conf import settings

_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1, "health_check_interval": 30}


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, **_OPTIONS)


def get_async_redis() -> redis.asyncio.Redis:
    """A client for the running event loop (async clients must not cross loops)."""
    return redis.asyncio.Redis.from_url(settings.REDIS_URL, **_OPTIONS)
