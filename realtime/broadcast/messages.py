"""Message events: created (one or a group-commit batch), updated, deleted, and
the per-conversation and per-user events of wave 2 (reactions, pins, read state)."""

from realtime import events
from realtime.broadcast.delivery import _conversation_fields, _deliver, frame_event


def message_created(*, message: dict) -> None:
    """A stored message; `message` has `channel_id` or `conversation_id`, and `seq`."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=message.get("channel_id"), conversation_id=message.get("conversation_id")
        )
        return [[("send", group, frame_event(events.MESSAGE_CREATED, {"message": message}))]]

    _deliver(f"message.created {message.get('id')}", build)


def messages_created(*, messages: list[dict]) -> None:
    """Several stored messages of ONE conversation (a group commit, messaging.services),
    in seq order: one layer event, one publish; each socket gets one message.created
    frame per message, as if each had been broadcast alone."""
    if not messages:
        return
    first = messages[0]

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=first.get("channel_id"), conversation_id=first.get("conversation_id")
        )
        texts = [frame_event(events.MESSAGE_CREATED, {"message": message})["text"] for message in messages]
        return [[("send", group, {"type": events.MESSAGE_CREATED, "texts": texts})]]

    _deliver(f"message.created of {len(messages)} messages from {first.get('id')}", build)


def message_updated(*, message: dict) -> None:
    """An edited message."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=message.get("channel_id"), conversation_id=message.get("conversation_id")
        )
        return [[("send", group, frame_event(events.MESSAGE_UPDATED, {"message": message}))]]

    _deliver(f"message.updated {message.get('id')}", build)


def conversation_event(*, event_type: str, fields: dict) -> None:
    """An issue-17 event (`thread.updated`, `reaction.added`, `reaction.removed`) to the
    members of the conversation named by `fields` (`channel_id` or `conversation_id`):
    of a private channel, its members only, as every event of the conversation."""
    if event_type not in events.CONVERSATION_EVENTS:
        raise ValueError(f"not a conversation event: {event_type}")

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=fields.get("channel_id"), conversation_id=fields.get("conversation_id")
        )
        return [[("send", group, frame_event(event_type, fields))]]

    _deliver(f"{event_type} {fields.get('message_id') or fields.get('root_id')}", build)


def user_event(
    *, user_id: str, workspace_id: str, event_type: str, fields: dict, skip_connection: str | None = None
) -> None:
    """An issue-18 event (`read.updated`, `notification`) to one user's sockets of one
    workspace; the socket whose hello `connection_id` is `skip_connection` is left out."""
    if event_type not in events.USER_EVENTS:
        raise ValueError(f"not a user event: {event_type}")

    def build(*, remote_membership: bool):
        group = events.user_group(user_id, workspace_id)
        return [[("send", group, frame_event(event_type, fields, skip_connection=skip_connection))]]

    _deliver(f"{event_type} -> {user_id}", build)


def user_events(*, workspace_id: str, event_type: str, per_user: dict[str, dict]) -> None:
    """`user_event` to several users at once ({user_id: fields}), in one delivery."""
    if event_type not in events.USER_EVENTS:
        raise ValueError(f"not a user event: {event_type}")
    if not per_user:
        return

    def build(*, remote_membership: bool):
        return [
            [
                ("send", events.user_group(uid, workspace_id), frame_event(event_type, fields))
                for uid, fields in per_user.items()
            ]
        ]

    _deliver(f"{event_type} x{len(per_user)}", build)


def message_deleted(*, message_id: str, channel_id: str | None = None, conversation_id: str | None = None) -> None:
    """A message hidden from history."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(channel_id=channel_id, conversation_id=conversation_id)
        fields = {"id": str(message_id), **_conversation_fields(channel_id=channel_id, conversation_id=conversation_id)}
        return [[("send", group, frame_event(events.MESSAGE_DELETED, fields))]]

    _deliver(f"message.deleted {message_id}", build)
