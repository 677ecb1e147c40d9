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
