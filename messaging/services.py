"""Writes of messages: send, SYSTEM post, edit, delete.

How `seq` is assigned
=====================

Every message has a per-conversation integer `seq`. The contract promises that seq
strictly increases in conversation order, that `created_at` never decreases with it,
that a gap only stands for a message never stored (or deleted), and that a client
paging forward with `after_cursor` sees every message exactly once even while others
send. `message_send` keeps those promises with one critical section per
conversation, serialised across ALL server processes by a PostgreSQL row lock on the
conversation's `message_sequences` row:

1. Inside `transaction.atomic()`, ONE SQL statement upserts and locks the row:
   `INSERT ... ON CONFLICT (conversation_id) DO UPDATE SET last_seq = last_seq + 1,
   last_created_at = GREATEST(last_created_at, EXCLUDED.last_created_at) RETURNING
   last_seq, last_created_at`, where the value offered is this process's `now`
   truncated to milliseconds (what MongoDB stores). The row lock is held until
   commit, so seq strictly increases and createdAt never goes back with seq, even
   when the clocks of two server processes disagree.
2. Still holding the lock, the document is inserted into MongoDB. Because insert N is
   acknowledged before N+1 can be assigned, a reader paging forward by seq can never
   see N+1 and later discover N: that is what makes the `after_cursor` promise hold
   with concurrent senders in several processes.
3. On a duplicate-key error: if a message with the same dedupeKey exists, this was an
   idempotent retry (a concurrent duplicate of the same client_msg_id), so the
   counter increment is rolled back and the original is returned (created=False).
   Otherwise seq collided because the counter is behind MongoDB (e.g. PostgreSQL was
   restored from a backup, or a commit was lost after an insert): the counter is
   raised to MongoDB's max seq (and createdAt) for that conversation and the insert
   retried once.
4. If MongoDB fails (StoreUnavailable), the counter increment is still committed and
   the error re-raised (503): the seq is never reused, and its gap stands for a
   message that was never stored, which the contract allows. Nothing is broadcast.
5. After MongoDB acknowledged the insert, and still inside the critical section,
   `realtime.broadcast.message_created` is called. Broadcasting under the lock is what
   gives every socket one conversation's `message.created` events in seq order across
   processes; the broadcast functions never raise and have a bounded timeout, so the
   lock is not held hostage. Idempotent retries do not broadcast again.

Cost: per conversation, sends are serialised at roughly one PostgreSQL upsert, one
MongoDB insert, one broadcast and one commit; different conversations run in parallel
(their rows do not contend). A retry with a known client_msg_id is answered before the
critical section, by one indexed MongoDB lookup.

Known edge: an insert whose acknowledgement is lost (a timeout after MongoDB stored
it) answers 503, yet the message exists, with the seq that was committed for it; a
client that retries with the same client_msg_id gets it back (200). Clients should
always send a client_msg_id.

SYSTEM messages (`system_message_post`, e.g. "alice joined") take the same path. It
is called inside the channel service's own transaction, where the atomic block below
becomes a savepoint: the row lock is then held until that outer transaction commits,
and a rollback there also rolls back the counter (the next send then resyncs, step 3).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, dedupe_key_for
from messaging.repositories import DuplicateMessage, repository_for, truncate_ms
from messaging.serializers import message_to_api
from realtime import broadcast
from slackclone import errors

logger = logging.getLogger(__name__)

_NEXT_SEQ_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, 1, %s)
ON CONFLICT (conversation_id) DO UPDATE SET
    last_seq = message_sequences.last_seq + 1,
    last_created_at = GREATEST(message_sequences.last_created_at, EXCLUDED.last_created_at)
RETURNING last_seq, last_created_at
"""

_RESYNC_SQL = """
UPDATE message_sequences
SET last_seq = GREATEST(last_seq, %s), last_created_at = GREATEST(last_created_at, %s)
WHERE conversation_id = %s
"""


@dataclass(frozen=True, slots=True)
class SendResult:
    message: MessageDocument
    created: bool  # False: an earlier message with the same client_msg_id was returned


def _now_ms() -> datetime:
    return truncate_ms(timezone.now().astimezone(UTC))


