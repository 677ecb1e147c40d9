"""Deleting many messages (a deleted channel, retention, orphans, benchmark clean-up):
one delete per seq block that holds a match, not `_id` lists (messaging.repositories
.operations `delete_matching`)."""

import uuid

import pytest
from pymongo.collection import Collection

from messaging.documents import Conversation, ConversationKind
from messaging.repositories import ChannelMessageRepository
from messaging.repositories.base import SEQ_BLOCK
from tests.messaging.test_repositories import _doc


@pytest.fixture
def deletes(monkeypatch) -> list[dict]:
    """The filters of every delete_many sent to MongoDB from now on (the real call is made)."""
    seen, original = [], Collection.delete_many

    def spying(self, filter, *args, **kwargs):
        seen.append(filter)
        return original(self, filter, *args, **kwargs)

    monkeypatch.setattr(Collection, "delete_many", spying)
    return seen


def test_every_message_goes_across_holes_and_without_seq_blocks_and_no_other_conversations():
    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    other = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    far = 20 * SEQ_BLOCK  # a hole of many empty blocks
    seqs = [*range(1, 71), *range(far, far + 5)]
    repo.insert_many([_doc(conversation, seq) for seq in seqs])
    repo.insert_many([_doc(other, seq) for seq in range(1, 4)])
    legacy = repo.to_mongo(_doc(conversation, far + 100))
    del legacy["seqBlock"]  # stored before backfill_seq_blocks
    repo.collection.insert_one(legacy)

    assert repo.delete_conversation(conversation_id=conversation.id) == len(seqs) + 1

    assert repo.count(conversation_id=conversation.id) == 0
    assert repo.count(conversation_id=other.id) == 3


def test_messages_stored_in_seq_blocks_go_block_by_block_not_by_id_lists(deletes):
    """FerretDB 1.24 filters `_id: {$in: [...]}` in Go after decoding every document of
    the collection; the blocks are equalities it pushes down to its GIN index."""
    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    repo.insert_many([_doc(conversation, seq) for seq in range(1, 3 * SEQ_BLOCK)])

    assert repo.delete_conversation(conversation_id=conversation.id) == 3 * SEQ_BLOCK - 1

    assert deletes, "nothing was deleted with delete_many"
    assert all("_id" not in f for f in deletes), deletes
    assert all(set(f) == {"channelId", "seqBlock", "seq"} for f in deletes), deletes


def test_retention_deletes_only_the_older_messages_of_a_block_it_straddles(deletes):
    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    messages = [_doc(conversation, seq) for seq in range(1, 2 * SEQ_BLOCK)]
    repo.insert_many(messages)
    cutoff = messages[SEQ_BLOCK + 5].created_at  # inside the second block

    deleted = repo.delete_older_than(created_before=cutoff, conversation_id=conversation.id)

    assert deleted == SEQ_BLOCK + 5
    left = repo.newest_page(conversation_id=conversation.id, limit=100)
    assert sorted(m.seq for m in left) == list(range(SEQ_BLOCK + 6, 2 * SEQ_BLOCK))
    assert len(deletes) == 2 and all("_id" not in f and "createdAt" in f for f in deletes), deletes


def test_a_query_naming_seq_blocks_is_refused():
    with pytest.raises(ValueError):
        ChannelMessageRepository().delete_matching({"channelId": "x", "seq": 1})
