"""Writes for accounts: registration, login tokens, profile updates, and workspaces
(creation, invitations, roles, deactivation of members). See docs/workspaces.md."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from knox.models import AuthToken

from accounts import selectors
from accounts.models import AuthSession, TokenWorkspace, User, Workspace, WorkspaceInvite, WorkspaceMember
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


def token_create(*, user: User, membership: WorkspaceMember, device_name: str = "") -> str:
    """A new API token for `user` acting in `membership`'s workspace (one per device and
    workspace; knox stores only its digest, TokenWorkspace binds it) and its session
    (device name, last used). It expires TOKEN_TTL after its last use."""
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user)
        TokenWorkspace.objects.create(token=instance, member=membership)
        AuthSession.objects.create(token=instance, device_name=device_name[:DEVICE_NAME_MAX_LENGTH])
    return token


def token_revoke(*, token: AuthToken, workspace: Workspace) -> None:
    """Revoke exactly this token, closing the WebSockets opened with it; the user's
    other tokens (and their sockets) keep working."""
    user_id, digest, workspace_id = str(token.user_id), token.digest, str(workspace.pk)
    with transaction.atomic():
        token.delete()
        transaction.on_commit(
            lambda: broadcast.sessions_close(user_id=user_id, workspace_ids=[workspace_id], token_digest=digest)
        )


def token_revoke_all(*, user: User) -> int:
    """Revoke every token of `user` in EVERY workspace (log out everywhere: the person's
    every session, not only those of the caller's workspace), closing all their
    WebSockets (4401). Returns how many tokens were revoked."""
    user_id = str(user.pk)
    workspace_ids = selectors.workspace_ids_of_user(user_id=user.pk)
    with transaction.atomic():
        revoked = AuthToken.objects.filter(user_id=user.pk).delete()[1].get(AuthToken._meta.label, 0)
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=user_id, workspace_ids=workspace_ids))
    return revoked


def session_revoke(*, user: User, session_id: str) -> None:
    """Revoke one of the caller's sessions (GET /auth/sessions ids): its token stops
    working and the sockets opened with it close. Another user's session, an expired
    one or an unknown id: 404 `session_not_found` (errors.NotFound)."""
    session = session_get_for_user(user=user, session_id=session_id)
    binding = getattr(session.token, "workspace_binding", None)
    workspace = binding.member.workspace if binding is not None else selectors.workspace_or_default(None)
    token_revoke(token=session.token, workspace=workspace)


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
    return user, token_create(user=user, membership=membership, device_name=device_name)


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


def _tokens_delete(tokens) -> int:
    """Delete these knox tokens (their workspace bindings go with them); how many tokens."""
    _total, per_model = tokens.delete()
    return per_model.get(AuthToken._meta.label, 0)


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
        tokens = _tokens_delete(AuthToken.objects.filter(user_id=locked.pk))
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


# --- Workspaces ----------------------------------------------------------------------


def _slug_taken() -> errors.Conflict:
    return errors.Conflict("A workspace with this slug already exists.", code="workspace_slug_taken")


def workspace_create(
    *,
    slug: str,
    name: str,
    by: User | None = None,
    email: str | None = None,
    username: str | None = None,
    password: str | None = None,
    display_name: str = "",
    operator: bool = False,
    with_token: bool = True,
) -> tuple[Workspace, User, str | None]:
    """A new `invite_only` workspace whose owner is `by` (a signed-in caller) or, without
    one, the account `email`/`username`/`password` names (created, or an existing one
    with its password). Returns (workspace, owner, a token for the new workspace).

    403 `workspace_creation_closed` unless settings.WORKSPACE_CREATION is "open" or `by`
    is staff (or `operator`: manage.py create_workspace); 409 `workspace_slug_taken`.
    `with_token=False`: no token (None)."""
    if settings.WORKSPACE_CREATION != "open" and not getattr(by, "is_staff", False) and not operator:
        raise errors.PermissionDenied("Only staff can create workspaces here.", code="workspace_creation_closed")
    slug = slug.lower()
    if Workspace.objects.filter(slug=slug).exists():
        raise _slug_taken()
    if by is not None:
        owner, new = by, False
    else:
        if not (email and username and password):
            raise errors.ValidationFailed(
                "Without a token, give the new owner's email, username and password.",
                fields={
                    name: ["This field is required."]
                    for name, value in (("email", email), ("username", username), ("password", password))
                    if not value
                },
            )
        owner, new = _account(
            email=email.lower(), username=username.lower(), password=password, display_name=display_name
        )
    try:
        with transaction.atomic():
            if new:
                owner.save(force_insert=True)
            workspace = Workspace.objects.create(slug=slug, name=name)
            membership, _ = _member_add(workspace=workspace, user=owner, role=WorkspaceMember.Role.OWNER)
            token = token_create(user=owner, membership=membership) if with_token else None
    except IntegrityError as exc:
        if Workspace.objects.filter(slug=slug).exists():
            raise _slug_taken() from exc
        raise _conflict_from_integrity_error(exc, email=owner.email, username=owner.username) from exc
    owner.workspace_member = membership
    return selectors.workspace_with_counts(workspace_id=workspace.pk), owner, token


def workspace_update(*, membership: WorkspaceMember, name: str | None = None, joining: str | None = None) -> Workspace:
    """Rename the token's workspace or change how people join it: admins only (403)."""
    selectors.require_admin(membership=membership)
    workspace = membership.workspace
    update_fields = []
    if name is not None and name != workspace.name:
        workspace.name = name
        update_fields.append("name")
    if joining is not None and joining != workspace.joining:
        workspace.joining = joining
        update_fields.append("joining")
    if update_fields:
        workspace.save(update_fields=update_fields)
    return selectors.workspace_with_counts(workspace_id=workspace.pk)


INVITE_DEFAULT_HOURS = 168


def invite_create(
    *, membership: WorkspaceMember, max_uses: int | None = None, expires_in_hours: int = INVITE_DEFAULT_HOURS
) -> WorkspaceInvite:
    """A new invite code to the token's workspace (admins only, 403): 128 random bits,
    URL-safe; valid for `expires_in_hours` and `max_uses` registrations (None: unlimited)."""
    selectors.require_admin(membership=membership)
    return WorkspaceInvite.objects.create(
        code=secrets.token_urlsafe(16),
        workspace=membership.workspace,
        created_by=membership.user,
        expires_at=timezone.now() + timedelta(hours=expires_in_hours),
        max_uses=max_uses,
    )


def invite_revoke(*, membership: WorkspaceMember, code: str) -> None:
    """Revoke an invite of the token's workspace (admins only, 403; unknown code 404).
    Revoking twice is harmless."""
    selectors.require_admin(membership=membership)
    invite = selectors.invite_get(workspace=membership.workspace, code=code)
    WorkspaceInvite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _locked_target(*, by: WorkspaceMember, user_id) -> tuple[WorkspaceMember, WorkspaceMember]:
    """Lock the workspace row (role and activation changes of one workspace run one at a
    time, so "the last owner" is decided on committed data), then read the actor's
    membership again (a concurrent change may have demoted them: 403) and the target's
    (404 if `user_id` is not a member). Returns (actor, target)."""
    Workspace.objects.select_for_update().filter(pk=by.workspace_id).first()
    actor = WorkspaceMember.objects.select_related("user").get(pk=by.pk)
    if not actor.is_active:
        raise errors.PermissionDenied("Your membership is not active.", code="admin_only")
    selectors.require_admin(membership=actor)
    try:
        target = (
            WorkspaceMember.objects.select_for_update()
            .select_related("user")
            .get(workspace_id=by.workspace_id, user_id=user_id)
        )
    except (WorkspaceMember.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("User not found.", code="user_not_found") from exc
    return actor, target


def _last_owner() -> errors.Conflict:
    return errors.Conflict("The workspace's last owner cannot be demoted or deactivated.", code="last_owner")


def _audit(*, by: WorkspaceMember, action: str, target: WorkspaceMember, detail: dict) -> None:
    audit_entry_create(
        actor=by.user,
        action=action,
        target_type=AuditLogEntry.TargetType.USER,
        target_id=str(target.user_id),
        detail={"username": target.user.username, **detail},
        workspace_id=by.workspace_id,
    )


def member_role_set(*, by: WorkspaceMember, user_id, role: str) -> WorkspaceMember:
    """Set a member's role in `by`'s workspace. Owners set any role; admins set
    `member`/`admin` on non-owners (403 otherwise, and for members); the last active owner
    cannot be demoted (409 `last_owner`). Audited when it changes something."""
    selectors.require_admin(membership=by)
    with transaction.atomic():
        by, target = _locked_target(by=by, user_id=user_id)
        Role = WorkspaceMember.Role
        if by.role != Role.OWNER and (target.role == Role.OWNER or role == Role.OWNER):
            raise errors.PermissionDenied("Only owners can change owners or make owners.", code="owner_only")
        if target.role == role:
            return target
        if (
            target.role == Role.OWNER
            and target.is_active
            and selectors.workspace_owner_count(workspace_id=by.workspace_id) <= 1
        ):
            raise _last_owner()
        previous, target.role = target.role, role
        target.save(update_fields=["role"])
        _audit(by=by, action=AuditLogEntry.Action.MEMBER_ROLE, target=target, detail={"from": previous, "to": role})
    return target


def _tokens_of_membership(target: WorkspaceMember):
    """Every knox token acting in `target`'s membership: the bound ones, and, in the
    default workspace, the user's legacy tokens without a binding."""
    tokens = Q(workspace_binding__member_id=target.pk)
    if target.workspace.slug == settings.DEFAULT_WORKSPACE:
        tokens |= Q(user_id=target.user_id, workspace_binding__isnull=True)
    return AuthToken.objects.filter(tokens)


def member_deactivate(*, by: WorkspaceMember, user_id) -> WorkspaceMember:
    """Remove a member from the workspace's activity (admins; owners only by owners, 403;
    not yourself, 400 `cannot_deactivate_self`; never the last owner, 409): every token
    of theirs for this workspace is deleted (reactivating does not revive them), their
    sockets of this workspace close with 4401 once this commits, and it is audited.
    Their channel memberships and messages stay. Deactivating twice changes nothing."""
    selectors.require_admin(membership=by)
    if str(user_id) == str(by.user_id):
        raise errors.ValidationFailed("You cannot deactivate yourself.", code="cannot_deactivate_self")
    with transaction.atomic():
        workspace = by.workspace
        by, target = _locked_target(by=by, user_id=user_id)
        target.workspace = workspace
        if target.role == WorkspaceMember.Role.OWNER and by.role != WorkspaceMember.Role.OWNER:
            raise errors.PermissionDenied("Only owners can deactivate owners.", code="owner_only")
        tokens = _tokens_delete(_tokens_of_membership(target))
        if target.is_active:
            target.is_active = False
            target.save(update_fields=["is_active"])
            _audit(
                by=by, action=AuditLogEntry.Action.MEMBER_DEACTIVATE, target=target, detail={"tokens_deleted": tokens}
            )
        uid, wid = str(target.user_id), str(by.workspace_id)
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=uid, workspace_ids=[wid]))
    return target


def member_reactivate(*, by: WorkspaceMember, user_id) -> WorkspaceMember:
    """Let a deactivated member back in (admins; owners only by owners): they log in
    again for new tokens. Audited; reactivating an active member changes nothing."""
    selectors.require_admin(membership=by)
    with transaction.atomic():
        by, target = _locked_target(by=by, user_id=user_id)
        if target.role == WorkspaceMember.Role.OWNER and by.role != WorkspaceMember.Role.OWNER:
            raise errors.PermissionDenied("Only owners can reactivate owners.", code="owner_only")
        if not target.is_active:
            target.is_active = True
            target.save(update_fields=["is_active"])
            _audit(by=by, action=AuditLogEntry.Action.MEMBER_REACTIVATE, target=target, detail={})
    return target
