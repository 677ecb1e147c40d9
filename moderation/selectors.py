"""Reads of the moderation pages: the PostgreSQL names behind the ids of messages."""

from dataclasses import dataclass
from uuid import UUID

from accounts.models import User
from channels_app.models import Channel
from dms.models import DmConversation
from messaging.documents import ConversationKind, MessageDocument


@dataclass(frozen=True, slots=True)
class Names:
    users: dict[str, str]  # user id -> username
    channels: dict[str, str]  # channel id -> "#name"
    dms: dict[str, str]  # conversation id -> "alice / bob"

    def conversation(self, message: MessageDocument) -> str:
        cid = message.conversation.id
        if message.conversation.kind is ConversationKind.CHANNEL:
            return self.channels.get(cid, f"deleted channel {cid}")
        return self.dms.get(cid, f"deleted DM {cid}")

    def sender(self, message: MessageDocument) -> str:
        if message.sender_id is None:
            return "(system)"
        return self.users.get(message.sender_id, f"deleted user {message.sender_id}")


def _uuids(values) -> set[UUID]:
    out = set()
    for value in values:
        try:
            out.add(UUID(value))
        except (TypeError, ValueError):
            continue
    return out


def names_for(messages: list[MessageDocument]) -> Names:
    """Usernames, channel names and DM pairs of these messages, in three queries."""
    user_ids = _uuids({m.sender_id for m in messages} | {m.deleted_by for m in messages})
    channel_ids = _uuids(m.conversation.id for m in messages if m.conversation.kind is ConversationKind.CHANNEL)
    dm_ids = _uuids(m.conversation.id for m in messages if m.conversation.kind is ConversationKind.DM)
    channels = {
        str(pk): f"#{name}" for pk, name in Channel.objects.filter(pk__in=channel_ids).values_list("pk", "name")
    }
    dms = {
        str(pk): f"{a} / {b}"
        for pk, a, b in DmConversation.objects.filter(pk__in=dm_ids).values_list(
            "pk", "user1__username", "user2__username"
        )
    }
    users = {str(pk): name for pk, name in User.objects.filter(pk__in=user_ids).values_list("pk", "username")}
    return Names(users=users, channels=channels, dms=dms)


# --- manage.py export_workspace ----------------------------------------------------------


def _time(value):
    from slackclone.api.fields import format_time

    return format_time(value) if value is not None else None


def workspace_export(*, workspace, batch_size: int = 1000):
    """Everything a workspace holds, as JSON-ready dicts with a "type", streamed: the
    workspace, its members, invites, channels, channel memberships and DMs from
    PostgreSQL (server-side cursors, `batch_size` rows at a time), then every message
    from MongoDB (deleted ones included, marked) on the (workspaceId, createdAt) index."""
    from accounts.models import WorkspaceInvite, WorkspaceMember
    from channels_app.models import ChannelMember
    from messaging.selectors import workspace_messages
    from messaging.serializers import message_to_api

    yield {
        "type": "workspace",
        "id": str(workspace.pk),
        "slug": workspace.slug,
        "name": workspace.name,
        "joining": workspace.joining,
        "created_at": _time(workspace.created_at),
    }
    members = WorkspaceMember.objects.filter(workspace=workspace).select_related("user").order_by("id")
    for member in members.iterator(chunk_size=batch_size):
        yield {
            "type": "member",
            "user_id": str(member.user_id),
            "username": member.user.username,
            "email": member.user.email,
            "display_name": member.user.display_name,
            "role": member.role,
            "is_active": member.is_active,
            "joined_at": _time(member.joined_at),
        }
    for invite in WorkspaceInvite.objects.filter(workspace=workspace).order_by("created_at").iterator(batch_size):
        yield {
            "type": "invite",
            "code": invite.code,
            "created_by": str(invite.created_by_id) if invite.created_by_id else None,
            "created_at": _time(invite.created_at),
            "expires_at": _time(invite.expires_at),
            "max_uses": invite.max_uses,
            "uses": invite.uses,
            "revoked_at": _time(invite.revoked_at),
        }
    for channel in Channel.objects.filter(workspace=workspace).order_by("name").iterator(chunk_size=batch_size):
        yield {
            "type": "channel",
            "id": str(channel.pk),
            "name": channel.name,
            "description": channel.description,
            "created_by": str(channel.created_by_id) if channel.created_by_id else None,
            "created_at": _time(channel.created_at),
            "archived_at": _time(channel.archived_at),
        }
    memberships = ChannelMember.objects.filter(channel__workspace=workspace).order_by("channel_id", "joined_at", "id")
    for membership in memberships.iterator(chunk_size=batch_size):
        yield {
            "type": "channel_member",
            "channel_id": str(membership.channel_id),
            "user_id": str(membership.user_id),
            "joined_at": _time(membership.joined_at),
        }
    for dm in DmConversation.objects.filter(workspace=workspace).order_by("created_at", "id").iterator(batch_size):
        yield {
            "type": "dm",
            "id": str(dm.pk),
            "user1_id": str(dm.user1_id),
            "user2_id": str(dm.user2_id),
            "created_at": _time(dm.created_at),
        }
    for message in workspace_messages(workspace_id=str(workspace.pk), batch_size=batch_size):
        yield {
            "type": "message",
            "message": {
                **message_to_api(message),
                "workspace_id": message.conversation.workspace_id,
                "deleted_at": _time(message.deleted_at),
                "deleted_by": message.deleted_by,
            },
        }
