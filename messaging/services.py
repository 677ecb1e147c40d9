"""Writes of messages (filled by the messaging work)."""

from uuid import UUID


def system_message_post(*, channel_id: UUID | str, content: str) -> None:
    """Store a SYSTEM message in a channel (e.g. "alice joined") and broadcast it."""
