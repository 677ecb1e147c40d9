"""Writes for channels. Each service owns its transaction, its permission check and its events.

Membership changes post a SYSTEM message (MongoDB) inside the Postgres transaction, so a
store that is down fails the whole change (503) and nothing is half done; the realtime
broadcast is scheduled on commit, so nothing rolled back is ever announced.
"""

from uuid import UUID

from django.db import IntegrityError, transaction

from channels_app import selectors
from channels_app.models import Channel, ChannelMember
from messaging import services as messaging_services
from realtime import broadcast
from slackclone import errors


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()


def _name_taken() -> errors.Conflict:
    return errors.Conflict("A channel with this name already exists.", code="channel_name_taken")


def _membership_add(*, user, channel: Channel) -> bool:
    """Make `user` a member (race-safe on the unique pair). True if they were not one already."""
    _membership, created = ChannelMember.objects.get_or_create(channel=channel, user=user)
    if created:
        messaging_services.system_message_post(
            channel_id=channel.pk, content=f"{user.username} joined", actor_id=user.pk
        )
        channel_id, user_id = str(channel.pk), str(user.pk)
        transaction.on_commit(lambda: broadcast.member_joined(channel_id=channel_id, user_id=user_id))
    return created


def _membership_remove(*, user, channel: Channel) -> bool:
    """End `user`'s membership. True if they were a member."""
    deleted, _ = ChannelMember.objects.filter(channel=channel, user=user).delete()
    if deleted:
        messaging_services.system_message_post(channel_id=channel.pk, content=f"{user.username} left", actor_id=user.pk)
        channel_id, user_id = str(channel.pk), str(user.pk)
        transaction.on_commit(lambda: broadcast.member_left(channel_id=channel_id, user_id=user_id))
    return bool(deleted)


def channel_create(*, user, name: str, description: str | None = None) -> Channel:
    """A new channel; its creator is its first member (which posts "<username> joined")."""
    name = name.lower()
    if Channel.objects.filter(name=name).exists():
        raise _name_taken()
    with transaction.atomic():
        try:
            with transaction.atomic():
                channel = Channel.objects.create(name=name, description=description or None, created_by=user)
        except IntegrityError as exc:  # a concurrent create took the name
            raise _name_taken() from exc
        _membership_add(user=user, channel=channel)
    return selectors.channel_get_for_viewer(user=user, channel_id=channel.pk)


def channel_update(
    *, user, channel_id: UUID | str, name: str | None = None, description: str | _Unset | None = UNSET
) -> Channel:
    """Rename and/or re-describe a channel: its creator or staff only (403), 409 on a taken name."""
    with transaction.atomic():
        channel = selectors.channel_get_for_editor(user=user, channel_id=channel_id, lock=True)
        update_fields = []
        if name is not None and name.lower() != channel.name:
            name = name.lower()
            if Channel.objects.filter(name=name).exclude(pk=channel.pk).exists():
                raise _name_taken()
            channel.name = name
            update_fields.append("name")
        if not isinstance(description, _Unset) and (description or None) != channel.description:
            channel.description = description or None
            update_fields.append("description")
        if update_fields:
            try:
                with transaction.atomic():
                    channel.save(update_fields=update_fields)
            except IntegrityError as exc:
                raise _name_taken() from exc
    return selectors.channel_get_for_viewer(user=user, channel_id=channel.pk)


def channel_join(*, user, channel_id: UUID | str) -> Channel:
    """Join a public channel. Idempotent: joining again changes nothing and posts nothing."""
    with transaction.atomic():
        channel = selectors.channel_get(channel_id=channel_id)
        _membership_add(user=user, channel=channel)
    return selectors.channel_get_for_viewer(user=user, channel_id=channel.pk)


def channel_leave(*, user, channel_id: UUID | str) -> None:
    """Leave a channel. Idempotent: leaving when not a member changes nothing and posts nothing."""
    with transaction.atomic():
        channel = selectors.channel_get(channel_id=channel_id)
        _membership_remove(user=user, channel=channel)
