"""Opaque history cursors: a signed (conversation, seq) pair.

A cursor names a position in one conversation: "just before / just after the message
with this seq". It is signed with Django's signing (SECRET_KEY, salt
"messaging.cursor"), so a client cannot forge one, edit the seq inside it, or carry
it to another conversation. The token is URL-safe: base64url plus one "." separator.
"""

from django.core import signing

from messaging.documents import Conversation, ConversationKind
from slackclone import errors

SALT = "messaging.cursor"
_KIND_TAGS = {ConversationKind.CHANNEL: "c", ConversationKind.DM: "d"}
# "." is not in the base64url alphabet, so the whole token needs no URL escaping.
_signer = signing.Signer(salt=SALT, sep=".")


def encode_cursor(conversation: Conversation, seq: int) -> str:
    return _signer.sign_object([_KIND_TAGS[conversation.kind], conversation.id, seq])


def decode_cursor(token: object, *, conversation: Conversation, field: str) -> int:
    """The seq inside `token`; 400 `invalid_cursor` if it is not a cursor we issued for
    this conversation."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise _invalid(field, "Invalid cursor.")
    try:
        payload = _signer.unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise _invalid(field, "Invalid cursor.") from exc
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


def _invalid(field: str, text: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(text, fields={field: [text]}, code="invalid_cursor")
