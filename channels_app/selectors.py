"""Reads and access checks for channels. The one place each channel access rule lives."""

import functools
from uuid import UUID

from django.db import connection
from django.db.models import BooleanField, CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import WorkspaceMember
from accounts.selectors import workspace_or_default
from channels_app.models import Channel, ChannelMember
from slackclone import errors
from slackclone.sql import column, columns, execute_together, table


def channel_get(*, workspace, channel_id: UUID | str, lock: bool = False, viewer=None) -> Channel:
    """A channel of `workspace` (a Workspace or its id; None: any workspace, for
    operators' tools); a channel of another workspace is 404 as if it did not exist.
    With `viewer` (a user), the channel carries `viewer_is_member`, read in the same
    statement as the channel itself."""
    channels = Channel.objects.select_for_update() if lock else Channel.objects.all()
    if viewer is not None:
        channels = channels.annotate(
            viewer_is_member=Exists(ChannelMember.objects.filter(channel_id=OuterRef("pk"), user_id=viewer.pk))
        )
    if workspace is not None:
        channels = channels.filter(workspace_id=getattr(workspace, "pk", workspace))
    try:
        return channels.get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc


def channel_archived_error() -> errors.Conflict:
    return errors.Conflict("This channel is archived: it is read-only.", code="channel_archived")


def channel_is_archived(*, channel_id: UUID | str) -> bool:
    """True if the channel is archived; NotFound (404) if it does not exist (any more)."""
    archived_at = Channel.objects.filter(pk=channel_id).values_list("archived_at", flat=True)[:1]
    if not archived_at:
        raise errors.NotFound("Channel not found.")
    return archived_at[0] is not None


def channel_senders_check(*, channel_id: UUID | str, user_ids: list[str]) -> tuple[bool, dict[str, errors.DomainError]]:
    """Under the conversation's lock (messaging.services, step 1): may these users post
    in the channel now? Returns (archived, {user id: the error of each one who may not}):
    403 `not_a_member` (404 in a private channel) for those removed or gone meanwhile;
    the caller refuses everything with 409 `channel_archived` when archived. NotFound
    (404) if the channel is gone. ONE statement for a whole group-commit batch, whatever
    the number of senders (it runs inside the hot conversation's critical section), in
    SQL written once (`_senders_sql`): the ORM spent ~1.3 ms of CPU building it per
    batch (issue 13, section 2; docs/performance.md). A caller that sends it in one
    round trip with statements of its own uses its two halves,
    `channel_senders_statement` and `channel_senders_verdict`."""
    [row] = execute_together([channel_senders_statement(channel_id=channel_id, user_ids=user_ids)])
    return channel_senders_verdict(row, user_ids=user_ids)


def channel_senders_statement(*, channel_id: UUID | str, user_ids: list[str]) -> tuple[str, list]:
    """`channel_senders_check`'s statement and its parameters: (sql, params), one row
    or none. The group commit sends it in the same round trip as the seq range it
    reserves under the conversation's lock (messaging.services.group_commit). NotFound
    (404) for an id that is not a UUID."""
    try:
        cid = _as_uuid(channel_id)
        uids = [_as_uuid(user_id) for user_id in user_ids]
    except ValueError as exc:
        raise _not_found() from exc
    return _senders_sql(), [uids, cid]


def channel_senders_verdict(row: tuple | None, *, user_ids: list[str]) -> tuple[bool, dict[str, errors.DomainError]]:
    """`channel_senders_check`'s answer from the row its statement returned (None: no
    row). NotFound (404) if the channel is gone."""
    if row is None:
        raise errors.NotFound("Channel not found.")
    archived_at, is_private, member_ids = row
    members = {str(member_id) for member_id in member_ids or ()}
    refused: dict[str, errors.DomainError] = {}
    for user_id in user_ids:
        if str(user_id) not in members:
            refused[str(user_id)] = (
                errors.NotFound("Channel not found.")
                if is_private
                else errors.PermissionDenied("You are not a member of this channel.", code="not_a_member")
            )
    return archived_at is not None, refused


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


