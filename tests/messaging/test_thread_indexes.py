"""Every issue-17 read uses its index on MongoDB (explain); FerretDB 1.24 does not use
indexes for these queries, which the xfail reports with its own explain summary."""

import uuid
from datetime import UTC, datetime

import pytest
from pymongo import DESCENDING

from messaging import repositories_ext as ext
from messaging.documents import Conversation, MessageDocument, MessageType
from messaging.repositories import ChannelMessageRepository, DmMessageRepository
from tests.messaging.support import assert_index_used

pytestmark = pytest.mark.django_db


def _seed(repo, conversation, user_id, root_id):
    now = datetime.now(UTC).replace(microsecond=0)
    docs = []
    for seq in range(1, 41):
        message_id = repo.new_id()
        docs.append(
            MessageDocument(
                id=message_id,
                conversation=conversation,
                seq=seq,
                sender_id=user_id,
                content="x",
                type=MessageType.TEXT,
                created_at=now,
                edited_at=None,
                client_msg_id=None,
                dedupe_key=f"s:{message_id}",
                thread_id=root_id if seq % 2 else None,
                mentions=(user_id,) if seq % 3 == 0 else (),
            )
        )
    repo.insert_many(docs)


@pytest.fixture(params=[ChannelMessageRepository, DmMessageRepository], ids=["channel", "dm"])
def seeded(request):
    repo = request.param()
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    user_id, root_id = str(uuid.uuid4()), repo.new_id()
    _seed(repo, conversation, user_id, root_id)
    return repo, conversation, user_id, root_id


def test_the_replies_of_a_root_use_the_conversation_thread_seq_index(seeded):
    repo, conversation, _user_id, root_id = seeded
    query = repo._visible(conversation.id, thread_id=root_id, seq={"$gt": 0})
    explain = ext.explain(repo, filter=query, sort={"seq": 1}, limit=51)
    assert_index_used(repo, explain, f"{repo.conversation_field}_1_threadId_1_seq_1")


def test_the_mentions_of_a_user_use_the_mentions_created_at_index(seeded):
    repo, conversation, user_id, _root_id = seeded
    query = {
        "$and": [{"mentions": user_id}, {repo.conversation_field: {"$in": [conversation.id]}}, {"deletedAt": None}]
    }
    explain = ext.explain(repo, filter=query, sort={"createdAt": DESCENDING, "_id": DESCENDING}, limit=51)
    assert_index_used(repo, explain, "mentions_1_createdAt_-1__id_-1")


def test_the_pins_of_a_conversation_use_the_conversation_pinned_at_index(seeded):
    repo, conversation, _user_id, _root_id = seeded
    explain = ext.explain(
        repo, filter=ext.pins_query(repo, conversation.id), sort={"pinnedAt": DESCENDING, "_id": 1}, limit=100
    )
    assert_index_used(repo, explain, f"{repo.conversation_field}_1_pinnedAt_-1")


def test_the_channel_view_uses_the_conversation_seq_index(seeded):
    repo, conversation, _user_id, _root_id = seeded
    explain = ext.explain(repo, filter=repo._visible(conversation.id, roots_only=True), sort={"seq": -1}, limit=51)
    assert_index_used(repo, explain, f"{repo.conversation_field}_1_seq_1")


def test_the_queries_answer_what_they_should(seeded):
    """The same queries on this server: replies in seq order, mentions, no pins."""
    repo, conversation, user_id, root_id = seeded
    replies = repo.page_after(conversation_id=conversation.id, seq=0, limit=100, thread_id=root_id)
    assert [m.seq for m in replies] == list(range(1, 41, 2))
    roots = repo.page_after(conversation_id=conversation.id, seq=0, limit=100, roots_only=True)
    assert [m.seq for m in roots] == list(range(2, 41, 2))
    mentions = ext.mentions_page(repo, user_id=user_id, conversation_ids=[conversation.id], seek=None, limit=100)
    assert sorted(m.seq for m in mentions) == list(range(3, 41, 3))
    assert ext.pins_list(repo, conversation_id=conversation.id, limit=100) == []
