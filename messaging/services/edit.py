"""Editing a message."""

import logging
from uuid import UUID

from django.db import transaction

from messaging import selectors, validation
from messaging.documents import Conversation, MessageDocument, MessageType
from messaging.latest import latest_edited
from messaging.repositories import repository_for
from messaging.serializers import message_to_api
from messaging.services import derived
from messaging.services.store import _now_ms, conversation_writes_lock
from realtime import broadcast
from slackclone import errors

logger = logging.getLogger(__name__)


def _message_get(*, message_id: object, conversation: Conversation) -> MessageDocument:
    message_id = validation.clean_message_id(message_id)
    message = repository_for(conversation.kind).get(conversation_id=conversation.id, message_id=message_id)
    if message is None:
        raise errors.NotFound("Message not found.")
    return message


def _system_immutable() -> errors.PermissionDenied:
    return errors.PermissionDenied("SYSTEM messages cannot be changed.", code="system_message_immutable")


def message_edit(
    *,
    user,
    workspace=None,
    message_id: str,
    content: object,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """Replace a message's content and set `edited_at`: its author only (403 `not_author`),
    1-4000 characters, or "" for a message that carries files (its caption removed);
    who must be a member (403 `not_a_member`); SYSTEM messages never (403
    `system_message_immutable`); deleted or unknown -> 404; in an archived channel 409
    `channel_archived`.

    Atomic with its preconditions (issue 12): the checks are made once to fail fast,
    then again under the conversation's lock (`conversation_writes_lock`), which every
    other write of the conversation's messages and memberships also takes (sends,
    deletes, moderation, join, leave, archive, channel delete). The MongoDB update is
    conditional on the message not being deleted (its matched document decides: 404
    otherwise), and `message.updated` is broadcast before the lock is released, so no
    socket hears it after the message's `message.deleted`, and edits arrive in order."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    message = _message_get(message_id=message_id, conversation=conversation)
    content = validation.clean_edit_content(content, has_files=bool(message.files))
    if message.type is MessageType.SYSTEM:
        raise _system_immutable()
    if message.sender_id != str(user.pk):
        raise errors.PermissionDenied("Only the author can edit a message.", code="not_author")
    with transaction.atomic():
        # As a send does: under the conversation's lock, so no edit lands after an
        # archive, a delete, or the author's leave; the rules are checked again there.
        conversation_writes_lock(conversation)
        selectors.conversation_get_for_member(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
        )
        # Never before createdAt, even if this process's clock is behind the sender's.
        edited_at = max(_now_ms(), message.created_at)
        from messaging.mentions import mentions_resolve

        mentioned = mentions_resolve(content=content, workspace_id=conversation.workspace_id)
        updated = repository_for(conversation.kind).edit(
            conversation_id=conversation.id,
            message_id=message.id,
            content=content,
            edited_at=edited_at,
            mentions=(mentioned.user_ids, mentioned.channel),
        )
        if updated is None:  # deleted (or purged) meanwhile
            raise errors.NotFound("Message not found.")
        derived.message_edited(updated)
        latest_edited(conversation, updated)
        try:
            broadcast.message_updated(message=message_to_api(updated))
        except Exception:
            logger.exception("message_updated broadcast failed for %s", updated.id)
    from messaging import thread_follows
    from readstate import notifications  # issue 18: whoever the edit newly mentions

    thread_follows.follows_on_edit(before=message, after=updated)  # issue 17: they follow its thread
    notifications.after_edit(before=message, after=updated)
    return updated
