"""The one place that turns a credential into (user, workspace, membership).

A knox token acts in ONE workspace: the membership its `TokenWorkspace` row names (a
token without that row, minted before workspaces existed or outside the services,
acts in the default workspace). The DRF authentication class below serves every REST
request and sets `request.workspace` and `request.membership`; the WebSocket auth
middleware (realtime.auth) calls `token_authenticate` for the socket's scope. A
deactivated membership, a deactivated account, an unknown or expired token: 401 here,
4401 on a socket.

Each use also records the last use of the token's session (`renew_token`): with a
TOKEN_TTL, knox's AUTO_REFRESH slides the token's expiry on each use but writes it at
most once per MIN_REFRESH_INTERVAL (60 s); `last_used_at` of the token's AuthSession
is written at the same moments, so it costs no extra write per request and is exact
to about a minute.
"""

import binascii
from hmac import compare_digest

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

from accounts.models import AuthSession
from accounts.selectors import token_membership, tokens_by_key
from accounts.services import member_join_legacy


def _invalid() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed("Invalid token.")


def renew_token(auth_token) -> None:
    """Slide the expiry (knox) and record the use, unless both were written less than
    MIN_REFRESH_INTERVAL ago. A token revoked while this request authenticates
    (logout, a session revoke, a deactivation in another request) answers 401, not
    500: knox's save then updates no row, and the session insert breaks its key."""
    before = auth_token.expiry
    try:
        TokenAuthentication().renew_token(auth_token)
        if (auth_token.expiry - before).total_seconds() > knox_settings.MIN_REFRESH_INTERVAL:
            AuthSession.objects.update_or_create(token=auth_token, defaults={"last_used_at": timezone.now()})
    except (OperationalError, InterfaceError):
        raise  # a store is down: 503 (slackclone.api.exceptions)
    except (IntegrityError, DatabaseError) as exc:
        raise _invalid() from exc


def token_authenticate(raw: bytes | str):
    """(user, knox token, WorkspaceMember with its workspace) for a valid token whose
    membership is active; AuthenticationFailed otherwise. One query for a bound token
    (token, user, binding, membership and workspace joined), one more for a legacy one;
    plus, at most once a minute per token, the expiry slide and last-use write
    (`renew_token`). An expired token is deleted when it is presented."""
    token = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    for auth_token in tokens_by_key(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]):
        try:
            digest = hash_token(token)
        except (TypeError, binascii.Error, ValueError) as exc:
            raise _invalid() from exc
        if not compare_digest(digest, auth_token.digest):
            continue
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            raise _invalid()
        if knox_settings.AUTO_REFRESH and auth_token.expiry:
            renew_token(auth_token)
        if not auth_token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        membership = token_membership(token=auth_token)
        if membership is None and not hasattr(auth_token, "workspace_binding"):
            membership = member_join_legacy(user=auth_token.user)
        if membership is None or not membership.is_active:
            raise exceptions.AuthenticationFailed("This token's workspace membership is not active.")
        return auth_token.user, auth_token, membership
    raise _invalid()


def bind_request(request, membership) -> None:
    """Expose the token's workspace on the request (DRF's Request, and the Django request
    under it, so middleware and logs see it too)."""
    request.workspace = membership.workspace
    request.membership = membership
    django_request = getattr(request, "_request", None)
    if django_request is not None:
        django_request.workspace = membership.workspace
        django_request.membership = membership


class WorkspaceTokenAuthentication(TokenAuthentication):
    """knox's Bearer token authentication, plus the token's workspace: sets
    `request.workspace` and `request.membership` (see the module docstring)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, auth_token = result
        bind_request(request, auth_token.workspace_member)
        return user, auth_token

    def authenticate_credentials(self, token):
        user, auth_token, membership = token_authenticate(token)
        auth_token.workspace_member = membership
        user.workspace_member = membership
        return user, auth_token

    def renew_token(self, auth_token) -> None:
        """Sliding expiry plus the session's last use (see `renew_token`)."""
        renew_token(auth_token)
