"""Bulk deletes (`delete_matching`) on documents the writes of this code never store but
a store may hold: a `seqBlock` that does not match its seq, seq as int32, a document
without a seq."""

import uuid
from datetime import UTC, datetime

import pytest
from bson import Int64

from messaging.documents import Conversation, ConversationKind
from messaging.repositories import ChannelMessageRepository, DmMessageRepository
from messaging.repositories.base import SEQ_BLOCK, seq_block
from tests.messaging.test_repositories import _doc


def _conversation(kind=ConversationKind.CHANNEL) -> Conversation:
    return Conversation(kind, str(uuid.uuid4()))


def test_a_document_whose_seq_block_does_not_match_its_seq_goes_too_streamed_first():
    repo = ChannelMessageRepository()
    conversation = _conversation()
    stray = repo.to_mongo(_doc(conversation, 2 * SEQ_BLOCK + 3))
    stray["seqBlock"] = seq_block(conversation.id, 1)  # block 0's, its seq is in block 2
    repo.collection.insert_one(stray)
    repo.insert_many([_doc(conversation, seq) for seq in range(1, 6)])

    assert repo.delete_conversation(conversation_id=conversation.id) == 6
    assert repo.count(conversation_id=conversation.id) == 0


def test_a_document_whose_seq_block_does_not_match_its_seq_goes_too_streamed_last():
    repo = ChannelMessageRepository()
    conversation = _conversation()
    repo.insert_many([_doc(conversation, seq) for seq in range(1, 6)])
    stray = repo.to_mongo(_doc(conversation, 2 * SEQ_BLOCK + 3))
    stray["seqBlock"] = seq_block(conversation.id, 1)
    repo.collection.insert_one(stray)

    assert repo.delete_older_than(created_before=datetime(2027, 1, 1, tzinfo=UTC)) == 6
    assert repo.count(conversation_id=conversation.id) == 0


def test_a_seq_block_naming_another_conversation_does_not_hide_that_conversations_messages():
    repo = ChannelMessageRepository()
    one, other = _conversation(), _conversation()
    copied = repo.to_mongo(_doc(one, 3))
    copied["seqBlock"] = seq_block(other.id, 3)  # e.g. moved between channels by hand
    repo.collection.insert_one(copied)
    repo.insert_many([_doc(other, seq) for seq in range(1, 4)])

    assert repo.delete_older_than(created_before=datetime(2027, 1, 1, tzinfo=UTC)) == 4
    assert repo.collection.count_documents({}) == 0


def test_seq_stored_as_int32_goes_and_nothing_else_does():
    repo = DmMessageRepository()
    conversation, other = _conversation(ConversationKind.DM), _conversation(ConversationKind.DM)
    for seq in range(1, 4):
        raw = repo.to_mongo(_doc(conversation, seq))
        raw["seq"] = int(seq) if seq != 2 else Int64(seq)  # int32 on the wire for 1 and 3
        repo.collection.insert_one(raw)
    repo.insert_many([_doc(other, seq) for seq in range(1, 4)])

    assert repo.delete_conversation(conversation_id=conversation.id) == 3
    assert repo.count(conversation_id=conversation.id) == 0
    assert repo.count(conversation_id=other.id) == 3


_MISSING = object()


@pytest.mark.parametrize(
    "seq", [_MISSING, None, "7", SEQ_BLOCK - 0.5, True], ids=["missing", "null", "string", "fraction", "bool"]
)
def test_a_document_with_a_seq_block_and_no_whole_number_seq_is_deleted_not_a_crash(seq):
    """Streamed first (it crashed on `int(raw["seq"])`), and after its block's delete
    (it was skipped): every message of both conversations goes."""
    repo = ChannelMessageRepository()
    first, last = _conversation(), _conversation()

    def odd(conversation):
        raw = repo.to_mongo(_doc(conversation, 7))
        if seq is _MISSING:
            del raw["seq"]
        else:
            raw["seq"] = seq
        return raw

    repo.collection.insert_one(odd(first))
    repo.insert_many([_doc(first, n) for n in range(1, 4)])
    repo.insert_many([_doc(last, n) for n in range(1, 4)])
    repo.collection.insert_one(odd(last))

    assert repo.delete_older_than(created_before=datetime(2027, 1, 1, tzinfo=UTC)) == 8
    assert repo.collection.count_documents({}) == 0
