"""Workspaces: creation, settings, invitations, members' roles, deactivation and
reactivation of members (docs/workspaces.md)."""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken

from accounts import selectors
from accounts.models import User, Workspace, WorkspaceInvite, WorkspaceMember
from accounts.services.tokens import token_create, tokens_delete
from accounts.services.users import _account, _conflict_from_integrity_error, _member_add
from moderation.models import AuditLogEntry
from moderation.services import audit_entry_create
from realtime import broadcast
from slackclone import errors

logger = logging.getLogger(__name__)


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
    (404 if `user_id` is not a member, or if staff deactivated their account: such a
    user is 404 in every workspace, as their profile is, so nothing may change them and
    then answer 404). Returns (actor, target)."""
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
    if not target.user.is_active:
        raise errors.NotFound("User not found.", code="user_not_found")
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
        tokens = tokens_delete(_tokens_of_membership(target))
        if target.is_active:
            target.is_active = False
            target.save(update_fields=["is_active"])
            _audit(
                by=by, action=AuditLogEntry.Action.MEMBER_DEACTIVATE, target=target, detail={"tokens_deleted": tokens}
            )
        uid, wid = str(target.user_id), str(by.workspace_id)
        transaction.on_commit(lambda: broadcast.sessions_close(user_id=uid, workspace_ids=[wid]))
        transaction.on_commit(lambda: _presence_withdraw(user_id=uid, workspace_id=wid))
    return target


def _presence_withdraw(*, user_id: str, workspace_id: str) -> None:
    from presence.services import presence_withdraw

    try:
        presence_withdraw(user_id=user_id, workspace_id=workspace_id)
    except Exception:  # best-effort, after the commit: the deactivation stands
        logger.exception("presence withdraw of %s in %s failed", user_id, workspace_id)


def _presence_restore(*, user_id: str) -> None:
    from presence.services import presence_status_announce

    try:
        presence_status_announce(user_id=user_id)
    except Exception:  # best-effort, after the commit: the reactivation stands
        logger.exception("presence announce of %s failed", user_id)


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
            # Their presence is heard in this workspace again: its clients learn it now.
            uid = str(target.user_id)
            transaction.on_commit(lambda: _presence_restore(user_id=uid))
    return target
