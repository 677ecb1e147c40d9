"""Unit tests of the signed history cursors."""

import re
import uuid

import pytest
from django.core import signing

from messaging.cursors import SALT, decode_cursor, encode_cursor
from messaging.documents import Conversation, ConversationKind
from slackclone import errors

CHANNEL = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))


def test_a_cursor_round_trips_to_its_seq():
    assert decode_cursor(encode_cursor(CHANNEL, 42), conversation=CHANNEL, field="after") == 42


def test_a_cursor_is_url_safe():
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", encode_cursor(CHANNEL, 123456789))


def test_a_cursor_of_another_conversation_is_refused():
    other = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    with pytest.raises(errors.ValidationFailed) as info:
        decode_cursor(encode_cursor(other, 5), conversation=CHANNEL, field="before")
    assert info.value.code == "invalid_cursor"
    assert info.value.fields == {"before": ["This cursor belongs to another conversation."]}


def test_a_channel_cursor_is_refused_for_a_dm_with_the_same_id():
    dm = Conversation(ConversationKind.DM, CHANNEL.id)
    with pytest.raises(errors.ValidationFailed):
        decode_cursor(encode_cursor(CHANNEL, 5), conversation=dm, field="after")


def test_a_tampered_seq_is_refused():
    token = encode_cursor(CHANNEL, 5)
    _payload, signature = token.rsplit(".", 1)
    forged_payload = signing.b64_encode(f'["c","{CHANNEL.id}",999]'.encode()).decode()
    with pytest.raises(errors.ValidationFailed) as info:
        decode_cursor(f"{forged_payload}.{signature}", conversation=CHANNEL, field="after")
    assert info.value.code == "invalid_cursor"


def test_a_payload_signed_with_another_salt_is_refused():
    token = signing.Signer(salt="something.else", sep=".").sign_object(["c", CHANNEL.id, 5])
    with pytest.raises(errors.ValidationFailed):
        decode_cursor(token, conversation=CHANNEL, field="after")


@pytest.mark.parametrize("payload", [["c", CHANNEL.id, -1], ["c", CHANNEL.id, "5"], ["c", CHANNEL.id, True], {"s": 1}])
def test_a_well_signed_but_malformed_payload_is_refused(payload):
    token = signing.Signer(salt=SALT, sep=".").sign_object(payload)
    with pytest.raises(errors.ValidationFailed):
        decode_cursor(token, conversation=CHANNEL, field="after")


@pytest.mark.parametrize("token", ["", "abc", "a.b", '{"$gt": 0}', "x" * 600, 5, {"$gt": ""}, "5"])
def test_garbage_is_refused(token):
    with pytest.raises(errors.ValidationFailed) as info:
        decode_cursor(token, conversation=CHANNEL, field="after")
    assert info.value.code == "invalid_cursor"
