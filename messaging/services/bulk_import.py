"""Bulk import of messages (manage.py seed_demo, benchmarks): one seq reservation and one
insert_many per batch."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection, transaction

from messaging.documents import Conversation, MessageDocument, MessageType, dedupe_key_for
from messaging.repositories import DuplicateMessage, repository_for, truncate_ms
from messaging.services import derived
from messaging.services.store import _now_ms, _reserve_seq_range, _resync_seq
from slackclone import errors

logger = logging.getLogger(__name__)

_RAISE_CREATED_AT_SQL = """
UPDATE message_sequences SET last_created_at = GREATEST(last_created_at, %s) WHERE conversation_id = %s
"""


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to import. `created_at` is a wish: the import never lets createdAt go
    back with seq, nor lie in the future (see messages_import)."""

    sender_id: str | None
    content: str
    type: MessageType = MessageType.TEXT
    created_at: datetime | None = None


def _import_locked(conversation: Conversation, drafts: list[MessageDraft]) -> list[MessageDocument]:
    repo = repository_for(conversation.kind)
    now = _now_ms()
    wished = [min(truncate_ms(d.created_at.astimezone(UTC)), now) if d.created_at else now for d in drafts]
    for attempt in range(2):
        first_seq, floor = _reserve_seq_range(conversation, count=len(drafts), earliest=min(wished))
        messages, previous = [], floor
        for offset, (draft, created_at) in enumerate(zip(drafts, wished, strict=True)):
            previous = max(previous, created_at)  # never back with seq, never before the floor
            message_id = repo.new_id()
            messages.append(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=first_seq + offset,
                    sender_id=draft.sender_id,
                    content=draft.content,
                    type=draft.type,
                    created_at=previous,
                    edited_at=None,
                    client_msg_id=None,
                    dedupe_key=dedupe_key_for(message_id=message_id, client_msg_id=None),
                )
            )
        with connection.cursor() as cursor:
            cursor.execute(_RAISE_CREATED_AT_SQL, [previous, UUID(conversation.id)])
        try:
            repo.insert_many(messages)
        except DuplicateMessage:
            # The counter is behind MongoDB (see step 3 of the module docstring): undo
            # what this batch stored, raise the counter, and try once more.
            repo.delete_ids(message_ids=[message.id for message in messages])
            if attempt:
                raise
            max_seq, max_created_at = repo.high_water_mark(conversation_id=conversation.id)
            logger.warning("seq counter of %s %s was behind MongoDB: resynced", conversation.kind, conversation.id)
            _resync_seq(conversation, max_seq=max_seq, max_created_at=max_created_at)
            continue
        derived.messages_stored(messages)
        return messages
    raise AssertionError("unreachable")


def messages_import(*, conversation: Conversation, drafts: list[MessageDraft]) -> list[MessageDocument]:
    """Store a batch of messages in one conversation with ONE seq reservation and ONE
    insert_many (seeding; thousands per call). Nothing is broadcast, nothing validated:
    the caller is trusted code that builds valid content.

    The same critical section as `message_send`, once per batch: the conversation's
    `message_sequences` row is locked by an upsert that takes `len(drafts)` seqs at
    once, the batch is inserted while the lock is held, and only then committed, so
    live sends in the same conversation (which wait for the lock) stay in order and a
    reader paging forward never skips a message. createdAt is each draft's wish
    (default now), capped at now and raised so that it never goes back with seq nor
    below the counter's last createdAt. If MongoDB fails, the reserved seqs are
    committed as a gap (never reused) and the error is raised, as in step 4.
    """
    if not drafts:
        return []
    failure: errors.StoreUnavailable | None = None
    messages: list[MessageDocument] = []
    with transaction.atomic():
        try:
            messages = _import_locked(conversation, list(drafts))
        except errors.StoreUnavailable as exc:
            failure = exc
    if failure is not None:
        raise failure
    return messages
