"""Reads for accounts."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Q, QuerySet
from django.db.models.functions import Upper
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import User
from slackclone import errors


def user_get_active(*, user_id: UUID | str) -> User:
    """An active user by id; deactivated and unknown users are both 404."""
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("User not found.", code="user_not_found") from exc


def user_search(*, q: str | None = None) -> QuerySet[User]:
    """Active users whose username or display name starts with `q` (case-insensitive).

    The two branches use `users_username_*_like` (usernames are stored lower-case) and
    `users_display_name_prefix` (UPPER(display_name) text_pattern_ops).
    """
    users = User.objects.filter(is_active=True)
    if q:
        users = users.alias(dn=Upper("display_name")).filter(
            Q(username__startswith=q.lower()) | Q(dn__startswith=q.upper())
        )
    return users


def user_by_login(*, email: str | None = None, username: str | None = None) -> User | None:
    """The user an email or a username (case-insensitive) names, active or not; None if none."""
    lookup = {"email": email.lower()} if email is not None else {"username": (username or "").lower()}
    return User.objects.filter(**lookup).first()


@dataclass(frozen=True)
class Session:
    """One of a user's live tokens, as GET /auth/sessions lists it."""

    id: str
    device_name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    token: AuthToken


def session_id_for(*, token_digest: str) -> str:
    """A session's public id: 32 hex characters derived from its token's digest (stable,
    reveals nothing usable: the digest itself is never shown)."""
    return hashlib.sha256(token_digest.encode()).hexdigest()[:32]


def session_list_for_user(*, user: User) -> list[Session]:
    """The user's tokens that have not expired, newest first. A user holds a handful
    (one per device), so this is one small indexed query."""
    now = timezone.now()
    tokens = (
        AuthToken.objects.filter(user_id=user.pk)
        .filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
        .select_related("session")
        .order_by("-created")
    )
    sessions = []
    for token in tokens:
        info = getattr(token, "session", None)
        sessions.append(
            Session(
                id=session_id_for(token_digest=token.digest),
                device_name=info.device_name if info is not None else "",
                created_at=token.created,
                last_used_at=info.last_used_at if info is not None and info.last_used_at else token.created,
                expires_at=token.expiry,
                token=token,
            )
        )
    return sessions


def session_get_for_user(*, user: User, session_id: str) -> Session:
    """One of the user's live sessions by its public id; anyone else's, expired or
    unknown: errors.NotFound `session_not_found`."""
    for session in session_list_for_user(user=user):
        if session.id == session_id:
            return session
    raise errors.NotFound("Session not found.", code="session_not_found")
