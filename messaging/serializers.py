"""Message JSON out (`message_to_api`, also used by the WebSocket consumer) and the
input serializers of the REST API. Input rules are the ones in messaging.validation,
which the services apply again for callers that bypass these serializers."""

import functools

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from files.serializers import FileSerializer, file_entry_to_api
from messaging import validation
from messaging.documents import MessageDocument, MessageType
from slackclone import errors
from slackclone.api.fields import format_time
from slackclone.api.serializers import StrictBooleanField, StrictSerializer


def message_to_api(message: MessageDocument) -> dict:
    """A Message as the API shows it (REST answers and realtime events alike)."""
    data = {
        "id": message.id,
        message.conversation.api_field: message.conversation.id,
        "seq": message.seq,
        "sender_id": message.sender_id,
        "content": message.content,
        "type": message.type.value,
        "created_at": format_time(message.created_at),
        "edited_at": format_time(message.edited_at),
        "client_msg_id": message.client_msg_id,
        "files": [file_entry_to_api(entry) for entry in message.files],
    }
    data.update(_thread_fields(message))  # issue 17
    data.update(_reaction_mention_pin_fields(message))  # issue 17
    return data


def sent_message_to_api(message: MessageDocument) -> dict:
    """The answer to a send (REST 201/200, the WebSocket's message.ack). A retry whose
    client_msg_id names a message deleted since answers 200 with that message as
    deleted: `deleted` true, no content, files, reactions, mentions or pin (a deleted
    message is never shown again, even to its author)."""
    data = message_to_api(message)
    if message.is_deleted:
        data.update(
            content="", files=[], reactions=[], mentions=[], mentions_channel=False, pinned_at=None, pinned_by=None
        )
    return data


def _thread_fields(message: MessageDocument) -> dict:
    """Threads (issue 17): every message says whether it is a reply; a message that is
    not one is a (possible) root and carries its counters; a deleted root that still
    has replies is a tombstone (`deleted` true, empty content, no files, reactions,
    mentions or pin)."""
    fields = {"thread_id": message.thread_id, "also_in_channel": message.also_in_channel}
    if message.thread_id is None:
        fields |= {
            "reply_count": message.reply_count,
            "reply_users": list(message.reply_users),
            "last_reply_at": format_time(message.last_reply_at),
        }
    fields["deleted"] = message.is_deleted
    if _is_tombstone(message):
        fields["content"] = ""
        fields["files"] = []  # the deleted message's files are no longer served (contract: "Files")
    return fields


def _is_tombstone(message: MessageDocument) -> bool:
    """A deleted root that still has replies: shown in history without its content. (Other
    deleted messages reach message_to_api only in exports and moderation, which keep it.)"""
    return message.is_deleted and message.reply_count > 0


def _reaction_mention_pin_fields(message: MessageDocument) -> dict:
    live = not _is_tombstone(message)
    return {
        "reactions": [
            {"emoji": reaction.emoji, "count": reaction.count, "user_ids": list(reaction.user_ids)}
            for reaction in (message.reactions if live else ())
        ],
        "mentions": list(message.mentions) if live else [],
        "mentions_channel": message.mentions_channel and live,
        # A deleted message is no pin (GET …/pins leaves it out, and it counts for no limit).
        "pinned_at": format_time(message.pinned_at) if live else None,
        "pinned_by": message.pinned_by if live else None,
    }


class _RawField(serializers.Field):
    """Hands the raw JSON value to a validation.clean_* function, so the serializer and
    the services accept and refuse exactly the same values with the same texts."""

    def __init__(self, *, clean, **kwargs):
        self._clean = clean
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return self._clean(data)
        except errors.ValidationFailed as exc:
            texts = [text for field_texts in exc.fields.values() for text in field_texts]
            raise serializers.ValidationError(texts or [exc.message]) from exc

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "minLength": 1})
class ContentField(_RawField):
    def __init__(self, clean=validation.clean_content, **kwargs):
        super().__init__(
            clean=clean,
            help_text=(
                f"1-{validation.CONTENT_MAX_LENGTH} characters once leading and trailing whitespace is trimmed "
                "(the trimmed text is stored). Line breaks are normalised first: `\\r\\n` and a lone `\\r` (text "
                "pasted from Windows) are stored as `\\n`. Line feeds and tabs are allowed; other control characters "
                "are not (400 naming the character, e.g. U+0007)."
            ),
            **kwargs,
        )


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "minLength": 1,
        "maxLength": validation.CLIENT_MSG_ID_MAX_LENGTH,
        "pattern": "^[!-~]+$",
    }
)
class ClientMsgIdField(_RawField):
    def __init__(self, **kwargs):
        super().__init__(
            clean=validation.clean_client_msg_id,
            required=False,
            allow_null=True,
            help_text=(
                f"Optional idempotency key: 1-{validation.CLIENT_MSG_ID_MAX_LENGTH} characters of printable ASCII "
                "without spaces (a UUID is a good choice). A retry with the same value in the same conversation "
                "answers 200 with the original message; null means none."
            ),
            **kwargs,
        )


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 10, "nullable": True})
class FileIdsField(_RawField):
    def __init__(self, **kwargs):
        from files.validation import clean_file_ids

        super().__init__(
            clean=clean_file_ids,
            required=False,
            allow_null=True,  # as message.send over a socket: null or [] attach nothing
            help_text="1-10 ids of the caller's own uploads (POST /files) to attach; `content` may then be empty "
            '("" or left out). Null or [] attach nothing.',
            **kwargs,
        )


