"""Reads for accounts."""

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Upper
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import TokenWorkspace, User, Workspace, WorkspaceInvite, WorkspaceMember
from slackclone import errors
from slackclone.sql import column, columns, table


def workspace_or_default(workspace: Workspace | None) -> Workspace:
    """`workspace`, or when a caller gives none (scripts, tests, a one-workspace
    deployment) the deployment's default workspace. Every API view and consumer passes
    the workspace of the request's token; this default never widens what a caller sees."""
    if workspace is not None:
        return workspace
    from accounts.models import default_workspace_id

    return Workspace.objects.get(pk=default_workspace_id())


def _user_not_found() -> errors.NotFound:
    return errors.NotFound("User not found.", code="user_not_found")


def users_of_workspace(*, workspace: Workspace, active_only: bool = True) -> QuerySet[User]:
    """The users of `workspace`, each annotated with `workspace_role` and
    `workspace_is_active` (their membership's), in the query itself (one join on the
    unique (workspace, user) index). `active_only`: active accounts with an active
    membership."""
    # ONE filter() call: its conditions, and the annotations after it, all apply to the
    # same joined membership row (separate calls would join the memberships again, and
    # match a membership of another workspace).
    conditions = {"workspace_memberships__workspace_id": workspace.pk}
    if active_only:
        conditions |= {"is_active": True, "workspace_memberships__is_active": True}
    return User.objects.filter(**conditions).annotate(
        workspace_role=F("workspace_memberships__role"), workspace_is_active=F("workspace_memberships__is_active")
    )


def user_get_active(*, workspace: Workspace | None = None, user_id: UUID | str) -> User:
    """An active member of `workspace` by id; deactivated members, users of other
    workspaces and unknown ids are all 404."""
    try:
        return users_of_workspace(workspace=workspace_or_default(workspace)).get(pk=user_id)
    except (User.DoesNotExist, ValueError) as exc:
        raise _user_not_found() from exc


def user_get_in_workspace(*, workspace: Workspace, user_id: UUID | str) -> User:
    """A member of `workspace`, active or deactivated there (a deactivated member's
    profile still answers, with `is_active` false); anyone else, and an account staff
    deactivated server-wide, is 404."""
    try:
        return users_of_workspace(workspace=workspace, active_only=False).get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError) as exc:
        raise _user_not_found() from exc


def user_search(*, workspace: Workspace | None = None, q: str | None = None) -> QuerySet[User]:
    """Active members of `workspace` whose username or display name starts with `q`
    (case-insensitive).

    The two branches use `users_username_*_like` (usernames are stored lower-case) and
    `users_display_name_prefix` (UPPER(display_name) text_pattern_ops), joined with the
    workspace's memberships.
    """
    users = users_of_workspace(workspace=workspace_or_default(workspace))
    return users_matching(users, q=q) if q else users


def users_matching(users: QuerySet[User], *, q: str) -> QuerySet[User]:
    """`users` whose username or display name starts with `q` (case-insensitive): the
    part of the directory search the two prefix indexes serve."""
    return users.alias(dn=Upper("display_name")).filter(Q(username__startswith=q.lower()) | Q(dn__startswith=q.upper()))


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
    workspace: str
    token: AuthToken


def session_id_for(*, token_digest: str) -> str:
    """A session's public id: 32 hex characters derived from its token's digest (stable,
    reveals nothing usable: the digest itself is never shown)."""
    return hashlib.sha256(token_digest.encode()).hexdigest()[:32]


