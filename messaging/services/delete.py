"""Deleting messages: by their author or staff, by moderation, and taking a deleted file
off the messages that carried it."""

import logging
from uuid import UUID

from django.db import transaction

from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from messaging.latest import latest_deleted
from messaging.repositories import repository_for
from messaging.serializers import message_to_api
from messaging.services import derived
from messaging.services.edit import _message_get, _system_immutable
from messaging.services.store import _lock_if_stored, _now_ms, conversation_writes_lock
from moderation.models import AuditLogEntry
from moderation.services import AuditRecord, audit_entries_create
from realtime import broadcast
from slackclone import errors

logger = logging.getLogger(__name__)


def message_delete(
    *,
    user,
    workspace=None,
    message_id: str,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> None:
    """Soft-delete a message (hidden from history): its author (a member) or staff, else
    403 `not_author` / `not_a_member`. A SYSTEM message only by staff. Deleted or unknown
    -> 404. Still possible in an archived channel. Staff deleting someone else's message
    is a moderation act: it is audited like a deletion from the admin.

    Atomic with its preconditions (issue 12): checked once to fail fast, then again
    under the conversation's lock (see `message_edit`), where the soft delete is a
    conditional update (`deletedAt: null` in the filter) whose matched document decides.
    Of concurrent deletes of one message exactly one succeeds (and is audited and
    broadcast once); the others raise NotFound (404)."""
    conversation = selectors.conversation_get_for_deleter(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    message = _message_get(message_id=message_id, conversation=conversation)
    is_staff = bool(getattr(user, "is_staff", False))
    if message.type is MessageType.SYSTEM and not is_staff:
        raise _system_immutable()
    if message.sender_id != str(user.pk) and not is_staff:
        raise errors.PermissionDenied("Only the author or staff can delete a message.", code="not_author")
    with transaction.atomic():
        conversation_writes_lock(conversation)
        selectors.conversation_get_for_deleter(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
        )
        deleted = repository_for(conversation.kind).soft_delete(
            conversation_id=conversation.id,
            message_id=message.id,
            deleted_by=str(user.pk),
            deleted_at=max(_now_ms(), message.created_at),
        )
        if deleted is not None:
            _deleted_locked(deleted)
    if deleted is None:  # deleted meanwhile
        raise errors.NotFound("Message not found.")
    _after_deletes([deleted], by=user, audit=deleted.sender_id != str(user.pk))


def _deleted_locked(deleted: MessageDocument) -> None:
    """Inside the deleting transaction, under the conversation's lock, once `deleted` was
    soft-deleted: a reply lowers its root's counters (issue 17), the derived rows go,
    and it is announced (`message.deleted`, or `message.updated` with the tombstone of
    a root with replies), then its root's `thread.updated` (and the root's
    `message.deleted` if it was a tombstone that lost its last reply). Announced under
    the lock, as a send announces its reply's counts: announced after it, a concurrent
    reply's `thread.updated` (or the tombstone's disappearance) could reach a socket
    before this older state, which the socket would then keep."""
    from messaging import threads

    root = threads.reply_removed_locked(reply=deleted)
    derived.messages_deleted([deleted])
    latest_deleted(deleted.conversation, deleted)
    _announce_deleted(deleted)
    threads.after_reply_removed(root=root)


def _deletion_record(message: MessageDocument) -> AuditRecord:
    return AuditRecord(
        action=AuditLogEntry.Action.MESSAGE_DELETE,
        target_type=AuditLogEntry.TargetType.MESSAGE,
        target_id=message.id,
        detail={
            message.conversation.api_field: message.conversation.id,
            "seq": message.seq,
            "sender_id": message.sender_id,
            "type": message.type.value,
            "created_at": message_to_api(message)["created_at"],
            "content": message.content[:AUDIT_CONTENT_EXCERPT],
        },
    )


def _after_deletes(deleted: list[MessageDocument], *, by, audit: bool) -> None:
    """Once the soft deletes were made and announced (`_deleted_locked`, under the lock):
    audit them (one INSERT)."""
    if audit and deleted:
        audit_entries_create(actor=by, records=[_deletion_record(message) for message in deleted])


def _announce_deleted(message: MessageDocument) -> None:
    """Announce one soft delete as any deletion is announced (message.deleted); a root
    with replies stays as a tombstone (issue 17): message.updated with it. Never raises."""
    try:
        if message.reply_count > 0:
            broadcast.message_updated(message=message_to_api(message))
            return
        broadcast.message_deleted(message_id=message.id, **{message.conversation.api_field: message.conversation.id})
    except Exception:
        logger.exception("message_deleted broadcast failed for %s", message.id)


def message_files_remove(*, file_id: str, shares) -> list[MessageDocument]:
    """A file was deleted (files.services.file_delete): take it off every message that
    carried it (`shares`: its FileShare rows, already deleted), each under its
    conversation's lock as every write of a message, and announce each live one with
    message.updated. Returns the live messages updated."""
    updated: list[MessageDocument] = []
    for share in shares:
        conversation = Conversation(ConversationKind(share.kind), str(share.conversation_id))
        with transaction.atomic():
            _lock_if_stored(conversation)
            message = repository_for(conversation.kind).files_remove(
                conversation_id=conversation.id, message_id=share.message_id, file_id=file_id
            )
            if message is not None:
                derived.message_files_removed(message)  # in the same transaction, as every write
        if message is not None:
            updated.append(message)
            try:
                broadcast.message_updated(message=message_to_api(message))
            except Exception:
                logger.exception("message_updated broadcast failed for %s", message.id)
    return updated


# --- Moderation and operations ----------------------------------------------------

AUDIT_CONTENT_EXCERPT = 200
MODERATION_MAX_MESSAGES = 500


def message_moderate_delete(*, kind: ConversationKind, message_ids: list[str], by) -> list[MessageDocument]:
    """Delete messages from the admin (staff only, else 403): the same soft delete as
    `message_delete`, of any message of any conversation of `kind`, SYSTEM ones
    included, each under its conversation's lock with a conditional update (so a
    message deleted concurrently through the API is skipped, not deleted twice). Each
    message that was still live is hidden from history, recorded in the audit log
    (after MongoDB acknowledged it) and announced with message.deleted, as any
    deletion is. Returns those messages; ids already deleted or unknown are skipped.

    If MongoDB fails part-way, the deletions already made are still audited and
    announced before the error (StoreUnavailable) is raised.
    """
    if not getattr(by, "is_staff", False):
        raise errors.PermissionDenied("Only staff can moderate messages.", code="staff_only")
    ids = list(dict.fromkeys(validation.clean_message_id(mid) for mid in message_ids))
    if len(ids) > MODERATION_MAX_MESSAGES:
        raise errors.ValidationFailed(f"At most {MODERATION_MAX_MESSAGES} messages at a time.")
    repo = repository_for(kind)
    deleted: list[MessageDocument] = []
    try:
        for message in repo.get_many(message_ids=ids):
            if message.is_deleted:
                continue
            # Under the conversation's lock, as every write of a message (see message_edit).
            with transaction.atomic():
                _lock_if_stored(message.conversation)
                done = repo.soft_delete(
                    conversation_id=message.conversation.id,
                    message_id=message.id,
                    deleted_by=str(by.pk),
                    deleted_at=max(_now_ms(), message.created_at),
                )
                if done is not None:  # else deleted meanwhile by someone else
                    _deleted_locked(done)
            if done is not None:
                deleted.append(done)
    finally:
        _after_deletes(deleted, by=by, audit=True)
    return deleted
