"""Accounts: registration (with an invite or into an open workspace), login, switching
workspace, profile updates and deactivation of an account. See docs/workspaces.md."""

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from knox.models import AuthToken

from accounts import selectors
from accounts.models import User, Workspace, WorkspaceInvite, WorkspaceMember
from accounts.selectors import user_by_login
from accounts.services.tokens import InvalidCredentials, token_create, tokens_delete
from moderation.models import AuditLogEntry
from moderation.services import audit_entry_create
from realtime import broadcast
from slackclone import errors


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


def _invite_invalid() -> errors.ValidationFailed:
    return errors.ValidationFailed(
        "This invite code is not valid (unknown, used up, expired or revoked).",
        code="invite_invalid",
        fields={"invite_code": ["Not a valid invite code."]},
    )


def _workspace_not_found() -> errors.NotFound:
    return errors.NotFound("Workspace not found.", code="workspace_not_found")


def _account(*, email: str, username: str, password: str, display_name: str) -> tuple[User, bool]:
    """The account a registration names: (a new unsaved user with its password set, True),
    or (the existing account, False) when `email` and `username` are both its own and the
    password is its password ("an account that exists already joins with its
    password"). 409 `email_taken` / `username_taken` otherwise."""
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        if existing.username != username or not existing.is_active or not existing.check_password(password):
            raise _email_taken()
        return existing, False
    user = User(email=email, username=username, display_name=display_name)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise errors.ValidationFailed("The password is not accepted.", fields={"password": list(exc.messages)}) from exc
    if User.objects.filter(username=username).exists():
        raise _username_taken()
    user.set_password(password)  # hashing is slow: outside the transaction
    return user, True


