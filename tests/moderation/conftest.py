"""Fixtures of the moderation tests: a staff client, a channel and a DM with messages
stored through the real services (broadcasts captured, nothing sent)."""

from datetime import UTC, datetime

import pytest

from messaging.documents import Conversation, ConversationKind
from tests.helpers import capture_broadcasts


@pytest.fixture
def channel(alice, bob):
    from channels_app.models import Channel, ChannelMember

    channel = Channel.objects.create(name="general", created_by=alice)
    ChannelMember.objects.create(channel=channel, user=alice)
    ChannelMember.objects.create(channel=channel, user=bob)
    return channel


@pytest.fixture
def dm(alice, bob):
    from dms.models import DmConversation
    from dms.services import dm_pair

    user1, user2 = dm_pair(alice.pk, bob.pk)
    return DmConversation.objects.create(user1_id=user1, user2_id=user2)


@pytest.fixture
def send():
    """send(user, content, channel=... | dm=...) -> the stored MessageDocument (real service)."""
    from messaging.services import message_send

    def do(user, content, *, channel=None, dm=None):
        scope = {"channel_id": channel.pk} if channel is not None else {"conversation_id": dm.pk}
        with capture_broadcasts():
            return message_send(sender=user, content=content, **scope).message

    return do


@pytest.fixture
def import_at():
    """import_at(channel_or_dm, [(sender, content, datetime), ...]) -> documents, stored with
    the given createdAt through messaging.services.messages_import."""
    from channels_app.models import Channel
    from messaging.services import MessageDraft, messages_import

    def do(where, items):
        kind = ConversationKind.CHANNEL if isinstance(where, Channel) else ConversationKind.DM
        drafts = [MessageDraft(sender_id=str(user.pk), content=text, created_at=at) for user, text, at in items]
        return messages_import(conversation=Conversation(kind, str(where.pk)), drafts=drafts)

    return do


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)
