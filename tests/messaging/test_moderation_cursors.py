"""The opaque cursor of the moderation list: a signed (createdAt ms, id) position."""

from datetime import UTC, datetime

import pytest
from django.core import signing

from messaging.cursors import MODERATION_SALT, decode_moderation_cursor, encode_moderation_cursor
from messaging.documents import ConversationKind
from slackclone import errors

AT = datetime(2026, 11, 24, 9, 15, 2, 123000, tzinfo=UTC)
ID = "0123456789abcdef01234567"


def test_a_cursor_round_trips_to_the_exact_millisecond():
    token = encode_moderation_cursor(kind=ConversationKind.DM, created_at=AT, message_id=ID)

    assert decode_moderation_cursor(token, kind=ConversationKind.DM) == (AT, ID)
    assert "." in token and " " not in token


def test_a_cursor_of_one_collection_is_refused_for_the_other():
    token = encode_moderation_cursor(kind=ConversationKind.CHANNEL, created_at=AT, message_id=ID)

    with pytest.raises(errors.ValidationFailed) as refused:
        decode_moderation_cursor(token, kind=ConversationKind.DM)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "payload",
    [
        ["c", 1, "not-an-object-id"],
        ["c", "1", ID],
        ["c", True, ID],
        ["c", 1],
        {"c": 1},
        ["c", 10**20, ID],
        ["c", 1, {"$gt": ""}],
    ],
)
def test_a_signed_but_malformed_payload_is_refused(payload):
    token = signing.Signer(salt=MODERATION_SALT, sep=".").sign_object(payload)

    with pytest.raises(errors.ValidationFailed):
        decode_moderation_cursor(token, kind=ConversationKind.CHANNEL)


@pytest.mark.parametrize("token", [None, "", 42, "x" * 513, "abc.def", "W10.tampered"])
def test_anything_we_did_not_sign_is_refused(token):
    with pytest.raises(errors.ValidationFailed):
        decode_moderation_cursor(token, kind=ConversationKind.CHANNEL)