@functools.cache
def _senders_sql() -> str:
    """`channel_senders_check`'s statement: the channel's archive flag, its privacy and
    which of the given users (a uuid[] parameter) are members of it."""
    return (
        f"SELECT c.{column(Channel, 'archived_at')}, c.{column(Channel, 'is_private')}, "  # noqa: S608 (names from the models; values are parameters)
        f"ARRAY(SELECT m.{column(ChannelMember, 'user')} FROM {table(ChannelMember)} m "
        f"WHERE m.{column(ChannelMember, 'channel')} = c.{column(Channel, 'id')} "
        f"AND m.{column(ChannelMember, 'user')} = ANY(%s::uuid[])) "
        f"FROM {table(Channel)} c WHERE c.{column(Channel, 'id')} = %s"
    )


@functools.cache
def _channel_with_viewer_sql() -> tuple[str, tuple[str, ...]]:
    """`channel_get(viewer=...)` without locking, as one statement written once: every
    column of the channel and whether the viewer (first parameter) is a member; then the
    channel id and the workspace id. Returns (sql, the attnames of the columns)."""
    sql = (
        f"SELECT {columns(Channel, 'c')}, EXISTS (SELECT 1 FROM {table(ChannelMember)} m "  # noqa: S608 (names from the models)
        f"WHERE m.{column(ChannelMember, 'channel')} = c.{column(Channel, 'id')} "
        f"AND m.{column(ChannelMember, 'user')} = %s) "
        f"FROM {table(Channel)} c "
        f"WHERE c.{column(Channel, 'id')} = %s AND c.{column(Channel, 'workspace')} = %s"
    )
    return sql, tuple(field.attname for field in Channel._meta.concrete_fields)


def _channel_with_viewer(*, workspace, channel_id: UUID | str, viewer) -> Channel:
    """`channel_get(workspace=..., channel_id=..., viewer=viewer)` (404 as there), in SQL
    written once instead of a QuerySet built per call: the ORM spent ~1.1 ms of CPU
    compiling that query, on every send and every read of a channel (issue 13, section
    2; docs/performance.md). The same columns and the same `viewer_is_member`."""
    if workspace is None:  # operators' tools: any workspace
        return channel_get(workspace=None, channel_id=channel_id, viewer=viewer)
    try:
        cid = _as_uuid(channel_id)
    except ValueError as exc:
        raise _not_found() from exc
    sql, attnames = _channel_with_viewer_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [viewer.pk, cid, getattr(workspace, "pk", workspace)])
        row = cursor.fetchone()
    if row is None:
        raise _not_found()
    channel = Channel.from_db(connection.alias, attnames, row[:-1])
    channel.viewer_is_member = row[-1]
    return channel


def channel_check_sender(*, channel_id: UUID | str, user_id: UUID | str) -> None:
    """`channel_senders_check` for one sender, raising its verdict: 404 if the channel is
    gone, 403 `not_a_member` (404 in a private channel) if they were removed or left
    meanwhile, else 409 `channel_archived` if archived. One query."""
    archived, refused = channel_senders_check(channel_id=channel_id, user_ids=[str(user_id)])
    if refused:
        raise refused[str(user_id)]
    if archived:
        raise channel_archived_error()


def channel_is_member(*, user, channel_id: UUID | str) -> bool:
    return ChannelMember.objects.filter(channel_id=channel_id, user_id=user.pk).exists()


def _not_found() -> errors.NotFound:
    return errors.NotFound("Channel not found.")


def channel_membership(*, user, channel_id: UUID | str) -> ChannelMember | None:
    """`user`'s membership of the channel (its role), or None."""
    return ChannelMember.objects.filter(channel_id=channel_id, user_id=user.pk).first()


def channel_get_visible(*, user, workspace, channel_id: UUID | str, lock: bool = False) -> Channel:
    """THE visibility rule of channels (issue 16): a channel of `workspace` that `user`
    may see. A public one is visible to every member of the workspace; a private one
    only to its members: to anyone else (staff and workspace admins included) it is
    404, as if it did not exist. Every path under a channel starts here."""
    if lock:
        channel = channel_get(workspace=workspace, channel_id=channel_id, lock=lock, viewer=user)
    else:
        channel = _channel_with_viewer(workspace=workspace, channel_id=channel_id, viewer=user)
    if channel.is_private and not channel.viewer_is_member:
        raise _not_found()
    return channel


def channel_get_for_member(*, user, workspace=None, channel_id: UUID | str) -> Channel:
    """The channel of `workspace`, if `user` is a member: 404 if it does not exist (or is
    another workspace's, or is private and `user` is not in it), 403 if not a member of
    a public one.

    One statement reads both, so a channel deleted concurrently is a 404, never a 403
    from a membership read after the delete committed (tests/reliability/test_write_races.py)."""
    channel = _channel_with_viewer(workspace=workspace_or_default(workspace), channel_id=channel_id, viewer=user)
    if not channel.viewer_is_member:
        if channel.is_private:
            raise _not_found()
        raise errors.PermissionDenied("You are not a member of this channel.", code="not_a_member")
    return channel


