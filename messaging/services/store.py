"""Storing messages under their conversation's lock: the seq counter and its row lock,
one send's critical section (`_insert_locked`, `_send`), and the lock every other write
of a message takes. The design is in the package docstring (messaging/services)."""

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from channels_app.selectors import channel_archived_error, channel_check_sender, channel_is_archived
from files.services import file_shares_record, files_lock_for_send
from messaging import repositories_places, selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, dedupe_key_for
from messaging.repositories import DuplicateMessage, repository_for, truncate_ms
from messaging.serializers import message_to_api
from messaging.services import derived
from realtime import broadcast
from slackclone import errors
from slackclone.sql import execute_together

logger = logging.getLogger(__name__)

_NEXT_SEQ_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, 1, %s)
ON CONFLICT (conversation_id) DO UPDATE SET
    last_seq = message_sequences.last_seq + 1,
    last_created_at = GREATEST(message_sequences.last_created_at, EXCLUDED.last_created_at)
RETURNING last_seq, last_created_at
"""

# Lock the row without taking a seq (creating it if this conversation has none yet, so
# that a concurrent first send, whose row is not committed yet, is waited for too).
_LOCK_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, 0, %s)
ON CONFLICT (conversation_id) DO UPDATE SET last_seq = message_sequences.last_seq
"""

_SET_SEQ_SQL = """
UPDATE message_sequences SET last_seq = %s, last_created_at = GREATEST(last_created_at, %s)
WHERE conversation_id = %s
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


def conversation_writes_lock(conversation: Conversation) -> None:
    """Inside the caller's transaction: wait until the sends (and edits, deletes) in
    flight in `conversation` have committed, and hold new ones off until that
    transaction ends. `channel_archive` calls it before marking a channel archived, so
    no send or edit is stored after that commits (a waiting one then sees the archive,
    step 1); `channel_delete` before deleting one; `message_edit` and `message_delete`
    to check their rules and write as one step (issue 12)."""
    if not connection.in_atomic_block:
        raise RuntimeError("conversation_writes_lock() needs the caller's transaction.")
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [UUID(conversation.id), conversation.kind.value, _now_ms()])


_LOCK_EXISTING_SQL = "SELECT 1 FROM message_sequences WHERE conversation_id = %s FOR UPDATE"


def _lock_if_stored(conversation: Conversation) -> None:
    """`conversation_writes_lock` for a write on a message that is already stored (its
    conversation's row then exists, unless the conversation was deleted: no row is
    created for an orphan here)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_EXISTING_SQL, [UUID(conversation.id)])


