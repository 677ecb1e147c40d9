"""The unread index (issue 18): what the unread and mention counts are counted on.

Each live TEXT message has one `unread_entries` row (readstate.models.UnreadEntry),
written by the message's own write path, inside the transaction that holds the
conversation's lock (messaging.services.derived), beside the search index:

- `entries_add` when messages are stored (a send, a group commit's batch, an import);
- `entries_edited` when an edit changes the mentions;
- `entries_remove` when messages are deleted (by their author, by moderation);
- `conversation_entries_drop` when a conversation is deleted;
- `entries_purged` with retention (`messages_purge`).

So a count is never behind a committed write and never ahead of one: a message
counts from the commit that stored it until the commit that deleted it. What is
stored is what the contract's definition reads (type, visibility, thread, sender,
mentions); the counts are WHERE clauses over it (readstate.selectors), not counters,
so nothing has to be adjusted per member on a send: a send costs one row, whatever
the conversation's size. `manage.py unread_index_rebuild` rebuilds the rows of
conversations from MongoDB (an upgrade, or after a restore).
"""

from datetime import datetime
from uuid import UUID

from django.db import connection

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from slackclone.sql import Statement, execute_together, unnest_statements

_UPSERT_TYPES = ("uuid", "bigint", "varchar", "uuid", "uuid", "varchar", "boolean", "uuid[]", "boolean", "timestamptz")
_UPSERT_SQL = """
INSERT INTO unread_entries (conversation_id, seq, kind, workspace_id, sender_id, thread_id, in_conversation,
                            mentions, mentions_conversation, created_at)
{rows}
ON CONFLICT (conversation_id, seq) DO UPDATE
SET sender_id = EXCLUDED.sender_id, thread_id = EXCLUDED.thread_id, in_conversation = EXCLUDED.in_conversation,
    mentions = EXCLUDED.mentions, mentions_conversation = EXCLUDED.mentions_conversation
"""


def _countable(message: MessageDocument) -> bool:
    return message.type is MessageType.TEXT and not message.is_deleted


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _row(message: MessageDocument) -> tuple:
    conversation = message.conversation
    return (
        UUID(conversation.id),
        message.seq,
        conversation.kind.value,
        _uuid_or_none(conversation.workspace_id),
        _uuid_or_none(message.sender_id),
        message.thread_id,
        message.thread_id is None or bool(message.also_in_channel),
        [uid for uid in (_uuid_or_none(u) for u in message.mentions) if uid is not None],
        bool(message.mentions_channel),
        message.created_at,
    )


def entries_add(messages: list[MessageDocument]) -> None:
    """Stored messages (in their seq's transaction): their rows, for the countable ones
    (live TEXT). Idempotent (an upsert on (conversation, seq)). A statement per
    ROWS_PER_STATEMENT rows, each in its own round trip (a rebuild gives a whole
    conversation)."""
    for statement in entries_add_statements(messages):
        execute_together([statement])


def entries_add_statements(messages: list[MessageDocument]) -> list[Statement]:
    """`entries_add` as statements ((sql, params); none if no message counts) for a
    caller that sends them with its other writes (messaging.services.derived).
    Upserts of at most ROWS_PER_STATEMENT rows, one array per column (slackclone.sql.unnest_statements); a
    (conversation, seq) given twice is written once (the last)."""
    rows = {(message.conversation.id, message.seq): _row(message) for message in messages if _countable(message)}
    return unnest_statements(_UPSERT_SQL, _UPSERT_TYPES, list(rows.values()))


def entries_edited(message: MessageDocument) -> None:
    """An edited message (in the edit's transaction): its mentions as they are now."""
    if not _countable(message):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE unread_entries SET mentions = %s::uuid[], mentions_conversation = %s "
            "WHERE conversation_id = %s AND seq = %s",
            [_row(message)[7], bool(message.mentions_channel), UUID(message.conversation.id), message.seq],
        )


def entries_remove(messages: list[MessageDocument]) -> None:
    """Deleted messages (in the delete's transaction): they no longer count."""
    if not messages:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM unread_entries e USING unnest(%s::uuid[], %s::bigint[]) AS d(conversation_id, seq) "
            "WHERE e.conversation_id = d.conversation_id AND e.seq = d.seq",
            [[UUID(m.conversation.id) for m in messages], [m.seq for m in messages]],
        )


def conversation_entries_drop(conversation: Conversation) -> None:
    """A deleted conversation (in the deleting transaction): all its rows."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM unread_entries WHERE conversation_id = %s", [UUID(conversation.id)])


def entries_purged(*, created_before: datetime, kind: ConversationKind, conversation_id=None, workspace_id=None) -> int:
    """Retention removed the messages created before `created_before` (of one kind, and
    of one conversation or workspace when given): their rows go too. Returns how many."""
    sql = "DELETE FROM unread_entries WHERE created_at < %s AND kind = %s"
    params: list = [created_before, kind.value]
    if conversation_id is not None:
        sql += " AND conversation_id = %s"
        params.append(UUID(str(conversation_id)))
    if workspace_id is not None:
        sql += " AND workspace_id = %s"
        params.append(UUID(str(workspace_id)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def conversation_entries_rebuild(conversation: Conversation, messages: list[MessageDocument]) -> int:
    """Replace a conversation's rows by those of `messages` (all its stored messages,
    read under its lock by the caller). Returns the rows written."""
    conversation_entries_drop(conversation)
    entries_add(messages)
    return sum(1 for message in messages if _countable(message))