def user_is_workspace_admin(*, user, workspace_id: UUID | str) -> bool:
    """An active owner or admin of the workspace (owners have every right admins have)."""
    return WorkspaceMember.objects.filter(
        workspace_id=workspace_id,
        user_id=user.pk,
        is_active=True,
        role__in=(WorkspaceMember.Role.OWNER, WorkspaceMember.Role.ADMIN),
    ).exists()


def channel_can_manage(*, user, channel: Channel, allow_staff: bool = False) -> bool:
    """Managers of the channel and workspace admins (issue 16); with `allow_staff`, staff
    too on a public channel (the v1 rule of PATCH /channels/{id}; a private channel they
    are not in is 404 to them before this is asked)."""
    membership = channel_membership(user=user, channel_id=channel.pk)
    if membership is not None and membership.role == ChannelMember.Role.MANAGER:
        return True
    if allow_staff and bool(getattr(user, "is_staff", False)) and not channel.is_private:
        return True
    return user_is_workspace_admin(user=user, workspace_id=channel.workspace_id)


def channel_get_for_manager(
    *, user, workspace, channel_id: UUID | str, lock: bool = False, allow_staff: bool = False
) -> Channel:
    """The channel of `workspace`, if `user` may manage it: 404 if it is not visible to
    them (channel_get_visible), 403 `not_a_manager` for anyone but its managers and
    workspace admins."""
    channel = channel_get_visible(
        user=user, workspace=workspace_or_default(workspace), channel_id=channel_id, lock=lock
    )
    if not channel_can_manage(user=user, channel=channel, allow_staff=allow_staff):
        raise errors.PermissionDenied(
            "Only the channel's managers and workspace admins can do this.", code="not_a_manager"
        )
    return channel


def user_channel_ids(*, user_id: UUID | str, workspace_id: UUID | str | None) -> list[str]:
    """The channels of `workspace_id` that `user_id` is a member of (None: of every
    workspace the user is an ACTIVE member of, for the presence fan-out: a person's
    presence goes to each workspace's channels they share, and each socket only hears
    its own workspace's; a workspace that deactivated them hears nothing of them, as
    GET /presence there reads them offline, though their channel memberships stay)."""
    memberships = ChannelMember.objects.filter(user_id=user_id)
    if workspace_id is not None:
        memberships = memberships.filter(channel__workspace_id=workspace_id)
    else:
        active = WorkspaceMember.objects.filter(user_id=user_id, is_active=True).values("workspace_id")
        memberships = memberships.filter(channel__workspace_id__in=active)
    return [str(cid) for cid in memberships.values_list("channel_id", flat=True)]


def member_channel_ids_query(*, user_id: UUID | str, workspace_id: UUID | str) -> QuerySet:
    """`user_channel_ids` as a subquery (`channel_id` values), for a filter that must stay
    one statement however many channels the user is in (files.selectors)."""
    return ChannelMember.objects.filter(user_id=user_id, channel__workspace_id=workspace_id).values("channel_id")


def user_channel_seqs(*, user_id: UUID | str, workspace_id: UUID | str) -> dict[str, int]:
    """{channel id: its newest committed message seq (0 before any message)} of the
    channels of `workspace_id` that `user_id` is a member of, in ONE statement
    (`users_channel_seqs`), so both come from one snapshot: a socket opening reads them
    (realtime.services `connection_open`), and a channel's seq tells which membership
    changes happened before that read (realtime.events.MEMBERSHIP_SEQ)."""
    pair = (str(user_id), str(workspace_id))
    return users_channel_seqs(pairs=[pair]).get(pair, {})


# memberships_ended's seq of a channel that no longer exists (the largest bigint).
GONE_SEQ = 2**63 - 1


