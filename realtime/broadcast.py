"""The realtime hook that services call after a write is durable.

Every function is synchronous, best-effort and never raises: realtime delivery is
degraded, never a reason to fail a write that has been stored. Payloads are already
in the API's shape (a Message is what the REST API would answer).
"""

import logging

logger = logging.getLogger(__name__)


def message_created(*, message: dict) -> None:
    """A stored message; `message` has `channel_id` or `conversation_id`, and `seq`."""


def message_updated(*, message: dict) -> None:
    """An edited message."""


def message_deleted(*, message_id: str, channel_id: str | None = None, conversation_id: str | None = None) -> None:
    """A message hidden from history."""


def member_joined(*, channel_id: str, user_id: str) -> None:
    """A user joined a channel: their sockets subscribe to it, members hear member.joined."""


def member_left(*, channel_id: str, user_id: str) -> None:
    """A user left a channel: their sockets unsubscribe, members hear member.left."""


def dm_created(*, conversation_id: str, user_ids: list[str]) -> None:
    """A new DM: both users' sockets subscribe to it."""
