"""Reads and access checks for channels. The one place each channel access rule lives."""

from uuid import UUID

from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import WorkspaceMember
from accounts.selectors import workspace_or_default
from channels_app.models import Channel, ChannelMember
from slackclone import errors


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


def channel_is_member(*, user, channel_id: UUID | str) -> bool:
    return ChannelMember.objects.filter(channel_id=channel_id, user_id=user.pk).exists()


def channel_get_for_member(*, user, workspace=None, channel_id: UUID | str) -> Channel:
    """The channel of `workspace`, if `user` is a member: 404 if it does not exist (or is
    another workspace's), 403 if not a member.

    One statement reads both, so a channel deleted concurrently is a 404, never a 403
    from a membership read after the delete committed (tests/reliability/test_write_races.py)."""
    channel = channel_get(workspace=workspace_or_default(workspace), channel_id=channel_id, viewer=user)
    if not channel.viewer_is_member:
        raise errors.PermissionDenied("You are not a member of this channel.", code="not_a_member")
    return channel


def user_channel_ids(*, user_id: UUID | str, workspace_id: UUID | str | None) -> list[str]:
    """The channels of `workspace_id` that `user_id` is a member of (None: of every
    workspace, for the presence fan-out: a person's presence goes to each workspace's
    channels they share, and each socket only hears its own workspace's)."""
    memberships = ChannelMember.objects.filter(user_id=user_id)
    if workspace_id is not None:
        memberships = memberships.filter(channel__workspace_id=workspace_id)
    return [str(cid) for cid in memberships.values_list("channel_id", flat=True)]


def channel_member_ids(*, channel_id: UUID | str) -> list[str]:
    return [str(uid) for uid in ChannelMember.objects.filter(channel_id=channel_id).values_list("user_id", flat=True)]


# --- Channels as the API shows them --------------------------------------------


def channels_for_viewer(*, user, workspace) -> QuerySet[Channel]:
    """The channels of `workspace`, annotated with `member_count` and `is_member` (for
    `user`), in the query itself.

    Both are correlated subqueries on the unique (channel, user) index, so a page of
    channels costs one query whatever its size.
    """
    member_count = (
        ChannelMember.objects.filter(channel_id=OuterRef("pk"))
        .order_by()
        .values("channel_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Channel.objects.filter(workspace_id=workspace.pk).annotate(
        member_count=Coalesce(Subquery(member_count), 0),
        is_member=Exists(ChannelMember.objects.filter(channel_id=OuterRef("pk"), user_id=user.pk)),
    )


def channel_list(*, user, workspace, member_only: bool = False, q: str | None = None) -> QuerySet[Channel]:
    """Every channel of `workspace` (channels are public), or only `user`'s; `q` is a
    case-insensitive name prefix (names are lower-case, so it uses the (workspace, name
    varchar_pattern_ops) index)."""
    channels = channels_for_viewer(user=user, workspace=workspace)
    if member_only:
        channels = channels.filter(is_member=True)
    if q:
        channels = channels.filter(name__startswith=q.lower())
    return channels


def channel_get_for_viewer(*, user, workspace, channel_id: UUID | str) -> Channel:
    """Any channel of `workspace` (they are public), annotated for `user`; 404 if it does
    not exist there."""
    try:
        return channels_for_viewer(user=user, workspace=workspace).get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc


def channel_can_edit(*, user, channel: Channel) -> bool:
    return bool(user.is_staff) or (channel.created_by_id is not None and channel.created_by_id == user.pk)


def channel_get_for_editor(*, user, workspace, channel_id: UUID | str, lock: bool = False) -> Channel:
    """The channel of `workspace`, if `user` may change it (its creator, or staff): 404 if
    it does not exist there, else 403."""
    channel = channel_get(workspace=workspace, channel_id=channel_id, lock=lock)
    if not channel_can_edit(user=user, channel=channel):
        raise errors.PermissionDenied("Only the channel's creator or staff can change it.")
    return channel


def channel_members_list(*, workspace=None, channel_id: UUID | str) -> QuerySet[ChannelMember]:
    """The memberships of a channel of `workspace` with their users, each user's role in
    the workspace annotated (`user_workspace_role`, `user_workspace_is_active`). Channels
    are public: any member of the workspace may list them."""
    channel = channel_get(workspace=workspace_or_default(workspace), channel_id=channel_id)
    membership = WorkspaceMember.objects.filter(workspace_id=channel.workspace_id, user_id=OuterRef("user_id"))
    return (
        ChannelMember.objects.filter(channel_id=channel.pk)
        .select_related("user")
        .annotate(
            user_workspace_role=Subquery(membership.values("role")[:1]),
            user_workspace_is_active=Subquery(membership.values("is_active")[:1]),
        )
    )


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
