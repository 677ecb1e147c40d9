"""WebSocket authentication: `Authorization: Bearer <token>` (knox), or `?ticket=<t>`
from POST /api/v1/realtime/ticket (browsers, which cannot set headers on a WebSocket).

The middleware only identifies the user and the workspace the credential acts in
(`scope["workspace"]`, `scope["membership"]`, through accounts.auth, the one place that
turns a credential into them); the consumer refuses the connection (close code 4401)
when `scope["user"]` is anonymous, so the client sees the code. With an
Authorization header present, only the header counts (a bad header is not rescued by
a ticket). `scope["auth_failure"]` says why there is no user: "unauthenticated", or
"unavailable" when a store needed to check the credential did not answer.
"""

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import AuthenticationFailed

from accounts.auth import token_authenticate
from realtime import tickets
from slackclone import errors

logger = logging.getLogger(__name__)

UNAUTHENTICATED = "unauthenticated"
UNAVAILABLE = "unavailable"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def _ticket(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    values = query.get("ticket")
    return values[0] if values else None


def credentials_authenticate(*, authorization: str | None, ticket: str | None):
    """(user, token digest, membership, None) for valid credentials, else (None, None,
    None, UNAUTHENTICATED or UNAVAILABLE). Sync (ORM, Redis). The digest names the knox
    token the socket stands on, so revoking that token can close it (None for a ticket of
    no token); the membership (with its workspace) is the one the token acts in."""
    try:
        if authorization is not None:
            parts = authorization.split()
            if len(parts) != 2 or parts[0].lower() != "bearer":
                return None, None, None, UNAUTHENTICATED
            user, token, membership = token_authenticate(parts[1])
            return user, token.digest, membership, None
        if ticket is not None:
            redeemed = tickets.ticket_redeem(ticket=ticket)
            if redeemed is not None:
                user, digest = redeemed
                membership = tickets.ticket_membership(user=user, token_digest=digest)
                if membership is not None and membership.workspace is not None:  # loaded here, off the loop
                    return user, digest, membership, None
            return None, None, None, UNAUTHENTICATED
    except AuthenticationFailed:
        return None, None, None, UNAUTHENTICATED
    except (errors.StoreUnavailable, OperationalError, InterfaceError) as exc:
        logger.warning("websocket authentication: a store is unavailable: %r", exc)
        return None, None, None, UNAVAILABLE
    return None, None, None, UNAUTHENTICATED


class TokenAuthMiddleware:
    """Sets scope["user"] (AnonymousUser when the credential is missing or bad),
    scope["workspace"] and scope["membership"] (None then), scope["auth_token_digest"]
    and scope["auth_failure"]."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        user, token_digest, membership, failure = await database_sync_to_async(
            credentials_authenticate, thread_sensitive=False
        )(authorization=_header(scope, b"authorization"), ticket=_ticket(scope))
        scope = {
            **scope,
            "user": user or AnonymousUser(),
            "workspace": membership.workspace if membership is not None else None,
            "membership": membership,
            "auth_token_digest": token_digest,
            "auth_failure": failure,
        }
        return await self.inner(scope, receive, send)
