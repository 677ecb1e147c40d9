"""Writes for channels. Each service owns its transaction, its permission check and its events.

Membership changes post a SYSTEM message (MongoDB) inside the Postgres transaction, so a
store that is down fails the whole change (503) and nothing is half done; the realtime
broadcast is scheduled on commit, so nothing rolled back is ever announced.
"""

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.selectors import workspace_or_default
from channels_app import selectors
from channels_app.models import Channel, ChannelMember
from files.services import conversation_files_delete
from messaging import services as messaging_services
from messaging.documents import Conversation, ConversationKind
from messaging.selectors import conversation_last_seq
from messaging.serializers import message_to_api
from moderation.models import AuditLogEntry
from moderation.services import audit_entry_create
from realtime import broadcast
from slackclone import errors

logger = logging.getLogger(__name__)


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()


def _name_taken() -> errors.Conflict:
    return errors.Conflict("A channel with this name already exists.", code="channel_name_taken")


def _refuse_if_archived(channel: Channel) -> None:
    """Membership of an archived channel is frozen (posting and editing there are refused
    by messaging.selectors.conversation_get_for_member)."""
    if channel.is_archived:
        raise selectors.channel_archived_error()


def _refuse_if_last_of_private(*, channel: Channel, user) -> None:
    """A private channel keeps at least one member: it is invisible to everyone else
    (workspace admins included), so the last member leaving would leave it unreachable
    by anyone, undeletable through the API, and its name taken for good. 409
    `last_member` (they may add someone first, archive it, or a workspace admin who is
    in it may delete it). Called under the channel's row lock, so two last members
    leaving at once cannot both pass."""
    if not channel.is_private:
        return
    members = ChannelMember.objects.filter(channel=channel)
    if members.filter(user_id=user.pk).exists() and members.count() <= 1:
        raise errors.Conflict(
            "You are the last member of this private channel: add someone before you leave it, or archive it.",
            code="last_member",
        )


def _membership_end(*, user, channel: Channel, actor=None) -> bool:
    """Under the channel's row lock: end `user`'s membership by the rules every removal
    shares (leave, a manager's removal, staff's from the admin): harmless for a
    non-member (False, archived or not), 409 `channel_archived`, 409 `last_member` for
    the last member of a private channel; then `_membership_remove`."""
    if not selectors.channel_is_member(user=user, channel_id=channel.pk):
        return False
    _refuse_if_archived(channel)
    _refuse_if_last_of_private(channel=channel, user=user)
    return _membership_remove(user=user, channel=channel, actor=actor)


def announce_channel_updated(*, channel_id: UUID | str) -> None:
    """On commit: channel.updated to the channel's members, with the channel as they see
    it (selectors.channel_as_members_see_it: `is_member` true, `my_role` null), whoever
    made the change (a workspace admin outside the channel, or staff, included)."""
    from channels_app.serializers import ChannelSerializer

    def send():
        channel = selectors.channel_as_members_see_it(channel_id=channel_id)
        if channel is not None:  # not deleted meanwhile
            broadcast.channel_updated(channel=dict(ChannelSerializer(channel).data))

    transaction.on_commit(send)


def _require_staff(by) -> None:
    if not getattr(by, "is_staff", False):
        raise errors.PermissionDenied("Only staff can do this.", code="staff_only")