def _next_seq(conversation: Conversation) -> tuple[int, datetime]:
    """Step 1: take the next seq and createdAt, locking the conversation's row."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ_SQL, [UUID(conversation.id), conversation.kind.value, _now_ms()])
        seq, created_at = cursor.fetchone()
    return seq, truncate_ms(created_at.astimezone(UTC))


def _resync_seq(conversation: Conversation, *, max_seq: int, max_created_at: datetime | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_RESYNC_SQL, [max_seq, max_created_at, UUID(conversation.id)])


def _broadcast_created(message: MessageDocument) -> None:
    try:
        broadcast.message_created(message=message_to_api(message))
    except Exception:  # broadcast never raises by contract; a stored message must not fail on it
        logger.exception("message_created broadcast failed for %s", message.id)


def _insert_locked(
    *,
    conversation: Conversation,
    sender_id: str | None,
    content: str,
    message_type: MessageType,
    client_msg_id: str | None,
) -> SendResult:
    """Steps 1-3 and 5; runs inside the atomic block that holds the row lock."""
    repo = repository_for(conversation.kind)
    message_id = repo.new_id()
    dedupe_key = dedupe_key_for(message_id=message_id, client_msg_id=client_msg_id)
    for attempt in range(2):
        seq, created_at = _next_seq(conversation)
        message = MessageDocument(
            id=message_id,
            conversation=conversation,
            seq=seq,
            sender_id=sender_id,
            content=content,
            type=message_type,
            created_at=created_at,
            edited_at=None,
            client_msg_id=client_msg_id,
            dedupe_key=dedupe_key,
        )
        try:
            repo.insert(message)
        except DuplicateMessage:
            existing = repo.find_by_dedupe_key(conversation_id=conversation.id, dedupe_key=dedupe_key)
            if existing is not None:
                # A concurrent duplicate won: do not consume a seq for nothing.
                transaction.set_rollback(True)
                return SendResult(message=existing, created=False)
            if attempt:
                raise
            max_seq, max_created_at = repo.high_water_mark(conversation_id=conversation.id)
            logger.warning(
                "seq counter of %s %s was behind MongoDB (gave %d, max stored %d): resynced",
                conversation.kind,
                conversation.id,
                seq,
                max_seq,
            )
            _resync_seq(conversation, max_seq=max_seq, max_created_at=max_created_at)
            continue
        _broadcast_created(message)
        return SendResult(message=message, created=True)
    raise AssertionError("unreachable")


def _send(
    *,
    conversation: Conversation,
    sender_id: str | None,
    content: str,
    message_type: MessageType,
    client_msg_id: str | None,
) -> SendResult:
    repo = repository_for(conversation.kind)
    if client_msg_id is not None:
        # The common retry (the first attempt completed) is answered without the lock.
        dedupe_key = dedupe_key_for(message_id="", client_msg_id=client_msg_id)  # "c:<client_msg_id>"
        existing = repo.find_by_dedupe_key(conversation_id=conversation.id, dedupe_key=dedupe_key)
        if existing is not None:
            return SendResult(message=existing, created=False)

    failure: errors.StoreUnavailable | None = None
    result: SendResult | None = None
    with transaction.atomic():
        try:
            result = _insert_locked(
                conversation=conversation,
                sender_id=sender_id,
                content=content,
                message_type=message_type,
                client_msg_id=client_msg_id,
            )
        except errors.StoreUnavailable as exc:
            failure = exc  # step 4: commit the increment, then report the failure
    if failure is not None:
        raise failure
    assert result is not None
    return result


def _check_retry_sender(result: SendResult, *, sender_id: str) -> SendResult:
    if not result.created and result.message.sender_id != sender_id:
        raise errors.Conflict(
            "This client_msg_id was already used by another sender in this conversation.",
            code="client_msg_id_conflict",
        )
    return result


def message_send(
    *,
    sender,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    content: object,
    client_msg_id: object = None,
) -> SendResult:
    """Post a TEXT message as `sender` in a channel (members only: 404 unknown, 403
    not a member) or a DM (its two users only, else 404).

    `content` and `client_msg_id` may be raw client values: they are validated here
    (400). A retry with a client_msg_id already stored in this conversation returns
    the original message with created=False and stores nothing; if that original has
    another sender, 409 `client_msg_id_conflict`.
    """
    conversation = selectors.conversation_get_for_member(
        user=sender, channel_id=channel_id, conversation_id=conversation_id
    )
    content = validation.clean_content(content)
    client_msg_id = validation.clean_client_msg_id(client_msg_id)
    sender_id = str(sender.pk)
    result = _send(
        conversation=conversation,
        sender_id=sender_id,
        content=content,
        message_type=MessageType.TEXT,
        client_msg_id=client_msg_id,
    )
    return _check_retry_sender(result, sender_id=sender_id)


def system_message_post(*, channel_id: UUID | str, content: str, actor_id: UUID | str | None = None) -> MessageDocument:
    """Store a SYSTEM message in a channel (e.g. "alice joined") and broadcast it.

    `senderId` is the acting user's id when given (who joined, who left), else null.
    No membership check: the caller is a service that already decided.
    """
    conversation = Conversation(
        ConversationKind.CHANNEL,
        validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found."),
    )
    sender_id = str(UUID(str(actor_id))) if actor_id is not None else None
    result = _send(
        conversation=conversation,
        sender_id=sender_id,
        content=validation.clean_content(content),
        message_type=MessageType.SYSTEM,
        client_msg_id=None,
    )
    return result.message


def _load_for_change(*, user, message_id: object, channel_id, conversation_id) -> tuple[Conversation, MessageDocument]:
    conversation = selectors.conversation_get_for_member(
        user=user, channel_id=channel_id, conversation_id=conversation_id
    )
    message_id = validation.clean_message_id(message_id)
    message = repository_for(conversation.kind).get(conversation_id=conversation.id, message_id=message_id)
    if message is None:
        raise errors.NotFound("Message not found.")
    return conversation, message


def _system_immutable() -> errors.PermissionDenied:
    return errors.PermissionDenied("SYSTEM messages cannot be changed.", code="system_message_immutable")


def message_edit(
    *,
    user,
    message_id: str,
    content: object,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """Replace a message's content and set `edited_at`: its author only (403 `not_author`);
    SYSTEM messages never (403 `system_message_immutable`); deleted or unknown -> 404."""
    conversation, message = _load_for_change(
        user=user, message_id=message_id, channel_id=channel_id, conversation_id=conversation_id
    )
    content = validation.clean_content(content)
    if message.type is MessageType.SYSTEM:
        raise _system_immutable()
    if message.sender_id != str(user.pk):
        raise errors.PermissionDenied("Only the author can edit a message.", code="not_author")
    # Never before createdAt, even if this process's clock is behind the sender's.
    edited_at = max(_now_ms(), message.created_at)
    updated = repository_for(conversation.kind).edit(
        conversation_id=conversation.id, message_id=message.id, content=content, edited_at=edited_at
    )
    if updated is None:  # deleted meanwhile
        raise errors.NotFound("Message not found.")
    try:
        broadcast.message_updated(message=message_to_api(updated))
    except Exception:
        logger.exception("message_updated broadcast failed for %s", updated.id)
    return updated


def message_delete(
    *,
    user,
    message_id: str,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> None:
    """Soft-delete a message (hidden from history): its author or staff, else 403
    `not_author`. A SYSTEM message only by staff. Deleted or unknown -> 404."""
    conversation, message = _load_for_change(
        user=user, message_id=message_id, channel_id=channel_id, conversation_id=conversation_id
    )
    is_staff = bool(getattr(user, "is_staff", False))
    if message.type is MessageType.SYSTEM and not is_staff:
        raise _system_immutable()
    if message.sender_id != str(user.pk) and not is_staff:
        raise errors.PermissionDenied("Only the author or staff can delete a message.", code="not_author")
    deleted = repository_for(conversation.kind).soft_delete(
        conversation_id=conversation.id, message_id=message.id, deleted_by=str(user.pk), deleted_at=_now_ms()
    )
    if deleted is None:  # deleted meanwhile
        raise errors.NotFound("Message not found.")
    try:
        broadcast.message_deleted(message_id=message.id, **{conversation.api_field: conversation.id})
    except Exception:
        logger.exception("message_deleted broadcast failed for %s", message.id)