def session_list_for_user(*, user: User) -> list[Session]:
    """The user's tokens that have not expired, in every workspace, newest first, each
    with the slug of the workspace it acts in (a legacy token without a binding acts in
    DEFAULT_WORKSPACE). A user holds a handful (one per device and workspace), so this
    is one small indexed query."""
    now = timezone.now()
    tokens = (
        AuthToken.objects.filter(user_id=user.pk)
        .filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
        .select_related("session", "workspace_binding__member__workspace")
        .order_by("-created")
    )
    sessions = []
    for token in tokens:
        info = getattr(token, "session", None)
        binding = getattr(token, "workspace_binding", None)
        workspace = binding.member.workspace.slug if binding is not None else settings.DEFAULT_WORKSPACE
        sessions.append(
            Session(
                id=session_id_for(token_digest=token.digest),
                device_name=info.device_name if info is not None else "",
                created_at=token.created,
                last_used_at=info.last_used_at if info is not None and info.last_used_at else token.created,
                expires_at=token.expiry,
                workspace=workspace,
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


# --- Workspaces -------------------------------------------------------------------


# The token lookup of every authenticated request (accounts.auth.token_authenticate):
# the token, its user and its workspace binding with the membership and workspace, in
# one query. Its SQL is written once per process from the models' metadata
# (slackclone.sql), because building and compiling this four-join select_related
# queryset took ~1 ms of CPU per request, 20-35% of a cheap request's server CPU
# (issue 13, bench/request_cpu.py).
# Rows become model instances as select_related makes them (Model.from_db, the
# fields' database converters, the related objects cached; a token without a binding
# caches None, so `token.workspace_binding` raises DoesNotExist as before).
@functools.cache
def _token_lookup_plan() -> tuple[str, list]:
    """(sql, [(model, attnames, start, end, pk index, [(index, converters, col)])]): the
    token lookup's statement and how to read a row of it, written on first use."""
    # (model, alias, its place in FROM): the token, its user, and its binding with the
    # membership and workspace, outer-joined (a legacy token has no binding).
    joins = (
        (AuthToken, "t", f"{table(AuthToken)} t"),
        (User, "u", f"INNER JOIN {table(User)} u ON (t.{column(AuthToken, 'user')} = u.{column(User, 'id')})"),
        (
            TokenWorkspace,
            "b",
            f"LEFT OUTER JOIN {table(TokenWorkspace)} b "
            f"ON (t.{column(AuthToken, 'digest')} = b.{column(TokenWorkspace, 'token')})",
        ),
        (
            WorkspaceMember,
            "m",
            f"LEFT OUTER JOIN {table(WorkspaceMember)} m "
            f"ON (b.{column(TokenWorkspace, 'member')} = m.{column(WorkspaceMember, 'id')})",
        ),
        (
            Workspace,
            "w",
            f"LEFT OUTER JOIN {table(Workspace)} w "
            f"ON (m.{column(WorkspaceMember, 'workspace')} = w.{column(Workspace, 'id')})",
        ),
    )
    selected, tables, plan, start = [], [], [], 0
    for model, alias, clause in joins:
        fields = list(model._meta.concrete_fields)
        selected.append(columns(model, alias))
        tables.append(clause)
        converters = []
        for i, field in enumerate(fields):
            col = field.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                converters.append((i, found, col))
        pk = fields.index(model._meta.pk)
        plan.append((model, [f.attname for f in fields], start, start + len(fields), pk, converters))
        start += len(fields)
    # Only quoted identifiers from the models' metadata are formatted in; the key is a parameter.
    sql = f"SELECT {', '.join(selected)} FROM {' '.join(tables)} WHERE t.{column(AuthToken, 'token_key')} = %s"  # noqa: S608
    return sql, plan


def tokens_by_key(*, token_key: str) -> list[AuthToken]:
    """The knox tokens whose `token_key` (the first 15 characters of the raw token) is
    `token_key`, each with `user` and, if bound, `workspace_binding.member.workspace`
    loaded (the same objects `select_related("user",
    "workspace_binding__member__workspace")` gives), in one query. The caller compares
    digests (accounts.auth)."""
    sql, plan = _token_lookup_plan()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_key])
        rows = cursor.fetchall()
    tokens = []
    for row in rows:
        objects = []
        for model, attnames, start, end, pk, converters in plan:
            values = list(row[start:end])
            for i, found, col in converters:
                for converter in found:
                    values[i] = converter(values[i], col, connection)
            # An outer join that found nothing: its primary key is NULL.
            objects.append(None if values[pk] is None else model.from_db(connection.alias, attnames, values))
        token, user, binding, member, workspace = objects
        token._meta.get_field("user").set_cached_value(token, user)
        AuthToken._meta.get_field("workspace_binding").set_cached_value(token, binding)
        if binding is not None:
            TokenWorkspace._meta.get_field("token").set_cached_value(binding, token)
            TokenWorkspace._meta.get_field("member").set_cached_value(binding, member)
            WorkspaceMember._meta.get_field("workspace").set_cached_value(member, workspace)
        tokens.append(token)
    return tokens


def token_membership(*, token) -> WorkspaceMember | None:
    """The membership (with its workspace) a knox token acts in: its binding's, or, for
    a legacy token without one, the user's membership of the default workspace; None if
    there is none. The caller checks `is_active` (accounts.auth)."""
    try:
        return token.workspace_binding.member
    except TokenWorkspace.DoesNotExist:
        pass
    return (
        WorkspaceMember.objects.select_related("workspace")
        .filter(user_id=token.user_id, workspace__slug=settings.DEFAULT_WORKSPACE)
        .first()
    )


