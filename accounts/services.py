"""Writes for accounts: registration, login tokens, profile updates."""

from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from knox.models import AuthToken

from accounts.models import AuthSession, User
from accounts.selectors import session_get_for_user, user_by_login
from moderation.models import AuditLogEntry
from moderation.services import audit_entry_create
from realtime import broadcast
from slackclone import errors


class InvalidCredentials(errors.DomainError):
    status = 401
    code = "invalid_credentials"
    default_message = "Invalid credentials."


def _email_taken() -> errors.Conflict:
    return errors.Conflict("This email is already registered.", code="email_taken")


def _username_taken() -> errors.Conflict:
    return errors.Conflict("This username is taken.", code="username_taken")


def _conflict_from_integrity_error(exc: IntegrityError, *, email: str | None, username: str | None) -> errors.Conflict:
    """Which unique constraint a concurrent insert or update hit (the read-before-write lost the race)."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
    if "email" in constraint:
        return _email_taken()
    if "username" in constraint:
        return _username_taken()
    if email is not None and User.objects.filter(email=email).exists():
        return _email_taken()
    if username is not None and User.objects.filter(username=username).exists():
        return _username_taken()
    raise exc


DEVICE_NAME_MAX_LENGTH = 128


def device_name_from(*, device_name: str | None, user_agent: str | None) -> str:
    """The name a session is listed under: the client's `device_name`, else its
    User-Agent, trimmed to DEVICE_NAME_MAX_LENGTH characters ("" when neither is given)."""
    name = (device_name or "").strip() or (user_agent or "").strip()
    return name[:DEVICE_NAME_MAX_LENGTH]


def token_create(*, user: User, device_name: str = "") -> str:
    """A new API token for `user` (one per device; knox stores only its digest) and its
    session (device name, last used). It expires TOKEN_TTL after its last use."""
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user)
        AuthSession.objects.create(token=instance, device_name=device_name[:DEVICE_NAME_MAX_LENGTH])
    return token


def token_revoke(*, token: AuthToken) -> None:
    """Revoke exactly this token, closing the WebSockets opened with it; the user's
    other tokens (and their sockets) keep working."""
    user_id, digest = str(token.user_id), token.digest
    with transaction.atomic():
        token.delete()
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id, token_digest=digest))


def token_revoke_all(*, user: User) -> int:
    """Revoke every token of `user` (log out everywhere), closing all their WebSockets
    (4401). Returns how many tokens were revoked."""
    user_id = str(user.pk)
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user_id=user.pk).delete()
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id))
    return revoked


def session_revoke(*, user: User, session_id: str) -> None:
    """Revoke one of the caller's sessions (GET /auth/sessions ids): its token stops
    working and the sockets opened with it close. Another user's session, an expired
    one or an unknown id: 404 `session_not_found` (errors.NotFound)."""
    session = session_get_for_user(user=user, session_id=session_id)
    token_revoke(token=session.token)


def user_register(
    *, email: str, username: str, password: str, display_name: str = "", device_name: str = ""
) -> tuple[User, str]:
    """Create an account and a first token (for `device_name`). `email` and `username`
    are compared lower-cased."""
    email, username = email.lower(), username.lower()
    user = User(email=email, username=username, display_name=display_name)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise errors.ValidationFailed("The password is not accepted.", fields={"password": list(exc.messages)}) from exc
    if User.objects.filter(email=email).exists():
        raise _email_taken()
    if User.objects.filter(username=username).exists():
        raise _username_taken()
    user.set_password(password)  # hashing is slow: outside the transaction
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            token = token_create(user=user, device_name=device_name)
    except IntegrityError as exc:  # a concurrent registration took the email or username
        raise _conflict_from_integrity_error(exc, email=email, username=username) from exc
    return user, token


def user_login(
    *, password: str, email: str | None = None, username: str | None = None, device_name: str = ""
) -> tuple[User, str]:
    """A new token (for `device_name`) for the active user the email or username names,
    if the password matches."""
    user = user_by_login(email=email, username=username)
    if user is None:
        User().set_password(password)  # the same hashing work, so timing does not tell which accounts exist
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    update_last_login(None, user)
    return user, token_create(user=user, device_name=device_name)


def user_update(*, user: User, display_name: str | None = None, username: str | None = None) -> User:
    """Change the caller's display name and/or username (None leaves a field as it is)."""
    update_fields = []
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name
        update_fields.append("display_name")
    if username is not None and username.lower() != user.username:
        username = username.lower()
        if User.objects.filter(username=username).exclude(pk=user.pk).exists():
            raise _username_taken()
        user.username = username
        update_fields.append("username")
    if update_fields:
        try:
            with transaction.atomic():
                user.save(update_fields=[*update_fields, "updated_at"])
        except IntegrityError as exc:
            user.refresh_from_db()
            raise _conflict_from_integrity_error(exc, email=None, username=username) from exc
    return user


def user_deactivate(*, user: User, by: User) -> bool:
    """Deactivate an account (staff only, and not your own): it can no longer log in,
    and every one of its API tokens is deleted, so they stop working at once. Audited.

    Returns True if anything changed; deactivating an inactive user without tokens
    changes nothing and records nothing. Memberships and messages are kept
    (`check_consistency` lists deactivated users' memberships).
    """
    if not getattr(by, "is_staff", False):
        raise errors.PermissionDenied("Only staff can deactivate users.", code="staff_only")
    if user.pk == by.pk:
        raise errors.ValidationFailed("You cannot deactivate your own account.", code="cannot_deactivate_self")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        was_active = locked.is_active
        if was_active:
            locked.is_active = False
            locked.save(update_fields=["is_active", "updated_at"])
        tokens, _ = AuthToken.objects.filter(user_id=locked.pk).delete()
        changed = was_active or bool(tokens)
        if changed:
            audit_entry_create(
                actor=by,
                action=AuditLogEntry.Action.USER_DEACTIVATE,
                target_type=AuditLogEntry.TargetType.USER,
                target_id=str(locked.pk),
                detail={"username": locked.username, "was_active": was_active, "tokens_deleted": tokens},
            )
        if changed:
            user_id = str(locked.pk)
            transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id))
    user.is_active = False
    return changed
