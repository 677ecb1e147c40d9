"""The cache backend: Django's RedisCache with one Redis connection pool per process.

Django keeps one cache object per thread (`django.core.cache.caches` is thread-local)
and its Redis client opens a connection pool per object. Under ASGI every request runs
in a thread of its own, so every request (its throttle check) opened a new Redis
connection, and redis-py reads its package metadata for each new connection: about a
tenth of the server CPU of a REST send (py-spy, docs/performance.md). Here the pools
are shared by every cache object of the process with the same server and options.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[str, str], object] = {}
_pools_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], repr(sorted(self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    """settings.CACHES BACKEND "slackclone.cache.SharedPoolRedisCache"; same OPTIONS as RedisCache."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