def _membership_add(*, user, channel: Channel, role: str = ChannelMember.Role.MEMBER, actor=None) -> bool:
    """Make `user` a member (race-safe on the unique pair). True if they were not one already.
    Posts "<username> joined", or "<actor> added <username>" when someone else added them."""
    _membership, created = ChannelMember.objects.get_or_create(channel=channel, user=user, defaults={"role": role})
    if created:
        added_by_other = actor is not None and actor.pk != user.pk
        joined = messaging_services.system_message_post(
            channel_id=channel.pk,
            workspace_id=channel.workspace_id,
            content=f"{actor.username} added {user.username}" if added_by_other else f"{user.username} joined",
            actor_id=actor.pk if added_by_other else user.pk,
        )
        from readstate.services import marker_start  # issue 18: a new member has read everything so far

        marker_start(
            user_id=user.pk, workspace_id=channel.workspace_id, conversation=joined.conversation, seq=joined.seq
        )
        channel_id, user_id, system_message = str(channel.pk), str(user.pk), message_to_api(joined)
        workspace_id = str(channel.workspace_id)
        transaction.on_commit(
            lambda: broadcast.member_joined(
                channel_id=channel_id, user_id=user_id, workspace_id=workspace_id, system_message=system_message
            )
        )
    return created


def _membership_remove(*, user, channel: Channel, actor=None) -> bool:
    """End `user`'s membership (they left, or `actor` removed them). True if they were a member.

    The order is the rule of issue 16, "removal takes effect on live sockets before it is
    announced": under the conversation's lock (sends in flight finish first; later ones
    then find the sender gone, messaging.services step 1), the membership is deleted,
    then the user's live sockets on every server process leave the channel's group
    (broadcast.member_unsubscribe waits for them), and only then is the SYSTEM message
    posted (it is broadcast to the group); once committed, the user's own sockets get
    member.left for themselves and the remaining members hear member.left. If the
    transaction fails after the unsubscribe, the sockets are subscribed again."""
    messaging_services.conversation_writes_lock(Conversation(ConversationKind.CHANNEL, str(channel.pk)))
    deleted, _ = ChannelMember.objects.filter(channel=channel, user=user).delete()
    if not deleted:
        return False
    channel_id, user_id, workspace_id = str(channel.pk), str(user.pk), str(channel.workspace_id)
    # Under the lock: every join committed so far has a seq at most this (realtime.events.MEMBERSHIP_SEQ).
    seq = conversation_last_seq(conversation=Conversation(ConversationKind.CHANNEL, channel_id))
    broadcast.member_unsubscribe(channel_id=channel_id, user_id=user_id, workspace_id=workspace_id, seq=seq)
    removed_by_other = actor is not None and actor.pk != user.pk
    try:
        messaging_services.system_message_post(
            channel_id=channel.pk,
            workspace_id=channel.workspace_id,
            content=f"{actor.username} removed {user.username}" if removed_by_other else f"{user.username} left",
            actor_id=actor.pk if removed_by_other else user.pk,
        )
    except Exception:
        broadcast.member_resubscribe(channel_id=channel_id, user_id=user_id, workspace_id=workspace_id)
        raise
    transaction.on_commit(
        lambda: broadcast.member_removed_announce(
            channel_id=channel_id, user_id=user_id, workspace_id=workspace_id, seq=seq
        )
    )
    return True


def channel_create(
    *, user, workspace=None, name: str, description: str | None = None, is_private: bool = False
) -> Channel:
    """A new channel of `workspace`; its creator is its first member and manager (which
    posts "<username> joined"). 409 `channel_name_taken` if the workspace has the name
    (private channels' names included: names are unique per workspace). `is_private`
    cannot change later."""
    workspace = workspace_or_default(workspace)
    name = name.lower()
    if Channel.objects.filter(workspace_id=workspace.pk, name=name).exists():
        raise _name_taken()
    with transaction.atomic():
        try:
            with transaction.atomic():
                channel = Channel.objects.create(
                    workspace=workspace,
                    name=name,
                    description=description or None,
                    created_by=user,
                    is_private=is_private,
                )
        except IntegrityError as exc:  # a concurrent create took the name
            raise _name_taken() from exc
        _membership_add(user=user, channel=channel, role=ChannelMember.Role.MANAGER)
    return selectors.channel_get_for_viewer(user=user, workspace=workspace, channel_id=channel.pk)


