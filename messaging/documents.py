"""Messages as the rest of the code sees them: frozen dataclasses, no pymongo types.

`messaging.repositories` maps MongoDB documents to and from these (ObjectId <-> 24-hex
string, BSON date <-> tz-aware UTC datetime, camelCase <-> snake_case).
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ConversationKind(StrEnum):
    """Where a message lives; the values are also MessageSequence.kind."""

    CHANNEL = "channel"
    DM = "dm"


class MessageType(StrEnum):
    TEXT = "TEXT"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A channel or a DM conversation, by id (canonical UUID string), and the id of its
    workspace when known (stored as the document's `workspaceId`; not part of equality:
    a conversation id names one conversation of one workspace)."""

    kind: ConversationKind
    id: str
    workspace_id: str | None = field(default=None, compare=False)

    @property
    def api_field(self) -> str:
        """The Message JSON key naming it: `channel_id` or `conversation_id`."""
        return "channel_id" if self.kind is ConversationKind.CHANNEL else "conversation_id"


@dataclass(frozen=True, slots=True)
class MessageDocument:
    """One stored message of `channel_messages` or `dm_messages`.

    `sender_id` is None only for a SYSTEM message posted without an acting user.
    `dedupe_key` is "c:<client_msg_id>" when the client gave one, else "s:<id>", so
    that the unique (conversation, dedupeKey) index only ever rejects real retries.
    """

    id: str
    conversation: Conversation
    seq: int
    sender_id: str | None
    content: str
    type: MessageType
    created_at: datetime
    edited_at: datetime | None
    client_msg_id: str | None
    dedupe_key: str
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    # The files it carries (issue 20): what files.services.file_document stores of each.
    files: tuple[dict, ...] = ()
    # Threads (issue 17): a reply names its root; a root counts its visible replies.
    thread_id: str | None = None
    also_in_channel: bool = False
    thread_counted: bool = False  # a reply already counted in its root's replyCount
    # A reply's place in its thread (`threadSeq`, 1, 2, ...: increasing with seq, gaps
    # allowed) and, on a root, the last one given (`lastThreadSeq`); None on documents
    # stored before they existed (messaging.repositories_places.thread_seqs_reserve).
    thread_seq: int | None = None
    last_thread_seq: int | None = None
    reply_count: int = 0
    reply_users: tuple[str, ...] = ()  # up to 5 user ids, the most recent repliers first
    last_reply_at: datetime | None = None
    # Reactions (issue 17), in order of first use.
    reactions: tuple["Reaction", ...] = ()
    # Mentions (issue 17): user ids of the workspace, computed at send and at edit.
    mentions: tuple[str, ...] = ()
    mentions_channel: bool = False
    # Pins (issue 17).
    pinned_at: datetime | None = None
    pinned_by: str | None = None

    @property
    def channel_id(self) -> str | None:
        return self.conversation.id if self.conversation.kind is ConversationKind.CHANNEL else None

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.id if self.conversation.kind is ConversationKind.DM else None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def takes_replies(self) -> bool:
        """Whether it can be a thread's root (contract, "Threads"): a TEXT message that
        is no reply itself."""
        return self.type is MessageType.TEXT and self.thread_id is None


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji on a message: the normalized Unicode emoji and who reacted, in order."""

    emoji: str
    user_ids: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.user_ids)


def dedupe_key_for(*, message_id: str, client_msg_id: str | None) -> str:
    return f"c:{client_msg_id}" if client_msg_id is not None else f"s:{message_id}"
