"""WebSocket tickets: browsers cannot set an Authorization header on a WebSocket, so
they trade their token for a ticket (POST /api/v1/realtime/ticket) and connect with
`?ticket=<t>`.

A ticket is 256 random bits, valid for TICKET_TTL_SECONDS and for one connection
attempt only: redeeming it deletes it (GETDEL), used or not. Redis stores only its
SHA-256, with the user and the digest of the token it was issued for, so a ticket
dies with its token (logout) as well.
"""

import hashlib
import json
import secrets

from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import get_token_model
from redis.exceptions import RedisError

from slackclone import errors
from slackclone.redis_client import get_redis

TICKET_TTL_SECONDS = 60
MAX_TICKET_LENGTH = 128
_KEY_PREFIX = "realtime:ticket:"


def _key(ticket: str) -> str:
    return _KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user, auth_token=None) -> str:
    """A new single-use ticket for `user` (and the knox token the request used, if any).
    Raises StoreUnavailable("redis")."""
    ticket = secrets.token_urlsafe(32)
    value = json.dumps({"user_id": str(user.pk), "token": getattr(auth_token, "digest", None)})
    try:
        get_redis().set(_key(ticket), value, ex=TICKET_TTL_SECONDS)
    except (RedisError, OSError) as exc:
        raise errors.StoreUnavailable("redis") from exc
    return ticket


def ticket_redeem(*, ticket: str):
    """(user, token digest) of the active user a ticket was issued to, consuming the
    ticket; None if it is unknown, used, expired, or its token or user is gone.
    Raises StoreUnavailable("redis")."""
    if not ticket or len(ticket) > MAX_TICKET_LENGTH:
        return None
    try:
        raw = get_redis().getdel(_key(ticket))
    except (RedisError, OSError) as exc:
        raise errors.StoreUnavailable("redis") from exc
    if raw is None:
        return None
    data = json.loads(raw)
    if data.get("token"):
        token = get_token_model().objects.filter(digest=data["token"]).select_related("user").first()
        if token is None or str(token.user_id) != data["user_id"]:
            return None
        if token.expiry is not None and token.expiry < timezone.now():
            return None
        user = token.user
    else:
        user = get_user_model().objects.filter(pk=data["user_id"]).first()
    return (user, data.get("token")) if user is not None and user.is_active else None


def ticket_membership(*, user, token_digest: str | None):
    """The active membership a redeemed ticket's socket acts in: its token's (see
    accounts.auth), or, for a ticket issued without a token, the default workspace's."""
    from accounts.selectors import token_membership

    tokens = get_token_model().objects.select_related("workspace_binding__member__workspace")
    token = tokens.filter(digest=token_digest).first() if token_digest else None
    if token is None:
        if token_digest:
            return None
        token = get_token_model()(user=user)  # a ticket of no token acts like a legacy token
    membership = token_membership(token=token)
    return membership if membership is not None and membership.is_active else None
