"""GET /api/v1/health: is each store answering?"""

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response

from messaging.mongo import ping as mongo_ping
from slackclone.redis_client import get_redis

logger = logging.getLogger(__name__)


def _postgres():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis():
    get_redis().ping()


CHECKS = {"postgres": _postgres, "mongo": mongo_ping, "redis": _redis}


def check_stores() -> dict[str, str]:
    result = {}
    for name, check in CHECKS.items():
        try:
            check()
            result[name] = "ok"
        except Exception as exc:  # any failure means "down"; the reason goes to the log
            logger.warning("health: %s is down: %s", name, exc.__class__.__name__)
            result[name] = "down"
            if name == "postgres":
                connection.close_if_unusable_or_obsolete()
    return result


_Status = serializers.ChoiceField(choices=["ok", "down"])


@extend_schema(
    summary="Health of the service and each store",
    auth=[],
    responses={
        (200, "application/json"): inline_serializer(
            "Health",
            {"status": _Status, "postgres": _Status, "mongo": _Status, "redis": _Status},
        ),
        (503, "application/json"): inline_serializer(
            "HealthDown",
            {"status": _Status, "postgres": _Status, "mongo": _Status, "redis": _Status},
        ),
    },
)
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def health(request):
    stores = check_stores()
    ok = all(v == "ok" for v in stores.values())
    response = Response({"status": "ok" if ok else "down", **stores}, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = str(settings.STORE_RETRY_AFTER_SECONDS)
    return response
