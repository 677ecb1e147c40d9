"""DRF throttles that keep the API up when Redis (their cache) is down."""

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


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


class WriteRateThrottle(_FailOpen, SimpleRateThrottle):
    """Writes (POST, PATCH, DELETE): per user; reads are not throttled."""

    scope = "write"

    def get_cache_key(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
