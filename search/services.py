"""Writes of the search index. messaging's services call these inside the PostgreSQL
transaction that stores the change, after MongoDB acknowledged it:

- `messages_indexed` in the send path's transaction (the one holding the seq), for a
  batch of stored messages (a send, a group commit, an import), for an edit, and for
  the changes of a document's flags: a pin or unpin (`has:pin`, messaging.pins) and a
  root's counters after a reply is counted or removed (`is:thread`, messaging.threads);
- `messages_unindexed` with a soft delete (user or moderation);
- `conversation_unindexed` in the transaction deleting a channel or DM;
- `messages_purged` after retention purged MongoDB.

So an acknowledged message is searchable at once, a failed send leaves nothing (the
transaction rolls back), and an edit or delete is seen by search when it commits.
`reindex_conversation` rebuilds one conversation from MongoDB (manage.py
search_reindex, check_consistency --fix).
"""

from datetime import datetime

from django.db import connection, transaction

from messaging.documents import Conversation, ConversationKind, MessageDocument
from search.backends import get_backend


def messages_indexed(messages: list[MessageDocument]) -> None:
    """Add (or replace, for an edit) the entries of these stored messages."""
    get_backend().index_messages(list(messages))


def messages_index_statements(messages: list[MessageDocument]) -> list | None:
    """`messages_indexed` as PostgreSQL statements for the caller's round trip
    (messaging.services.derived), or None if the backend is not in PostgreSQL (it
    says so, or it has no `index_statements`: a backend written before it existed)."""
    index_statements = getattr(get_backend(), "index_statements", None)
    return None if index_statements is None else index_statements(list(messages))


def messages_unindexed(messages: list[MessageDocument]) -> None:
    """These messages were soft-deleted: never found again by users (moderation still
    finds them with its `deleted` filter)."""
    get_backend().mark_deleted(list(messages))


def conversation_unindexed(conversation: Conversation) -> int:
    return get_backend().delete_conversation(conversation)


def messages_purged(
    *, created_before: datetime, kind: ConversationKind, conversation_id=None, workspace_id=None
) -> int:
    return get_backend().delete_older_than(
        created_before=created_before, kind=kind, conversation_id=conversation_id, workspace_id=workspace_id
    )


REINDEX_BATCH = 1000

_LOCK_SQL = "SELECT 1 FROM message_sequences WHERE conversation_id = %s FOR UPDATE"
_PRUNE_SQL = """
DELETE FROM search_entries
WHERE conversation_id = %s AND message_id > %s AND message_id <= %s AND NOT (message_id = ANY(%s))
"""
_PRUNE_TAIL_SQL = "DELETE FROM search_entries WHERE conversation_id = %s AND message_id > %s"
_PROGRESS_SQL = """
INSERT INTO search_reindex_progress (conversation_id, kind, last_message_id, done, updated_at)
VALUES (%s, %s, %s, %s, now())
ON CONFLICT (conversation_id) DO UPDATE SET
    last_message_id = EXCLUDED.last_message_id, done = EXCLUDED.done, updated_at = now()
"""


def reindex_progress_reset(conversations: list[Conversation] | None = None) -> None:
    """Forget the progress of a previous run (all of it, or these conversations')."""
    with connection.cursor() as cursor:
        if conversations is None:
            cursor.execute("DELETE FROM search_reindex_progress")
        else:
            cursor.execute(
                "DELETE FROM search_reindex_progress WHERE conversation_id = ANY(%s::uuid[])",
                [[c.id for c in conversations]],
            )


def reindex_done_ids() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conversation_id FROM search_reindex_progress WHERE done")
        return {str(row[0]) for row in cursor.fetchall()}


def _resume_point(conversation: Conversation) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_message_id, done FROM search_reindex_progress WHERE conversation_id = %s", [conversation.id]
        )
        row = cursor.fetchone()
    return (row[0] or "") if row and not row[1] else ""


def reindex_conversation(conversation: Conversation, *, progress=None, batch_size: int = REINDEX_BATCH) -> int:
    """Rebuild the entries of one conversation from MongoDB (every stored message,
    deleted ones marked), resuming after the last batch a previous run committed.
    Beside live traffic: each batch is read from MongoDB and written under the
    conversation's lock (the one every send, edit and delete takes), so it never writes
    an older state of a message over a newer one. Entries of messages no longer in
    MongoDB are removed. `progress(n)` after each batch. Returns messages indexed."""
    from messaging.repositories import repository_for

    repo = repository_for(conversation.kind)
    after = _resume_point(conversation)
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_LOCK_SQL, [conversation.id])
            batch = repo.page_by_id(conversation_id=conversation.id, after_id=after or None, limit=batch_size)
            messages = [
                m if m.conversation.workspace_id else _with_workspace(m, conversation.workspace_id) for m in batch
            ]
            get_backend().index_messages(messages)
            last = messages[-1].id if messages else after
            done = len(messages) < batch_size
            with connection.cursor() as cursor:
                cursor.execute(_PRUNE_SQL, [conversation.id, after, last, [m.id for m in messages]])
                if done:
                    cursor.execute(_PRUNE_TAIL_SQL, [conversation.id, last])
                cursor.execute(_PROGRESS_SQL, [conversation.id, conversation.kind.value, last, done])
        total += len(messages)
        after = last
        if progress is not None:
            progress(len(messages))
        if done:
            return total


def _with_workspace(message: MessageDocument, workspace_id: str | None) -> MessageDocument:
    from dataclasses import replace

    return replace(message, conversation=Conversation(message.conversation.kind, message.conversation.id, workspace_id))


def index_drift_fix(conversations: list[Conversation]) -> int:
    """Rebuild these conversations' entries from MongoDB (check_consistency --fix); the
    entries of a conversation that exists in neither store any more are dropped.
    Returns the messages indexed."""
    from messaging.selectors import conversation_ids_existing

    indexed = 0
    for conversation in conversations:
        if not conversation_ids_existing(kind=conversation.kind, conversation_ids=[conversation.id]):
            # Deleted in PostgreSQL: its messages are orphans (check 1 removes them).
            with transaction.atomic():
                conversation_unindexed(conversation)
            continue
        workspace_id = _workspace_of(conversation)
        conversation = Conversation(conversation.kind, conversation.id, workspace_id)
        reindex_progress_reset([conversation])
        indexed += reindex_conversation(conversation)
        reindex_progress_reset([conversation])
    return indexed


def _workspace_of(conversation: Conversation) -> str | None:
    from channels_app.models import Channel
    from dms.selectors import dm_workspace_ids

    if conversation.kind is ConversationKind.DM:  # a DM or a group DM
        return dm_workspace_ids(conversation_ids=[conversation.id]).get(conversation.id)
    found = Channel.objects.filter(pk=conversation.id).values_list("workspace_id", flat=True).first()
    return str(found) if found is not None else None
