"""Reads and access checks for channels. The one place each channel access rule lives."""

from uuid import UUID

from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from channels_app.models import Channel, ChannelMember
from slackclone import errors


def channel_get(*, channel_id: UUID | str, lock: bool = False) -> Channel:
    channels = Channel.objects.select_for_update() if lock else Channel.objects.all()
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


def channel_get_for_member(*, user, channel_id: UUID | str) -> Channel:
    """The channel, if `user` is a member: 404 if it does not exist, 403 if not a member."""
    channel = channel_get(channel_id=channel_id)
    if not channel_is_member(user=user, channel_id=channel.pk):
        raise errors.PermissionDenied("You are not a member of this channel.", code="not_a_member")
    return channel


def user_channel_ids(*, user_id: UUID | str) -> list[str]:
    return [str(cid) for cid in ChannelMember.objects.filter(user_id=user_id).values_list("channel_id", flat=True)]


def channel_member_ids(*, channel_id: UUID | str) -> list[str]:
    return [str(uid) for uid in ChannelMember.objects.filter(channel_id=channel_id).values_list("user_id", flat=True)]


# --- Channels as the API shows them --------------------------------------------


def channels_for_viewer(*, user) -> QuerySet[Channel]:
    """Channels annotated with `member_count` and `is_member` (for `user`), in the query itself.

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
    return Channel.objects.annotate(
        member_count=Coalesce(Subquery(member_count), 0),
        is_member=Exists(ChannelMember.objects.filter(channel_id=OuterRef("pk"), user_id=user.pk)),
    )


def channel_list(*, user, member_only: bool = False, q: str | None = None) -> QuerySet[Channel]:
    """Every channel (channels are public), or only `user`'s; `q` is a case-insensitive name prefix
    (names are lower-case, so it uses the name's varchar_pattern_ops index)."""
    channels = channels_for_viewer(user=user)
    if member_only:
        channels = channels.filter(is_member=True)
    if q:
        channels = channels.filter(name__startswith=q.lower())
    return channels


def channel_get_for_viewer(*, user, channel_id: UUID | str) -> Channel:
    """Any channel (they are public), annotated for `user`; 404 if it does not exist."""
    try:
        return channels_for_viewer(user=user).get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc


def channel_can_edit(*, user, channel: Channel) -> bool:
    return bool(user.is_staff) or (channel.created_by_id is not None and channel.created_by_id == user.pk)


def channel_get_for_editor(*, user, channel_id: UUID | str, lock: bool = False) -> Channel:
    """The channel, if `user` may change it (its creator, or staff): 404 if it does not exist, else 403."""
    channels = Channel.objects.select_for_update() if lock else Channel.objects.all()
    try:
        channel = channels.get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc
    if not channel_can_edit(user=user, channel=channel):
        raise errors.PermissionDenied("Only the channel's creator or staff can change it.")
    return channel


def channel_members_list(*, channel_id: UUID | str) -> QuerySet[ChannelMember]:
    """The memberships of a channel with their users. Channels are public: any signed-in user may list them."""
    channel = channel_get(channel_id=channel_id)
    return ChannelMember.objects.filter(channel_id=channel.pk).select_related("user")


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