def invite_redeem(*, code: str, workspace: Workspace) -> None:
    """Take one use of an invite to `workspace`, inside the caller's transaction (a failed
    registration gives the use back). ONE conditional UPDATE: it succeeds only while the
    code is not revoked, not expired and has uses left, and PostgreSQL re-checks that
    condition on the row after any concurrent redemption commits, so the last use is
    taken exactly once. 400 `invite_invalid` otherwise."""
    taken = (
        WorkspaceInvite.objects.filter(
            code=code, workspace_id=workspace.pk, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    if taken != 1:
        raise _invite_invalid()


def _registration_workspace(*, slug: str | None, invite_code: str | None) -> Workspace:
    if slug is None and invite_code is not None:
        invite = WorkspaceInvite.objects.select_related("workspace").filter(code=invite_code).first()
        if invite is None:
            raise _invite_invalid()
        return invite.workspace
    if slug is None or slug.lower() == settings.DEFAULT_WORKSPACE:
        return selectors.workspace_or_default(None)  # always exists (created `open` if missing)
    workspace = selectors.workspace_by_slug(slug=slug)
    if workspace is None:
        raise _workspace_not_found()
    return workspace


def user_register(
    *,
    email: str,
    username: str,
    password: str,
    display_name: str = "",
    workspace: str | None = None,
    invite_code: str | None = None,
    device_name: str = "",
) -> tuple[User, str]:
    """Join a workspace (the slug `workspace`, the invite's, or DEFAULT_WORKSPACE) with a
    new account, or with an existing one (its email, username and password), and get a
    first token for it (its session listed as `device_name`). `email` and `username` are compared lower-cased.

    An `invite_only` workspace needs `invite_code` (400 `invite_required`); a given
    code must be valid for the workspace (400 `invite_invalid`), and one use of it is
    taken in the same transaction. 404 `workspace_not_found` for an unknown slug; 409
    `email_taken` / `username_taken` for someone else's email or username, and
    `email_taken` for an account that is already a member of the workspace."""
    email, username = email.lower(), username.lower()
    target = _registration_workspace(slug=workspace, invite_code=invite_code)
    if target.joining == Workspace.Joining.INVITE_ONLY and invite_code is None:
        raise errors.ValidationFailed(
            "This workspace is invite-only: give an invite_code.",
            code="invite_required",
            fields={"invite_code": ["This workspace needs an invite code."]},
        )
    user, new = _account(email=email, username=username, password=password, display_name=display_name)
    try:
        with transaction.atomic():
            if new:
                user.save(force_insert=True)
            if invite_code is not None:
                invite_redeem(code=invite_code, workspace=target)
            membership, created = _member_add(workspace=target, user=user)
            if not created:
                raise _email_taken()
            token = token_create(user=user, membership=membership, device_name=device_name)
    except IntegrityError as exc:  # a concurrent registration took the email or username
        raise _conflict_from_integrity_error(exc, email=email, username=username) from exc
    user.workspace_member = membership
    return user, token


def _member_add(*, workspace: Workspace, user: User, role: str = WorkspaceMember.Role.MEMBER):
    """(membership, created): race-safe on the unique (workspace, user) pair."""
    membership, created = WorkspaceMember.objects.get_or_create(workspace=workspace, user=user, defaults={"role": role})
    membership.workspace = workspace
    return membership, created


def member_join_legacy(*, user: User) -> WorkspaceMember | None:
    """A legacy token (no workspace binding) of a user who has no membership row in the
    default workspace: they join it as registering would, if it is `open`; else None.
    (Accounts made outside the API, e.g. by scripts, with tokens minted directly.)"""
    workspace = selectors.workspace_or_default(None)
    if workspace.joining != Workspace.Joining.OPEN:
        return None
    membership, _ = _member_add(workspace=workspace, user=user)
    return membership


def _login_membership(*, user: User, workspace: str | None) -> WorkspaceMember:
    if workspace is not None:
        membership = selectors.membership_of(user=user, workspace_slug=workspace)
        if membership is None:
            raise InvalidCredentials()
        return membership
    membership = selectors.membership_of(user=user, workspace_slug=settings.DEFAULT_WORKSPACE)
    if membership is not None:
        return membership
    memberships = list(selectors.memberships_active(user=user).order_by("workspace__slug"))
    if len(memberships) == 1:
        return memberships[0]
    if not memberships:
        raise InvalidCredentials()
    raise errors.ValidationFailed(
        "You belong to several workspaces: give one.",
        code="workspace_required",
        fields={"workspace": [m.workspace.slug for m in memberships]},
    )


def user_login(
    *,
    password: str,
    email: str | None = None,
    username: str | None = None,
    workspace: str | None = None,
    device_name: str = "",
) -> tuple[User, str]:
    """A new token (its session listed as `device_name`) for the active user the email or
    username names, if the password matches, acting in `workspace` (a slug; 401 unless
    they are an active member of it); without one: the default workspace if they are in
    it, else their only one, else 400 `workspace_required` with their slugs in
    `fields.workspace`."""
    user = user_by_login(email=email, username=username)
    if user is None:
        User().set_password(password)  # the same hashing work, so timing does not tell which accounts exist
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    membership = _login_membership(user=user, workspace=workspace)
    update_last_login(None, user)
    user.workspace_member = membership
    return user, token_create(user=user, membership=membership, device_name=device_name)


def auth_switch(*, user: User, workspace: str, device_name: str = "") -> tuple[User, str]:
    """A new token (its session listed as `device_name`) for another workspace `user` is
    an active member of (404 otherwise)."""
    membership = selectors.membership_of(user=user, workspace_slug=workspace)
    if membership is None:
        raise _workspace_not_found()
    user.workspace_member = membership
    try:
        token = token_create(user=user, membership=membership, device_name=device_name)
    except InvalidCredentials as exc:  # deactivated meanwhile
        raise _workspace_not_found() from exc
    return user, token


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
        tokens = tokens_delete(AuthToken.objects.filter(user_id=locked.pk))
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
            user_id, workspace_ids = str(locked.pk), selectors.workspace_ids_of_user(user_id=locked.pk)
            transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id, workspace_ids=workspace_ids))
    user.is_active = False
    return changed
