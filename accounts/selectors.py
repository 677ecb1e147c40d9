"""Reads for accounts."""

from uuid import UUID

from django.db.models import Q, QuerySet
from django.db.models.functions import Upper

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