def channel_join(*, user, workspace=None, channel_id: UUID | str) -> Channel:
    """Join a public channel of `workspace`. Idempotent: joining again changes nothing and
    posts nothing (an archived channel included: contract, "joining twice is
    harmless"). An archived channel cannot be joined (409 `channel_archived`). Nobody
    joins a private channel by themselves: 404 to a non-member (it is invisible to them),
    harmless for a member."""
    workspace = workspace_or_default(workspace)
    with transaction.atomic():
        # The channel's row first (as archive and delete lock it): its state cannot change
        # under the join, and the join never deadlocks with them.
        channel = selectors.channel_get_visible(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        # Read again under the lock (the statement's own read may predate a change it waited for).
        if not selectors.channel_is_member(user=user, channel_id=channel.pk):
            _refuse_if_archived(channel)
            _membership_add(user=user, channel=channel)
    return selectors.channel_get_for_viewer(user=user, workspace=workspace, channel_id=channel.pk)


def channel_leave(*, user, workspace=None, channel_id: UUID | str) -> None:
    """Leave a channel. Idempotent: leaving when not a member changes nothing and posts nothing.
    An archived channel cannot be left either (409 `channel_archived`): its membership is
    frozen, and leaving would post a SYSTEM message in a read-only channel (a non-member
    leaving one is still harmless: 204). The last member of a private channel cannot
    leave it (409 `last_member`)."""
    workspace = workspace_or_default(workspace)
    with transaction.atomic():
        # See channel_join; a private channel the user is not in is 404.
        channel = selectors.channel_get_visible(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        _membership_end(user=user, channel=channel)


# --- Moderation (admin) ----------------------------------------------------------


def channel_archive(*, channel: Channel, by) -> Channel:
    """Archive a channel (staff only, from the admin): it stays readable, but nobody can
    join or leave it, or post or edit messages in it any more (409 `channel_archived`).
    As when a manager archives it (services_manage.channel_set_archived): "<staff>
    archived the channel" is posted first, then the channel is marked, and members hear
    channel.updated. Audited. Archiving an archived channel changes nothing and records
    nothing."""
    _require_staff(by)
    with transaction.atomic():
        locked = selectors.channel_get(workspace=channel.workspace_id, channel_id=channel.pk, lock=True)
        if not locked.is_archived:
            messaging_services.system_message_post(
                channel_id=locked.pk,
                workspace_id=locked.workspace_id,
                content=f"{by.username} archived the channel",
                actor_id=by.pk,
            )
            # Sends in flight finish first; later ones wait, then see the archive (409).
            messaging_services.conversation_writes_lock(Conversation(ConversationKind.CHANNEL, str(locked.pk)))
            locked.archived_at = timezone.now()
            locked.save(update_fields=["archived_at"])
            audit_entry_create(
                actor=by,
                action=AuditLogEntry.Action.CHANNEL_ARCHIVE,
                target_type=AuditLogEntry.TargetType.CHANNEL,
                target_id=str(locked.pk),
                detail={"name": locked.name},
                workspace_id=locked.workspace_id,
            )
            announce_channel_updated(channel_id=locked.pk)
    channel.archived_at = locked.archived_at
    return channel


@dataclass(frozen=True, slots=True)
class ChannelDeleteResult:
    channel_id: str
    name: str
    memberships: int
    messages: int | None  # in MongoDB when it was deleted (removed once the deletion commits); None: unknown


def channel_delete(*, channel: Channel, by, as_workspace_admin: bool = False) -> ChannelDeleteResult:
    """Delete a channel for good (staff only): its row, its memberships (cascade) and its
    seq counter in PostgreSQL, with an audit entry, in one transaction; then, once that
    commits, every message of the channel in MongoDB.

    PostgreSQL goes first because it is authoritative: if MongoDB fails (or the process
    dies) after the commit, the messages are orphans that `manage.py check_consistency
    --fix` finds and removes; the other order could leave a live channel without its
    history. A send racing the deletion either completes before it (its message is
    removed with the others) or answers 404 and stores nothing.

    `as_workspace_admin`: the caller (services_manage.channel_delete_by_admin) already
    checked that `by` is an admin of the channel's workspace (DELETE /channels/{id}).
    """
    if not as_workspace_admin:
        _require_staff(by)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    with transaction.atomic():
        locked = selectors.channel_get(workspace=channel.workspace_id, channel_id=channel.pk, lock=True)
        # Writes in flight (a first send, whose counter row is not committed yet, too)
        # finish first and their messages are removed with the rest; later ones wait,
        # then find the channel gone (404) and store nothing.
        messaging_services.conversation_writes_lock(conversation)
        member_ids = [
            str(uid) for uid in ChannelMember.objects.filter(channel_id=locked.pk).values_list("user_id", flat=True)
        ]
        memberships = len(member_ids)
        try:
            messages = messaging_services.conversation_message_count(conversation=conversation)
        except errors.StoreUnavailable:
            messages = None  # MongoDB is down: the deletion still goes ahead (see above)
        audit_entry_create(
            actor=by,
            action=AuditLogEntry.Action.CHANNEL_DELETE,
            target_type=AuditLogEntry.TargetType.CHANNEL,
            target_id=str(locked.pk),
            detail={"name": locked.name, "memberships": memberships, "messages": messages},
            workspace_id=locked.workspace_id,
        )
        messaging_services.conversation_sequence_delete(conversation=conversation)
        conversation_files_delete(conversation_id=conversation.id)  # its shares, and the files only it carried
        locked.delete()
        workspace_id = str(locked.workspace_id)
        # Members hear channel.deleted, then their sockets leave the group (issue 16).
        transaction.on_commit(
            lambda: broadcast.channel_deleted(
                channel_id=conversation.id, member_ids=member_ids, workspace_id=workspace_id
            )
        )
        transaction.on_commit(lambda: messaging_services.conversation_messages_delete(conversation=conversation))
    return ChannelDeleteResult(channel_id=conversation.id, name=locked.name, memberships=memberships, messages=messages)


def channel_memberships_remove_inactive(*, membership_ids: list[UUID | str]) -> int:
    """Remove these memberships if their user is (still) deactivated; returns how many.

    Maintenance (`check_consistency --fix`): no SYSTEM message is posted, but members'
    sockets hear member.left as usual, once the removal commits. A private channel
    keeps one member (`_refuse_if_last_of_private`): if every member left in it is
    deactivated, the one who joined first stays (under the channel's lock, so a leave
    racing this cannot empty it either)."""
    with transaction.atomic():
        channel_ids = set(
            ChannelMember.objects.filter(pk__in=membership_ids, user__is_active=False).values_list(
                "channel_id", flat=True
            )
        )
        private = list(
            Channel.objects.select_for_update()
            .filter(pk__in=channel_ids, is_private=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        memberships = list(
            ChannelMember.objects.select_for_update()
            .filter(pk__in=membership_ids, user__is_active=False)
            .order_by("joined_at", "pk")
            .values_list("pk", "channel_id", "user_id", "channel__workspace_id")
        )
        for channel_id in private:
            leaving = [m for m in memberships if m[1] == channel_id]
            if leaving and len(leaving) >= ChannelMember.objects.filter(channel_id=channel_id).count():
                memberships.remove(leaving[0])  # the last member of a private channel stays
        ChannelMember.objects.filter(pk__in=[pk for pk, _, _, _ in memberships]).delete()
        for _pk, channel_id, user_id, workspace_id in memberships:
            cid, uid, wid = str(channel_id), str(user_id), str(workspace_id)
            transaction.on_commit(
                lambda cid=cid, uid=uid, wid=wid: broadcast.member_left(channel_id=cid, user_id=uid, workspace_id=wid)
            )
    return len(memberships)


def channel_update(**kwargs) -> Channel:
    """See channels_app.services_manage.channel_update (issue 16 moved it there)."""
    from channels_app.services_manage import channel_update as update

    return update(**kwargs)
