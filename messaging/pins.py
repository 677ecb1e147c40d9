"""Pins (contract: "Pins"; issue 17).

`pinnedAt` / `pinnedBy` on the message document, read newest pin first on the
(conversation, pinnedAt) index. Pin and unpin run under the conversation's lock: the
limit of PINS_MAX pins per conversation is counted and enforced there, so concurrent
pins can never pass it, and the SYSTEM message of a pin takes its seq in the same
critical section (its transaction holds the lock until commit).
"""

import logging
from uuid import UUID

from messaging import repositories_ext as ext
from messaging import selectors
from messaging.documents import MessageDocument, MessageType
from messaging.repositories import repository_for
from messaging.serializers import message_to_api
from messaging.services import _now_ms, _send, message_write_locked
from realtime import broadcast
from search import services as search_services
from slackclone import errors

logger = logging.getLogger(__name__)

PINS_MAX = 100


def _updated(message: MessageDocument) -> None:
    try:
        broadcast.message_updated(message=message_to_api(message))
    except Exception:
        logger.exception("message_updated broadcast failed for %s", message.id)


def message_pin_set(
    *,
    user,
    workspace=None,
    message_id: object,
    pinned: bool,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """PUT (`pinned` true) / DELETE (false) …/messages/{id}/pin: any member (403/404 as
    for history; 409 `channel_archived` in an archived channel); idempotent: pinning a
    pinned message (or unpinning an unpinned one) answers it as it is and announces
    nothing. A deleted or unknown message is a 404. 409 `too_many_pins` for a 101st pin.
    A pin posts a SYSTEM message ("alice pinned a message") and both send
    `message.updated` with the message. Returns the message."""
    scope = {"channel_id": channel_id, "conversation_id": conversation_id}
    with message_write_locked(user=user, workspace=workspace, message_id=message_id, **scope) as (repo, message):
        conversation, message_id = message.conversation, message.id
        if (message.pinned_at is not None) == pinned:
            return message
        if pinned:
            if ext.pins_count(repo, conversation_id=conversation.id) >= PINS_MAX:
                raise errors.Conflict(f"A conversation can have at most {PINS_MAX} pins.", code="too_many_pins")
            changed = ext.pin_set(
                repo,
                conversation_id=conversation.id,
                message_id=message_id,
                by=str(user.pk),
                at=max(_now_ms(), message.created_at),
            )
        else:
            changed = ext.pin_clear(repo, conversation_id=conversation.id, message_id=message_id)
        if changed is None:
            raise errors.NotFound("Message not found.")
        search_services.messages_indexed([changed])  # `has:pin`, in the pin's transaction
        _updated(changed)
        if pinned:
            # Same lock, same transaction: the SYSTEM message's seq follows at once.
            _send(
                conversation=conversation,
                sender_id=str(user.pk),
                content=f"{user.username} pinned a message",
                message_type=MessageType.SYSTEM,
                client_msg_id=None,
            )
    return changed


def pins_list(
    *, user, workspace=None, channel_id: UUID | str | None = None, conversation_id: UUID | str | None = None
) -> list[MessageDocument]:
    """GET …/pins: the conversation's pinned live messages, newest pin first (at most
    PINS_MAX, so one page). Members only (403/404 as for history)."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    return ext.pins_list(repository_for(conversation.kind), conversation_id=conversation.id, limit=PINS_MAX)
