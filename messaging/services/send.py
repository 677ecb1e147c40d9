"""Sending messages: `message_send` (REST and WebSocket) and `system_message_post`."""

from uuid import UUID

from channels_app.selectors import channel_get
from files.validation import clean_file_ids
from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from messaging.services.group_commit import _send_grouped
from messaging.services.store import SendResult, _send
from slackclone import errors


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
    workspace=None,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    content: object = None,
    client_msg_id: object = None,
    file_ids: object = None,
    thread_id: object = None,
    also_in_channel: object = None,
) -> SendResult:
    """Post a TEXT message as `sender` in a channel (members only: 404 unknown, 403
    not a member, 409 `channel_archived`) or a DM (its two users only, else 404).

    `file_ids` (issue 20): 1-10 of the sender's own uploads of this workspace (400
    `invalid_file_ids` otherwise); `content` may then be empty. The message stores
    what clients render of each file, and a share row per file is written in the
    send's transaction (files.services.file_shares_record).

    Issue 17: `thread_id` makes it a reply (400 `invalid_thread` unless the root is a
    live TEXT message of this conversation that is no reply itself), `also_in_channel`
    shows the reply in the channel view too; mentions are resolved against the
    conversation's workspace (messaging.mentions). A reply takes the next seq like any
    message (the same send path); once it is stored, its root's counters are updated
    and `thread.updated` follows its `message.created` (messaging.threads).

    `content` and `client_msg_id` may be raw client values: they are validated here
    (400). A retry with a client_msg_id already stored in this conversation returns
    the original message with created=False and stores nothing; if that original has
    another sender, 409 `client_msg_id_conflict`.
    """
    conversation = selectors.conversation_get_for_member(
        user=sender, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    file_ids = clean_file_ids(file_ids)
    content = validation.clean_send_content(content, has_files=bool(file_ids))
    client_msg_id = validation.clean_client_msg_id(client_msg_id)
    sender_id = str(sender.pk)
    from messaging import threads  # it builds on this module's lock helpers

    fields = {
        "conversation": conversation,
        "sender_id": sender_id,
        "content": content,
        "message_type": MessageType.TEXT,
        "client_msg_id": client_msg_id,
        "extra": threads.send_fields(
            conversation=conversation, content=content, thread_id=thread_id, also_in_channel=also_in_channel
        ),
    }
    if file_ids:  # alone, not grouped: its files are locked and shared in its own transaction
        result = _send(**fields, attach={"user": sender, "workspace": workspace, "file_ids": file_ids})
    else:
        result = _send_grouped(**fields)
    result = _check_retry_sender(result, sender_id=sender_id)
    if result.created:
        threads.after_send(message=result.message)
        from readstate import notifications  # issue 18

        notifications.after_send(message=result.message)
    return result


def system_message_post(
    *, channel_id: UUID | str, content: str, actor_id: UUID | str | None = None, workspace_id: UUID | str | None = None
) -> MessageDocument:
    """Store a SYSTEM message in a channel (e.g. "alice joined") and broadcast it.

    `senderId` is the acting user's id when given (who joined, who left), else null.
    No membership check: the caller is a service that already decided. `workspace_id`
    is the channel's (looked up when not given).
    """
    cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
    if workspace_id is None:
        workspace_id = channel_get(workspace=None, channel_id=cid).workspace_id
    conversation = Conversation(ConversationKind.CHANNEL, cid, str(workspace_id))
    sender_id = str(UUID(str(actor_id))) if actor_id is not None else None
    result = _send(
        conversation=conversation,
        sender_id=sender_id,
        content=validation.clean_content(content),
        message_type=MessageType.SYSTEM,
        client_msg_id=None,
    )
    return result.message
