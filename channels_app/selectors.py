"""Reads and access checks for channels. The one place each channel access rule lives."""

from uuid import UUID

from channels_app.models import Channel, ChannelMember
from slackclone import errors


def channel_get(*, channel_id: UUID | str) -> Channel:
    try:
        return Channel.objects.get(pk=channel_id)
    except (Channel.DoesNotExist, ValueError) as exc:
        raise errors.NotFound("Channel not found.") from exc


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