def credentials_revoked(*, credentials: list[tuple[str, str, str | None]]) -> set[tuple[str, str, str | None]]:
    """Of these (user id, workspace id, knox token digest or None) of open WebSockets,
    those that no longer stand: the user is deactivated, their membership of the
    workspace is gone or inactive, or (with a digest) the token was revoked (deleted:
    logout, a session revoke, log out everywhere). The same states that close a socket
    with sessions.close (accounts.services); ONE statement for any number of sockets
    (the live sockets' audit, realtime.audit)."""
    if not credentials:
        return set()
    user_id, workspace_id = column(WorkspaceMember, "user"), column(WorkspaceMember, "workspace")
    pk = column(User, "id")
    sql = (
        "SELECT c.u, c.w, c.d FROM unnest(%s::text[], %s::text[], %s::text[]) AS c(u, w, d) "  # noqa: S608 (table and column names from the models; every value is a parameter)
        f"WHERE NOT EXISTS (SELECT 1 FROM {table(User)} u JOIN {table(WorkspaceMember)} m ON m.{user_id} = u.{pk} "
        f"WHERE u.{pk} = c.u::uuid AND u.{column(User, 'is_active')} "
        f"AND m.{workspace_id} = c.w::uuid AND m.{column(WorkspaceMember, 'is_active')}) "
        f"OR (c.d IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table(AuthToken)} t "
        f"WHERE t.{column(AuthToken, 'digest')} = c.d))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [[c[0] for c in credentials], [c[1] for c in credentials], [c[2] for c in credentials]])
        return {(u, w, d) for u, w, d in cursor.fetchall()}


def workspace_by_slug(*, slug: str) -> Workspace | None:
    return Workspace.objects.filter(slug=(slug or "").lower()).first()


def workspace_default() -> Workspace | None:
    return workspace_by_slug(slug=settings.DEFAULT_WORKSPACE)


def workspace_with_counts(*, workspace_id) -> Workspace:
    """A workspace annotated with `member_count` (active members)."""
    return workspaces_with_counts().get(pk=workspace_id)


def workspaces_with_counts() -> QuerySet[Workspace]:
    """Workspaces annotated with `member_count` (active members with active accounts), a
    correlated count on the (workspace, user) index."""
    count = (
        WorkspaceMember.objects.filter(workspace_id=OuterRef("pk"), is_active=True, user__is_active=True)
        .order_by()
        .values("workspace_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Workspace.objects.annotate(member_count=Coalesce(Subquery(count), 0))


def workspaces_of_user(*, user) -> QuerySet[Workspace]:
    """The workspaces `user` is an active member of, annotated with `member_count` and
    `my_role` (for a workspace switcher)."""
    return (
        workspaces_with_counts()
        .filter(memberships__user_id=user.pk, memberships__is_active=True)
        .annotate(my_role=F("memberships__role"))
    )


def membership_get(*, workspace: Workspace, user_id, active_only: bool = False) -> WorkspaceMember:
    """The membership of `user_id` in `workspace`; 404 `user_not_found` if none."""
    members = WorkspaceMember.objects.filter(workspace_id=workspace.pk, user_id=user_id)
    if active_only:
        members = members.filter(is_active=True)
    try:
        return members.select_related("user").get()
    except (WorkspaceMember.DoesNotExist, ValueError) as exc:
        raise _user_not_found() from exc


def membership_of(*, user, workspace_slug: str, active_only: bool = True) -> WorkspaceMember | None:
    members = WorkspaceMember.objects.select_related("workspace").filter(
        user_id=user.pk, workspace__slug=(workspace_slug or "").lower()
    )
    if active_only:
        members = members.filter(is_active=True)
    return members.first()


def memberships_active(*, user) -> QuerySet[WorkspaceMember]:
    return WorkspaceMember.objects.select_related("workspace").filter(user_id=user.pk, is_active=True)


def workspace_ids_of_user(*, user_id) -> list[str]:
    """Every workspace `user_id` has a membership row in (active or not)."""
    return [str(w) for w in WorkspaceMember.objects.filter(user_id=user_id).values_list("workspace_id", flat=True)]


def require_admin(*, membership: WorkspaceMember) -> None:
    """The access rule of workspace administration: owners and admins, else 403."""
    if not membership.is_admin:
        raise errors.PermissionDenied("Only workspace admins can do this.", code="admin_only")


def invite_list(*, workspace: Workspace) -> QuerySet[WorkspaceInvite]:
    """The workspace's invites that can still be used (not revoked, not expired, not used up)."""
    return WorkspaceInvite.objects.filter(
        workspace_id=workspace.pk, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))


def invite_get(*, workspace: Workspace, code: str) -> WorkspaceInvite:
    """The invite of `workspace` with this code; 404 `invite_not_found` for any other
    code, one PostgreSQL cannot even compare (a NUL character, `%00` in a path) too."""
    not_found = errors.NotFound("Invite not found.", code="invite_not_found")
    if "\x00" in code:
        raise not_found
    try:
        return WorkspaceInvite.objects.get(workspace_id=workspace.pk, code=code)
    except WorkspaceInvite.DoesNotExist as exc:
        raise not_found from exc


def workspace_owner_count(*, workspace_id) -> int:
    """The owners who can still act: an active membership of an active account (an owner
    whose account staff deactivated cannot log in, so does not count towards "the last
    owner")."""
    return WorkspaceMember.objects.filter(
        workspace_id=workspace_id, role=WorkspaceMember.Role.OWNER, is_active=True, user__is_active=True
    ).count()