def memberships_ended(*, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Of these (user id, channel id) pairs, those that are no longer a membership (the
    user left or was removed, or the channel is gone), each with its channel's newest
    committed message seq (0 when none): {(user id, channel id): seq}, ids as given.
    ONE statement, so a seq comes from the same snapshot as the absence of the
    membership: every removal committed before it has a seq at most this one, and any
    later rejoin a greater one (realtime.events.MEMBERSHIP_SEQ). A channel that is gone
    (deleted, its seq counter with it) has GONE_SEQ: no membership of it comes back, so
    no socket knows of a newer change. The live sockets' audit (realtime.audit) reads
    it; the (channel, user) unique index serves each pair."""
    if not pairs:
        return {}
    from messaging.models import MessageSequence

    sql = (
        f"SELECT p.u, p.c, CASE WHEN EXISTS (SELECT 1 FROM {table(Channel)} c "  # noqa: S608 (names from the models; every value is a parameter)
        f"WHERE c.{column(Channel, 'id')} = p.c::uuid) "
        f"THEN COALESCE(s.{column(MessageSequence, 'last_seq')}, 0) ELSE {GONE_SEQ} END "
        "FROM unnest(%s::text[], %s::text[]) AS p(u, c) "
        f"LEFT JOIN {table(MessageSequence)} s ON s.{column(MessageSequence, 'conversation_id')} = p.c::uuid "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table(ChannelMember)} m "
        f"WHERE m.{column(ChannelMember, 'channel')} = p.c::uuid AND m.{column(ChannelMember, 'user')} = p.u::uuid)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [[user for user, _ in pairs], [channel for _, channel in pairs]])
        return {(user, channel): int(seq) for user, channel, seq in cursor.fetchall()}


def users_channel_seqs(*, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
    """{(user id, workspace id): {channel id: its newest committed seq (0 before any
    message)}} of the channels of each pair's workspace its user is a member of, pairs
    without a channel left out; ONE statement, so each membership and its seq come from
    one snapshot (`user_channel_seqs`; the live sockets' audit, realtime.audit). It
    reads the users' memberships through the (user) index and keeps those of the pairs'
    workspaces: joining the pairs to the channels by workspace first (what the planner
    did with the pairs as a relation) made |pairs| x |channels of the workspace| rows,
    1.3 s for 1,000 sockets and 2,000 channels."""
    if not pairs:
        return {}
    from messaging.models import MessageSequence

    user, channel = column(ChannelMember, "user"), column(ChannelMember, "channel")
    workspace, seq = column(Channel, "workspace"), column(MessageSequence, "last_seq")
    sql = (
        f"SELECT m.{user}, c.{workspace}, m.{channel}, COALESCE(s.{seq}, 0) "  # noqa: S608 (names from the models; every value is a parameter)
        f"FROM {table(ChannelMember)} m "
        f"JOIN {table(Channel)} c ON c.{column(Channel, 'id')} = m.{channel} "
        f"LEFT JOIN {table(MessageSequence)} s ON s.{column(MessageSequence, 'conversation_id')} = m.{channel} "
        f"WHERE m.{user} = ANY(%s::uuid[]) AND c.{workspace} = ANY(%s::uuid[])"
    )
    wanted = {(str(u), str(w)) for u, w in pairs}
    found: dict[tuple[str, str], dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [sorted({u for u, _ in wanted}), sorted({w for _, w in wanted})])
        for user_id, workspace_id, channel_id, last_seq in cursor.fetchall():
            pair = (str(user_id), str(workspace_id))
            if pair in wanted:  # not a channel of another workspace of the user's
                found.setdefault(pair, {})[str(channel_id)] = int(last_seq)
    return found


def channel_ids_with_at_most(*, channel_ids: list[str], members: int) -> set[str]:
    """Which of these channels have at most `members` members (one grouped count on the
    (channel, user) index): the channels that still fan presence out to every member
    (issue 13, PRESENCE_FANOUT_MAX_MEMBERS)."""
    if not channel_ids:
        return set()
    rows = (
        ChannelMember.objects.filter(channel_id__in=channel_ids)
        .values("channel_id")
        .annotate(n=Count("id"))
        .filter(n__lte=members)
        .values_list("channel_id", flat=True)
    )
    return {str(cid) for cid in rows}


def channel_member_ids(*, channel_id: UUID | str) -> list[str]:
    return [str(uid) for uid in ChannelMember.objects.filter(channel_id=channel_id).values_list("user_id", flat=True)]


# --- Channels as the API shows them --------------------------------------------


def _member_count() -> Subquery:
    return Subquery(
        ChannelMember.objects.filter(channel_id=OuterRef("pk"))
        .order_by()
        .values("channel_id")
        .annotate(n=Count("*"))
        .values("n")
    )


def channel_as_members_see_it(*, channel_id: UUID | str) -> Channel | None:
    """The channel annotated as the API shows it to its members, whatever its privacy and
    whoever asks: `member_count`, `is_member` true, `my_role` null (it differs per
    member). The shape of `channel.updated`, which goes to the members only. None if
    the channel is gone."""
    return (
        Channel.objects.filter(pk=channel_id)
        .annotate(
            member_count=Coalesce(_member_count(), 0),
            is_member=Value(True, output_field=BooleanField()),
            my_role=Value(None, output_field=CharField()),
        )
        .first()
    )


def channels_for_viewer(*, user, workspace) -> QuerySet[Channel]:
    """The channels of `workspace`, annotated with `member_count` and `is_member` (for
    `user`), in the query itself.

    Both are correlated subqueries on the unique (channel, user) index, so a page of
    channels costs one query whatever its size.
    """
    mine = ChannelMember.objects.filter(channel_id=OuterRef("pk"), user_id=user.pk)
    return (
        Channel.objects.filter(workspace_id=workspace.pk)
        .annotate(
            member_count=Coalesce(_member_count(), 0),
            is_member=Exists(mine),
            my_role=Subquery(mine.values("role")[:1]),
        )
        # The visibility rule (see channel_get_visible), in the query: private channels
        # only for their members.
        .filter(Q(is_private=False) | Q(is_member=True))
    )


def channel_list(*, user, workspace, member_only: bool = False, q: str | None = None) -> QuerySet[Channel]:
    """Every channel of `workspace` visible to `user` (the public ones and the private
    ones they are in), or only `user`'s; `q` is a
    case-insensitive name prefix (names are lower-case, so it uses the (workspace, name
    varchar_pattern_ops) index)."""
    channels = channels_for_viewer(user=user, workspace=workspace)
    if member_only:
        channels = channels.filter(is_member=True)
    if q:
        channels = channels.filter(name__startswith=q.lower())
    return channels


def channel_get_for_viewer(*, user, workspace, channel_id: UUID | str) -> Channel:
    """A channel of `workspace` visible to `user`, annotated for them; 404 if it does not
    exist there or is private and `user` is not in it."""
    try:
        return channels_for_viewer(user=user, workspace=workspace).get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc


def channel_members_list(*, user, workspace=None, channel_id: UUID | str) -> QuerySet[ChannelMember]:
    """The memberships of a channel of `workspace` visible to `user` (channel_get_visible:
    a private one only to its members), with their users, each user's role in the
    workspace annotated (`user_workspace_role`, `user_workspace_is_active`)."""
    channel = channel_get_visible(user=user, workspace=workspace_or_default(workspace), channel_id=channel_id)
    membership = WorkspaceMember.objects.filter(workspace_id=channel.workspace_id, user_id=OuterRef("user_id"))
    return (
        ChannelMember.objects.filter(channel_id=channel.pk)
        .select_related("user")
        .annotate(
            user_workspace_role=Subquery(membership.values("role")[:1]),
            user_workspace_is_active=Subquery(membership.values("is_active")[:1]),
        )
    )


def channel_member_get(*, user, workspace=None, channel_id: UUID | str, member_id: UUID | str) -> ChannelMember:
    """One row of `channel_members_list` (the membership of `member_id`, annotated the
    same way); 404 `not_a_member` if they are not in the channel (or left it a moment
    ago: a removal racing the role change that is being answered)."""
    try:
        return channel_members_list(user=user, workspace=workspace, channel_id=channel_id).get(user_id=member_id)
    except (ChannelMember.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("This user is not a member of the channel.", code="not_a_member") from exc


# --- Operations (manage.py check_consistency) -------------------------------------


def channel_ids_existing(*, channel_ids: list[str]) -> set[str]:
    """Which of these channel ids (canonical UUID strings) exist."""
    valid = []
    for cid in channel_ids:
        try:
            valid.append(UUID(cid))
        except (TypeError, ValueError):
            continue
    return {str(pk) for pk in Channel.objects.filter(pk__in=valid).values_list("pk", flat=True)}


def memberships_of_inactive_users() -> QuerySet[ChannelMember]:
    """Memberships whose user is deactivated (a deleted user's memberships cascade away)."""
    return (
        ChannelMember.objects.filter(user__is_active=False)
        .select_related("user", "channel")
        .order_by("user__username", "channel__name")
    )
