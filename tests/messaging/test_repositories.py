"""The MongoDB side: indexes, document mapping, and whether the history query uses
its index."""

import uuid
from datetime import UTC, datetime

import pytest

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from messaging.mongo import get_db
from messaging.repositories import INDEXES, ChannelMessageRepository, DmMessageRepository, ensure_indexes
from tests.messaging.support import assert_index_used

EXPECTED = {
    "channel_messages": {
        "channelId_1_createdAt_1": ([("channelId", 1), ("createdAt", 1)], False),
        "senderId_1_createdAt_-1": ([("senderId", 1), ("createdAt", -1)], False),
        "channelId_1_seq_1": ([("channelId", 1), ("seq", 1)], True),
        "channelId_1_dedupeKey_1": ([("channelId", 1), ("dedupeKey", 1)], True),
        "createdAt_1__id_1": ([("createdAt", 1), ("_id", 1)], False),
        "workspaceId_1_createdAt_1__id_1": ([("workspaceId", 1), ("createdAt", 1), ("_id", 1)], False),
        "channelId_1_threadId_1_seq_1": ([("channelId", 1), ("threadId", 1), ("seq", 1)], False),
        "channelId_1_threadId_1_threadSeq_1": ([("channelId", 1), ("threadId", 1), ("threadSeq", 1)], False),
        "mentions_1_createdAt_-1__id_-1": ([("mentions", 1), ("createdAt", -1), ("_id", -1)], False),
        "channelId_1_pinnedAt_-1": ([("channelId", 1), ("pinnedAt", -1)], False),
    },
    "dm_messages": {
        "conversationId_1_createdAt_1": ([("conversationId", 1), ("createdAt", 1)], False),
        "senderId_1_createdAt_-1": ([("senderId", 1), ("createdAt", -1)], False),
        "conversationId_1_seq_1": ([("conversationId", 1), ("seq", 1)], True),
        "conversationId_1_dedupeKey_1": ([("conversationId", 1), ("dedupeKey", 1)], True),
        "createdAt_1__id_1": ([("createdAt", 1), ("_id", 1)], False),
        "workspaceId_1_createdAt_1__id_1": ([("workspaceId", 1), ("createdAt", 1), ("_id", 1)], False),
        "conversationId_1_threadId_1_seq_1": ([("conversationId", 1), ("threadId", 1), ("seq", 1)], False),
        "conversationId_1_threadId_1_threadSeq_1": ([("conversationId", 1), ("threadId", 1), ("threadSeq", 1)], False),
        "mentions_1_createdAt_-1__id_-1": ([("mentions", 1), ("createdAt", -1), ("_id", -1)], False),
        "conversationId_1_pinnedAt_-1": ([("conversationId", 1), ("pinnedAt", -1)], False),
    },
}


@pytest.mark.parametrize("collection", ["channel_messages", "dm_messages"])
def test_the_collections_have_their_indexes(collection):
    info = get_db()[collection].index_information()

    for name, (keys, unique) in EXPECTED[collection].items():
        assert name in info, f"{collection} lacks {name}: {sorted(info)}"
        assert [(field, int(direction)) for field, direction in info[name]["key"]] == keys
        assert bool(info[name].get("unique", False)) is unique


def test_ensure_indexes_is_idempotent():
    assert ensure_indexes() == []
    assert len(INDEXES) == sum(len(v) for v in EXPECTED.values())


def _doc(conversation, seq, **extra):
    fields = {
        "id": ChannelMessageRepository.new_id(),
        "conversation": conversation,
        "seq": seq,
        "sender_id": str(uuid.uuid4()),
        "content": f"m{seq}",
        "type": MessageType.TEXT,
        "created_at": datetime(2026, 1, 1, 12, 0, 0, seq * 1000, tzinfo=UTC),
        "edited_at": None,
        "client_msg_id": None,
        "dedupe_key": None,
    }
    fields.update(extra)
    fields["dedupe_key"] = fields["dedupe_key"] or f"s:{fields['id']}"
    return MessageDocument(**fields)


def test_documents_round_trip_with_utc_datetimes_and_int64_seq():
    repo = DmMessageRepository()
    conversation = Conversation(ConversationKind.DM, str(uuid.uuid4()))
    doc = _doc(conversation, 7, client_msg_id="c1", dedupe_key="c:c1")

    repo.insert(doc)
    loaded = repo.get(conversation_id=conversation.id, message_id=doc.id)

    assert loaded == doc
    assert loaded.created_at.tzinfo is UTC
    raw = get_db()["dm_messages"].find_one({"_id": {"$exists": True}})
    assert type(raw["seq"]).__name__ == "Int64"
    assert set(raw) == {
        "_id",
        "conversationId",
        "workspaceId",
        "senderId",
        "content",
        "createdAt",
        "editedAt",
        "type",
        "seq",
        "seqBlock",  # issue 13: the history window
        "clientMsgId",
        "dedupeKey",
        "deletedAt",
        "deletedBy",
        *("threadId", "alsoInChannel", "mentions", "mentionsChannel"),  # issue 17
        "inChannel",  # issue 17, session 4 (a reply also has threadBlock)
    }


def test_the_unique_seq_index_refuses_a_second_message_with_the_same_seq():
    from messaging.repositories import DuplicateMessage

    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    repo.insert(_doc(conversation, 1))

    with pytest.raises(DuplicateMessage):
        repo.insert(_doc(conversation, 1))


def test_messages_without_client_msg_id_never_collide_on_the_dedupe_index():
    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))

    for seq in range(1, 4):
        repo.insert(_doc(conversation, seq))

    assert repo.max_seq(conversation_id=conversation.id) == 3


def test_pages_and_high_water_mark():
    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    repo.insert_many([_doc(conversation, seq) for seq in range(1, 11)])

    assert [m.seq for m in repo.newest_page(conversation_id=conversation.id, limit=3)] == [10, 9, 8]
    assert [m.seq for m in repo.page_before(conversation_id=conversation.id, seq=5, limit=3)] == [4, 3, 2]
    assert [m.seq for m in repo.page_after(conversation_id=conversation.id, seq=5, limit=3)] == [6, 7, 8]
    assert repo.high_water_mark(conversation_id=conversation.id)[0] == 10
    assert repo.high_water_mark(conversation_id=str(uuid.uuid4())) == (0, None)


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_the_history_query_uses_the_conversation_seq_index(repo_class):
    repo = repo_class()
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    repo.insert_many([_doc(conversation, seq) for seq in range(1, 51)])

    explain = repo.explain_newest_page(conversation_id=conversation.id, limit=51)

    assert_index_used(repo, explain, f"{repo.conversation_field}_1_seq_1")
