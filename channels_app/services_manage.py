"""Writes of channel management (issue 16): rename, description, topic, roles, adding
and removing members, archive, unarchive, delete.

Every change is one transaction that locks the channel's row first (as join, leave,
archive and delete do, so they never deadlock and the channel's state cannot change
under a check), re-checks the actor's right there (managers of the channel and
workspace admins: channels_app.selectors.channel_get_for_manager), posts its SYSTEM
message (which takes the conversation's lock: sends in flight finish first) and
schedules its event on commit. So:
- a removal racing a send: the send either completed before the removal (and was
  announced) or finds the sender gone under the lock (403/404) and stores nothing;
- an archive racing an invite: the invite locks the row and sees the archive (409), or
  commits first and the archive follows;
- a delete racing a send or an edit: they complete first (their messages go with the
  channel) or find it gone (404) and store nothing.
"""

from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.selectors import user_get_active, user_get_in_workspace, workspace_or_default
from channels_app import selectors
from channels_app.models import Channel, ChannelMember
from channels_app.services import (
    UNSET,
    ChannelDeleteResult,
    _membership_add,
    _membership_end,
    _name_taken,
    _refuse_if_archived,
    _require_staff,
    _Unset,
    announce_channel_updated,
    channel_delete,
)
from messaging import services as messaging_services
from messaging.documents import Conversation, ConversationKind
from moderation.models import AuditLogEntry
from moderation.services import audit_entry_create
from realtime import broadcast
from slackclone import errors

MAX_MEMBERS_ADDED = 100


def _post(channel: Channel, *, actor, content: str) -> None:
    messaging_services.system_message_post(
        channel_id=channel.pk, workspace_id=channel.workspace_id, content=content, actor_id=actor.pk
    )


def channel_update(
    *,
    user,
    workspace=None,
    channel_id: UUID | str,
    name: str | None = None,
    description: str | _Unset | None = UNSET,
    topic: str | _Unset | None = UNSET,
) -> Channel:
    """Rename, re-describe and/or set the topic of a channel of `workspace`: its managers
    and workspace admins (staff too on a public channel), else 403 `not_a_manager`; 404 if
    it is not visible to `user`; 409 `channel_name_taken`; 409 `channel_archived` (an
    archived channel is read-only). Each change posts a SYSTEM message ("alice renamed
    the channel to #ops", "alice set the topic: …", "alice set the description: …",
    "alice cleared the topic" when it is emptied); if
    anything changed, members hear channel.updated. Changing nothing posts nothing."""
    workspace = workspace_or_default(workspace)
    with transaction.atomic():
        channel = selectors.channel_get_for_manager(
            user=user, workspace=workspace, channel_id=channel_id, lock=True, allow_staff=True
        )
        _refuse_if_archived(channel)
        update_fields, notes = [], []
        if name is not None and name.lower() != channel.name:
            name = name.lower()
            if Channel.objects.filter(workspace_id=workspace.pk, name=name).exclude(pk=channel.pk).exists():
                raise _name_taken()
            channel.name = name
            update_fields.append("name")
            notes.append(f"{user.username} renamed the channel to #{name}")
        if not isinstance(description, _Unset) and (description or None) != channel.description:
            channel.description = description or None
            update_fields.append("description")
            notes.append(_set_or_cleared(user, "description", channel.description))
        if not isinstance(topic, _Unset) and (topic or "") != channel.topic:
            channel.topic = topic or ""
            update_fields.append("topic")
            notes.append(_set_or_cleared(user, "topic", channel.topic))
        if update_fields:
            try:
                with transaction.atomic():
                    channel.save(update_fields=update_fields)
            except IntegrityError as exc:
                raise _name_taken() from exc
            for note in notes:
                _post(channel, actor=user, content=note)
            announce_channel_updated(channel_id=channel.pk)
    return selectors.channel_get_for_viewer(user=user, workspace=workspace, channel_id=channel.pk)


def _set_or_cleared(user, field: str, value: str | None) -> str:
    return f"{user.username} set the {field}: {value}" if value else f"{user.username} cleared the {field}"


