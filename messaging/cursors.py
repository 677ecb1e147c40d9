"""Opaque history cursors: a signed (conversation, seq) pair.

A cursor names a position in one conversation: "just before / just after the message
with this seq". It is signed with Django's signing (SECRET_KEY, salt
"messaging.cursor"), so a client cannot forge one, edit the seq inside it, or carry
it to another conversation. The token is URL-safe: base64url plus one "." separator.
"""

import re
from datetime import UTC, datetime, timedelta

from django.core import signing

from messaging.documents import Conversation, ConversationKind
from slackclone import errors

SALT = "messaging.cursor"
_KIND_TAGS = {ConversationKind.CHANNEL: "c", ConversationKind.DM: "d"}
# "." is not in the base64url alphabet, so the whole token needs no URL escaping.
_signer = signing.Signer(salt=SALT, sep=".")
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def encode_cursor(conversation: Conversation, seq: int) -> str:
    return _signer.sign_object([_KIND_TAGS[conversation.kind], conversation.id, seq])


def decode_cursor(token: object, *, conversation: Conversation, field: str) -> int:
    """The seq inside `token`; 400 `invalid_cursor` if it is not a cursor we issued for
    this conversation."""
    payload = _unsign(_signer, token, field=field)
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not isinstance(payload[2], int)
        or isinstance(payload[2], bool)
        or payload[2] < 0
    ):
        raise _invalid(field, "Invalid cursor.")
    if payload[0] != _KIND_TAGS[conversation.kind] or payload[1] != conversation.id:
        raise _invalid(field, "This cursor belongs to another conversation.")
    return payload[2]


def _unsign(signer: signing.Signer, token: object, *, field: str):
    """The payload of a token `signer` issued; 400 `invalid_cursor` for anything else."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise _invalid(field, "Invalid cursor.")
    try:
        return signer.unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise _invalid(field, "Invalid cursor.") from exc


def _invalid(field: str, text: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(text, fields={field: [text]}, code="invalid_cursor")


# --- Moderation list cursors: a signed (createdAt in ms, message id) position -------

MODERATION_SALT = "messaging.moderation_cursor"
_moderation_signer = signing.Signer(salt=MODERATION_SALT, sep=".")


def encode_moderation_cursor(*, kind: ConversationKind, created_at: datetime, message_id: str) -> str:
    """The position just after (older than) this message in the moderation list of `kind`."""
    millis = (created_at - _EPOCH) // _MS  # exact: BSON dates hold whole milliseconds
    return _moderation_signer.sign_object([_KIND_TAGS[kind], millis, message_id])


def decode_moderation_cursor(token: object, *, kind: ConversationKind, field: str = "cursor") -> tuple[datetime, str]:
    """(createdAt, message id) inside `token`; 400 `invalid_cursor` unless we issued it for
    this collection."""
    payload = _unsign(_moderation_signer, token, field=field)
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or payload[0] != _KIND_TAGS[kind]
        or not isinstance(payload[1], int)
        or isinstance(payload[1], bool)
        or not isinstance(payload[2], str)
        or not _OBJECT_ID.fullmatch(payload[2])
    ):
        raise _invalid(field, "Invalid cursor.")
    try:
        created_at = _EPOCH + payload[1] * _MS
    except OverflowError as exc:
        raise _invalid(field, "Invalid cursor.") from exc
    return created_at, payload[2]


# --- GET /mentions cursors: a signed (createdAt in ms, message id) position (issue 17) ---

MENTIONS_SALT = "messaging.mentions_cursor"
_mentions_signer = signing.Signer(salt=MENTIONS_SALT, sep=".")


def encode_mentions_cursor(*, user_id: str, created_at: datetime, message_id: str) -> str:
    """The position just older than this message in `user_id`'s mentions."""
    return _mentions_signer.sign_object([user_id, (created_at - _EPOCH) // _MS, message_id])


def decode_mentions_cursor(token: object, *, user_id: str, field: str = "cursor") -> tuple[datetime, str]:
    """(createdAt, message id) inside `token`; 400 `invalid_cursor` unless we issued it to `user_id`."""
    payload = _unsign(_mentions_signer, token, field=field)
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or payload[0] != user_id
        or not isinstance(payload[1], int)
        or isinstance(payload[1], bool)
        or not isinstance(payload[2], str)
        or not _OBJECT_ID.fullmatch(payload[2])
    ):
        raise _invalid(field, "Invalid cursor.")
    try:
        return _EPOCH + payload[1] * _MS, payload[2]
    except OverflowError as exc:
        raise _invalid(field, "Invalid cursor.") from exc
