"""The sidebar's "latest message" of a conversation (issue 16), kept on the
conversation's `message_sequences` row in PostgreSQL.

`GET /conversations` orders a user's conversations by latest activity in one query
(conversations.selectors): that needs the newest message's seq, time, sender and
preview in PostgreSQL beside the conversation, not in MongoDB. They live on the row
that already serialises the conversation's writes (messaging.services), so keeping
them costs one UPDATE of a row the send has locked anyway, in the send's own
transaction: the latest message never names a message that was not stored (a send
whose MongoDB insert failed does not get here) nor lags behind a committed send.

What the preview follows (the choice, see docs/conversations.md):
- a send sets it (a SYSTEM message too: it is activity, e.g. "alice joined"); a thread
  reply only when it is also sent to the conversation (issue 17): the others are the
  thread's activity, not the conversation's;
- an edit of the latest message refreshes its preview (its time stays the send's);
- a delete of the latest message moves it back to the newest visible message (one
  indexed MongoDB read, under the same lock), or to null when none is left.
Every call runs inside the caller's transaction, under the conversation's lock.
"""

import logging
from uuid import UUID

import regex
from django.db import connection

from messaging.documents import Conversation, MessageDocument
from messaging.repositories import repository_for
from slackclone.sql import Statement, execute_together

logger = logging.getLogger(__name__)

PREVIEW_LENGTH = 120

_SET_SQL = """
UPDATE message_sequences
SET latest_seq = %s, latest_created_at = %s, latest_sender_id = %s, latest_preview = %s
WHERE conversation_id = %s AND (latest_seq IS NULL OR latest_seq <= %s)
"""

_EDIT_SQL = "UPDATE message_sequences SET latest_preview = %s WHERE conversation_id = %s AND latest_seq = %s"


def preview_of(content: str) -> str:
    """The first 120 characters (Unicode code points, the contract's "The sidebar") of a
    message's content, without cutting a grapheme cluster (an emoji ZWJ sequence, a
    flag, a letter and its combining marks): a cluster that would cross the 120th code
    point is left out whole, so the preview may be a few code points shorter."""
    if len(content) <= PREVIEW_LENGTH:
        return content
    end = 0
    for cluster in _GRAPHEME.finditer(content):
        if cluster.end() > PREVIEW_LENGTH:
            break
        end = cluster.end()
    return content[:end]


_GRAPHEME = regex.compile(r"\X")


_CLEAR_SQL = """
UPDATE message_sequences
SET latest_seq = NULL, latest_created_at = NULL, latest_sender_id = NULL, latest_preview = NULL
WHERE conversation_id = %s
"""


def _set(conversation: Conversation, message: MessageDocument, *, floor: int | None) -> None:
    execute_together([_set_statement(conversation, message, floor=floor)])


def _set_statement(conversation: Conversation, message: MessageDocument, *, floor: int | None) -> Statement:
    return (
        _SET_SQL,
        [
            message.seq,
            message.created_at,
            UUID(message.sender_id) if message.sender_id else None,
            preview_of(message.content),
            UUID(conversation.id),
            floor if floor is not None else message.seq,
        ],
    )


def in_conversation_view(message: MessageDocument) -> bool:
    """Whether a message shows in its conversation's history: a root, or a reply also
    sent to the conversation (`alsoInChannel`, issue 17)."""
    return message.thread_id is None or message.also_in_channel


def latest_set(conversation: Conversation, messages: list[MessageDocument]) -> None:
    """Messages were stored (one send, or a group commit's batch in seq order): the
    newest one shown in the conversation becomes the latest (seq only grows under the
    lock). Replies kept in their thread change nothing."""
    execute_together(latest_set_statements(conversation, messages))


def latest_set_statements(conversation: Conversation, messages: list[MessageDocument]) -> list[Statement]:
    """`latest_set` as statements ((sql, params), none if nothing changes) for a caller
    that sends them with its other writes (messaging.services.derived)."""
    shown = [message for message in messages if in_conversation_view(message)]
    return [_set_statement(conversation, shown[-1], floor=None)] if shown else []


def latest_edited(conversation: Conversation, message: MessageDocument) -> None:
    """An edited message: if it is the latest, its preview follows."""
    with connection.cursor() as cursor:
        cursor.execute(_EDIT_SQL, [preview_of(message.content), UUID(conversation.id), message.seq])


def latest_deleted(conversation: Conversation, message: MessageDocument) -> None:
    """A deleted message: if it was the latest, the newest visible one replaces it.
    Never raises: a failure leaves a stale preview (logged), not a failed delete."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT latest_seq FROM message_sequences WHERE conversation_id = %s", [UUID(conversation.id)]
            )
            row = cursor.fetchone()
        if row is None or row[0] != message.seq:
            return
        newest = repository_for(conversation.kind).newest_page(
            conversation_id=conversation.id, limit=1, roots_only=True, deletedAt=None
        )
        with connection.cursor() as cursor:
            cursor.execute(_CLEAR_SQL, [UUID(conversation.id)])
        if newest:
            _set(conversation, newest[0], floor=newest[0].seq)
    except Exception:
        logger.exception("latest message of %s %s not moved back after a delete", conversation.kind, conversation.id)