def channel_members_add(*, user, workspace=None, channel_id: UUID | str, user_ids: list[UUID | str]) -> list:
    """Add people to a channel (public or private): any member of it (403 `not_a_member`
    on a public channel, 404 on a private one for anyone else). `user_ids`: 1-100 active
    members of the workspace (404 `user_not_found` for anyone else, nobody is added
    then); those already in it are skipped. Each one added posts "<user> added <them>"
    and is announced as a join. An archived channel: 409 `channel_archived` (checked
    under the channel's lock, so an archive racing this either comes first or after),
    unless everyone named is in it already (nothing to add: harmless).
    Returns the users added, in the order given."""
    workspace = workspace_or_default(workspace)
    ids = list(dict.fromkeys(str(uid) for uid in user_ids))
    if not 1 <= len(ids) <= MAX_MEMBERS_ADDED:
        text = f"Give 1-{MAX_MEMBERS_ADDED} user ids."
        raise errors.ValidationFailed(text, fields={"user_ids": [text]})
    people = [user_get_active(workspace=workspace, user_id=uid) for uid in ids]
    added = []
    with transaction.atomic():
        channel = selectors.channel_get_visible(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        if not selectors.channel_is_member(user=user, channel_id=channel.pk):
            raise errors.PermissionDenied("You are not a member of this channel.", code="not_a_member")
        members = set(
            ChannelMember.objects.filter(channel=channel, user_id__in=[p.pk for p in people]).values_list(
                "user_id", flat=True
            )
        )
        newcomers = [person for person in people if person.pk not in members]
        if newcomers:  # adding only people already in it is harmless, archived or not
            _refuse_if_archived(channel)
        for person in newcomers:
            if _membership_add(user=person, channel=channel, actor=user):
                added.append(person)
    return added


def channel_member_remove(*, user, workspace=None, channel_id: UUID | str, user_id: UUID | str) -> None:
    """Remove a member: managers and workspace admins (403 `not_a_manager`); 404
    `user_not_found` for someone outside the workspace; removing a non-member is
    harmless (204, nothing posted); removing yourself is leaving (the last member of a
    private channel cannot: 409 `last_member`). An archived channel's membership is
    frozen (409 `channel_archived`; removing a non-member is harmless there too). Posts "alice removed bob"; the removed
    user's sockets leave the channel (every server process) before anyone hears of it
    (services._membership_remove), then they get member.left for themselves."""
    workspace = workspace_or_default(workspace)
    target = _workspace_user(workspace=workspace, user_id=user_id)
    with transaction.atomic():
        channel = selectors.channel_get_for_manager(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        _membership_end(user=target, channel=channel, actor=user)


def _workspace_user(*, workspace, user_id):
    """A user of the workspace, active or not (a deactivated member can still be removed)."""
    return user_get_in_workspace(workspace=workspace, user_id=user_id)


def channel_member_role_set(
    *, user, workspace=None, channel_id: UUID | str, user_id: UUID | str, role: str
) -> ChannelMember:
    """Make a member a manager or a plain member: managers and workspace admins (403
    `not_a_manager`); 404 `not_a_member` if the user is not in the channel. Setting the
    role they have changes nothing and posts nothing; else posts "alice made bob a
    manager" and members hear member.role_changed. The last manager may be demoted:
    workspace admins can still manage the channel. 409 `channel_archived` (for a change:
    setting the role they have is harmless there too)."""
    workspace = workspace_or_default(workspace)
    with transaction.atomic():
        channel = selectors.channel_get_for_manager(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        try:
            membership = (
                ChannelMember.objects.select_for_update().select_related("user").get(channel=channel, user_id=user_id)
            )
        except (ChannelMember.DoesNotExist, ValueError) as exc:
            raise errors.NotFound("This user is not a member of the channel.", code="not_a_member") from exc
        if membership.role != role:
            _refuse_if_archived(channel)
            membership.role = role
            membership.save(update_fields=["role"])
            article = "a manager" if role == ChannelMember.Role.MANAGER else "a member"
            _post(channel, actor=user, content=f"{user.username} made {membership.user.username} {article}")
            cid, uid = str(channel.pk), str(membership.user_id)
            transaction.on_commit(lambda: broadcast.member_role_changed(channel_id=cid, user_id=uid, role=role))
    return membership


def channel_set_archived(*, user, workspace=None, channel_id: UUID | str, archived: bool) -> Channel:
    """Archive or unarchive a channel: managers and workspace admins (403
    `not_a_manager`). Archiving an archived channel (or unarchiving a live one) changes
    nothing and posts nothing. Archive: "alice archived the channel" is posted first,
    then the channel is marked under the conversation's lock, so no send, edit or invite
    lands after it commits. Unarchive: the mark goes, then "alice unarchived the
    channel" is posted. Members hear channel.updated. Audited."""
    workspace = workspace_or_default(workspace)
    with transaction.atomic():
        channel = selectors.channel_get_for_manager(user=user, workspace=workspace, channel_id=channel_id, lock=True)
        if channel.is_archived != archived:
            if archived:
                _post(channel, actor=user, content=f"{user.username} archived the channel")
                # Sends in flight finish first; later ones wait, then see the archive (409).
                messaging_services.conversation_writes_lock(Conversation(ConversationKind.CHANNEL, str(channel.pk)))
                channel.archived_at = timezone.now()
                channel.save(update_fields=["archived_at"])
            else:
                channel.archived_at = None
                channel.save(update_fields=["archived_at"])
                _post(channel, actor=user, content=f"{user.username} unarchived the channel")
            audit_entry_create(
                actor=user,
                action=AuditLogEntry.Action.CHANNEL_ARCHIVE,
                target_type=AuditLogEntry.TargetType.CHANNEL,
                target_id=str(channel.pk),
                detail={"name": channel.name, "archived": archived},
                workspace_id=channel.workspace_id,
            )
            announce_channel_updated(channel_id=channel.pk)
    return selectors.channel_get_for_viewer(user=user, workspace=workspace, channel_id=channel.pk)


def channel_delete_by_admin(*, user, workspace=None, channel_id: UUID | str) -> ChannelDeleteResult:
    """DELETE /channels/{id}: workspace admins only (403 `admin_only`; 404 if the channel
    is not visible to them: a private one they are not in). The channel, its memberships
    and its messages are gone (services.channel_delete); members hear channel.deleted."""
    workspace = workspace_or_default(workspace)
    channel = selectors.channel_get_visible(user=user, workspace=workspace, channel_id=channel_id)
    if not selectors.user_is_workspace_admin(user=user, workspace_id=workspace.pk):
        raise errors.PermissionDenied("Only workspace admins can delete a channel.", code="admin_only")
    return channel_delete(channel=channel, by=user, as_workspace_admin=True)


# --- Staff, from the Django admin (moderation) ----------------------------------------


def channel_member_add_by_staff(*, by, channel_id: UUID | str, user_id: UUID | str) -> bool:
    """Staff add someone to a channel from the admin, public or private, as a member
    adds them: "<staff> added <them>" is posted, the join is announced and their read
    marker starts at the newest seq (services._membership_add). 404 `user_not_found`
    unless they are an active member of the channel's workspace (every channel
    membership belongs to the channel's workspace); 409 `channel_archived`; 403
    `staff_only` for anyone but staff. False if they were in it already (harmless)."""
    _require_staff(by)
    with transaction.atomic():
        channel = selectors.channel_get(workspace=None, channel_id=channel_id, lock=True)
        person = user_get_active(workspace=channel.workspace, user_id=user_id)
        if selectors.channel_is_member(user=person, channel_id=channel.pk):
            return False
        _refuse_if_archived(channel)
        return _membership_add(user=person, channel=channel, actor=by)


def channel_member_remove_by_staff(*, by, channel_id: UUID | str, user_id: UUID | str) -> bool:
    """Staff remove a member from the admin, as a manager does: their sockets leave the
    channel on every server process before "<staff> removed <them>" is posted and
    members hear member.left (services._membership_remove). 409 `channel_archived`, 409
    `last_member` (a private channel keeps one); 403 `staff_only`. False if they were
    not a member (harmless)."""
    _require_staff(by)
    with transaction.atomic():
        channel = selectors.channel_get(workspace=None, channel_id=channel_id, lock=True)
        person = ChannelMember.objects.filter(channel=channel, user_id=user_id).select_related("user").first()
        return person is not None and _membership_end(user=person.user, channel=channel, actor=by)