@extend_schema_field({"type": "string", "nullable": True})
class ThreadIdField(_RawField):
    """`thread_id` as sent, judged by the send service (messaging.threads.send_fields)
    exactly as `message.send` is: anything but a live root's id (a padded id, "", a
    number, `true`) is 400 `invalid_thread`. Null or absent: no thread."""

    def __init__(self, **kwargs):
        super().__init__(
            clean=lambda value: value,
            required=False,
            allow_null=True,
            help_text="Reply in this root's thread: a live TEXT message of this conversation that is no reply itself "
            "(else 400 `invalid_thread`).",
            **kwargs,
        )


class MessageSendSerializer(StrictSerializer):
    """Body of a new message. Unknown fields are refused."""

    content = ContentField(required=False, clean=lambda value: value)
    client_msg_id = ClientMsgIdField()
    file_ids = FileIdsField()
    thread_id = ThreadIdField()
    also_in_channel = StrictBooleanField(
        required=False,
        allow_null=True,
        help_text="A reply shown in the channel view too (thread_roots_only): `true` or `false` (a JSON boolean); "
        "default false.",
    )

    def validate(self, attrs):
        has_files = bool(attrs.get("file_ids"))
        if "content" not in attrs and not has_files:
            raise serializers.ValidationError({"content": ["This field is required."]})
        try:
            attrs["content"] = validation.clean_send_content(attrs.get("content"), has_files=has_files)
        except errors.ValidationFailed as exc:
            raise serializers.ValidationError({"content": exc.fields.get("content") or [exc.message]}) from exc
        return attrs


class MessageEditSerializer(StrictSerializer):
    """Body of an edit: the new content only. Unknown fields are refused. An empty text
    passes here: the service refuses it unless the message carries files."""

    content = ContentField(clean=functools.partial(validation.clean_edit_content, has_files=True))


# --- Output shapes, for the OpenAPI schema only (message_to_api builds the JSON) ---


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField(help_text="One Unicode emoji (fully qualified; skin tones and ZWJ sequences kept).")
    count = serializers.IntegerField()
    user_ids = serializers.ListField(child=serializers.UUIDField(), help_text="In order of reacting.")

    class Meta:
        ref_name = "Reaction"


class _MessageOutBase(serializers.Serializer):
    id = serializers.CharField(help_text="24 hex characters (a MongoDB ObjectId).")
    seq = serializers.IntegerField(
        help_text="Per-conversation position: strictly increases in conversation order; a gap is a message "
        "never stored or deleted."
    )
    sender_id = serializers.UUIDField(allow_null=True, help_text="Null only for a SYSTEM message without an actor.")
    content = serializers.CharField()
    type = serializers.ChoiceField(choices=[t.value for t in MessageType])
    created_at = serializers.DateTimeField(
        help_text="Server time, UTC with milliseconds, e.g. 2026-11-24T09:15:02.123Z."
    )
    edited_at = serializers.DateTimeField(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    files = FileSerializer(many=True, help_text="The files it carries (send with file_ids), else [].")
    # Issue 17.
    thread_id = serializers.CharField(allow_null=True, help_text="A reply: its root's id; else null.")
    also_in_channel = serializers.BooleanField(help_text="A reply also shown in the channel view.")
    reply_count = serializers.IntegerField(
        required=False, help_text="Not on replies. The root's visible replies (deleting one lowers it)."
    )
    reply_users = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        help_text="Not on replies. Up to 5 user ids of the most recent repliers, most recent first.",
    )
    last_reply_at = serializers.DateTimeField(
        allow_null=True, required=False, help_text="Not on replies. The newest visible reply's created_at."
    )
    deleted = serializers.BooleanField(
        help_text="True only for a tombstone: a deleted root that still has replies (empty content, no files, "
        "reactions, mentions or pin)."
    )
    reactions = ReactionSerializer(many=True, help_text="In order of first use.")
    mentions = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Members of the workspace mentioned with <@USER_ID> or @username (outside code), computed at "
        "send and at edit.",
    )
    mentions_channel = serializers.BooleanField(help_text="<!channel>, <!here>, @channel or @here (outside code).")
    pinned_at = serializers.DateTimeField(allow_null=True)
    pinned_by = serializers.UUIDField(allow_null=True)


class ChannelMessageSerializer(_MessageOutBase):
    channel_id = serializers.UUIDField()

    class Meta:
        ref_name = "ChannelMessage"


class DmMessageSerializer(_MessageOutBase):
    conversation_id = serializers.UUIDField()

    class Meta:
        ref_name = "DmMessage"


class _HistoryBase(serializers.Serializer):
    has_more = serializers.BooleanField(
        help_text="Whether another page exists in the direction asked (for the default page: older)."
    )
    before_cursor = serializers.CharField(help_text="Pass as ?before= for the page just older than this one.")
    after_cursor = serializers.CharField(
        help_text="Pass as ?after= for the page just newer; keep the last one to fetch everything sent since."
    )


class ChannelHistorySerializer(_HistoryBase):
    results = ChannelMessageSerializer(many=True, help_text="Oldest first.")

    class Meta:
        ref_name = "ChannelMessagePage"


class DmHistorySerializer(_HistoryBase):
    results = DmMessageSerializer(many=True, help_text="Oldest first.")

    class Meta:
        ref_name = "DmMessagePage"