@contextlib.contextmanager
def message_write_locked(*, user, workspace, message_id: object, channel_id=None, conversation_id=None):
    """A write on one live message by a member (reactions, pins; issue 17): checks the
    access rule (403/404, 409 `channel_archived`), then, in a transaction holding the
    conversation's lock, checks it again and reads the message (404 if it is deleted or
    unknown). Yields (repository, message); the write and its broadcast happen inside."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    message_id = validation.clean_message_id(message_id)
    repo = repository_for(conversation.kind)
    with transaction.atomic():
        _lock_if_stored(conversation)
        # Again under the lock: membership or the archive may have changed meanwhile.
        selectors.conversation_get_for_member(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
        )
        message = repo.get(conversation_id=conversation.id, message_id=message_id)
        if message is None:
            raise errors.NotFound("Message not found.")
        yield repo, message


def _refuse_if_archived(conversation: Conversation, *, sender_id: str | None = None) -> None:
    """Step 1, in a channel: under the lock, the archive cannot be racing us any more;
    nor can the channel's deletion (`channel_delete` deletes the locked row): a channel
    gone meanwhile is 404, and the rollback leaves no counter row and no orphan message.
    With `sender_id` (a TEXT send, issue 16), nor can the sender's removal or leave:
    a sender who is no longer a member is refused here (403, 404 in a private
    channel), so nothing is stored after a removal committed."""
    if conversation.kind is not ConversationKind.CHANNEL:
        return
    if sender_id is not None:
        channel_check_sender(channel_id=conversation.id, user_id=sender_id)
    elif channel_is_archived(channel_id=conversation.id):
        raise channel_archived_error()


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
    files: tuple[dict, ...] = (),
    extra: dict | None = None,
) -> SendResult:
    """Steps 1-3 and 5; runs inside the atomic block that holds the row lock. `files`:
    what the message carries (files.services.files_lock_for_send, rows locked). `extra`:
    more MessageDocument fields (thread and mentions, messaging.threads.send_fields)."""
    repo = repository_for(conversation.kind)
    message_id = repo.new_id()
    dedupe_key = dedupe_key_for(message_id=message_id, client_msg_id=client_msg_id)
    root_id, thread_seq = (extra or {}).get("thread_id"), None
    for attempt in range(2):
        seq, created_at = _next_seq(conversation)
        _refuse_if_archived(conversation, sender_id=sender_id if message_type is MessageType.TEXT else None)
        if root_id is not None and attempt == 0:
            # A reply's place in its thread, under the lock `_next_seq` took, as the
            # grouped send's batch gives it (group_commit._thread_places; session 14):
            # a reply stored without one is never read by its thread's blocks.
            root = repositories_places.thread_seqs_reserve(
                repo, conversation_id=conversation.id, root_id=root_id, count=1
            )
            thread_seq = root.last_thread_seq if root is not None else None
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
            files=files,
            **(extra or {}),
            thread_seq=thread_seq,
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
        if files:
            file_shares_record(message=message)
        derived.messages_sent(conversation, [message])  # index, unread and sidebar rows, in the seq's transaction
        _broadcast_created(message)
        return SendResult(message=message, created=True)
    raise AssertionError("unreachable")


def _original_of_retry(conversation: Conversation, *, client_msg_id: str | None) -> MessageDocument | None:
    """The message stored earlier in `conversation` under this client_msg_id, if any."""
    if client_msg_id is None:
        return None
    return repository_for(conversation.kind).find_by_dedupe_key(
        conversation_id=conversation.id, dedupe_key=dedupe_key_for(message_id="", client_msg_id=client_msg_id)
    )


def _send(*, attach: dict | None = None, **fields) -> SendResult:
    """Steps 1-5 (the fields are `_insert_locked`'s) in one transaction. If MongoDB
    fails, the transaction still commits (step 4) and then the failure is raised.
    `attach` (user, workspace, file_ids): the files are locked and checked first, in
    the same transaction (files.services.files_lock_for_send)."""
    with transaction.atomic():
        if attach:
            try:
                fields["files"] = files_lock_for_send(**attach)
            except errors.ValidationFailed:
                original = _original_of_retry(fields["conversation"], client_msg_id=fields["client_msg_id"])
                if original is None:
                    raise
                # A retry whose files were deleted since the original was stored: the
                # contract's "answers 200 with the original message", not 400.
                return SendResult(message=original, created=False)
        try:
            return _insert_locked(**fields)
        except errors.StoreUnavailable as exc:
            failure = exc  # step 4: commit the increment, then report the failure
    raise failure


_RESERVE_SEQ_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (conversation_id) DO UPDATE SET
    last_seq = message_sequences.last_seq + EXCLUDED.last_seq,
    last_created_at = GREATEST(message_sequences.last_created_at, EXCLUDED.last_created_at)
RETURNING last_seq, last_created_at
"""


def _reserve_seq_range(conversation: Conversation, *, count: int, earliest: datetime) -> tuple[int, datetime]:
    """Take `count` consecutive seqs with the one-statement upsert of `_next_seq`, which
    locks the conversation's row until commit. Returns (first seq, the createdAt floor:
    no imported message may be older than this)."""
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SEQ_SQL, [UUID(conversation.id), conversation.kind.value, count, earliest])
        last_seq, floor = cursor.fetchone()
    return last_seq - count + 1, truncate_ms(floor.astimezone(UTC))


def _reserve_seq_range_and(
    conversation: Conversation, *, count: int, earliest: datetime, statement: tuple[str, list]
) -> tuple[int, datetime, tuple | None]:
    """`_reserve_seq_range` and one more statement, `statement` = (sql, params), sent in
    the same round trip after it (`slackclone.sql.execute_together`). Returns (first
    seq, the createdAt floor, the first row of `statement` or None). Each statement of
    the round trip takes its own snapshot when it starts, so the second sees every
    transaction that committed before the first was granted the row lock (a member's
    removal takes that lock: `conversation_writes_lock`)."""
    reserve = (_RESERVE_SEQ_SQL, [UUID(conversation.id), conversation.kind.value, count, earliest])
    (last_seq, floor), row = execute_together([reserve, statement])
    return last_seq - count + 1, truncate_ms(floor.astimezone(UTC)), row
