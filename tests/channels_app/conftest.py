from datetime import UTC, datetime

import pytest
from bson import ObjectId

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, dedupe_key_for


class _Posted(list):
    def __init__(self):
        super().__init__()
        self.actor_ids: list[str | None] = []
        self.documents: list[MessageDocument] = []

    def clear(self):
        super().clear()
        self.actor_ids.clear()
        self.documents.clear()


@pytest.fixture
def system_messages(monkeypatch):
    """Records every system_message_post call (and stores nothing) as (channel_id, content).

    `actor_ids` on the returned list holds the actor_id of each call, in the same order;
    `documents` the MessageDocument each call returned (as if stored).
    """
    import messaging.services

    posted = _Posted()

    def record(*, channel_id, content, actor_id=None, workspace_id=None):
        posted.append((str(channel_id), content))
        posted.actor_ids.append(str(actor_id) if actor_id is not None else None)
        message_id = str(ObjectId())
        document = MessageDocument(
            id=message_id,
            conversation=Conversation(ConversationKind.CHANNEL, str(channel_id)),
            seq=len(posted),
            sender_id=posted.actor_ids[-1],
            content=content,
            type=MessageType.SYSTEM,
            created_at=datetime.now(UTC).replace(microsecond=0),
            edited_at=None,
            client_msg_id=None,
            dedupe_key=dedupe_key_for(message_id=message_id, client_msg_id=None),
        )
        posted.documents.append(document)
        return document

    monkeypatch.setattr(messaging.services, "system_message_post", record)
    return posted


@pytest.fixture
def make_channel(client_for, system_messages):
    """make_channel(creator, name) -> the channel JSON, created through the API."""

    def make(creator, name, **extra):
        response = client_for(creator).post("/api/v1/channels", {"name": name, **extra}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return make
