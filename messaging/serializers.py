"""Message JSON out (`message_to_api`, also used by the WebSocket consumer) and the
input serializers of the REST API. Input rules are the ones in messaging.validation,
which the services apply again for callers that bypass these serializers."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from files.serializers import FileSerializer, file_entry_to_api
from messaging import validation
from messaging.documents import MessageDocument, MessageType
from slackclone import errors
from slackclone.api.fields import format_time
from slackclone.api.serializers import StrictSerializer


def message_to_api(message: MessageDocument) -> dict:
    """A Message as the API shows it (REST answers and realtime events alike)."""
    return {
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
                "(the trimmed text is stored). Line feeds and tabs are allowed; other control characters are not."
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


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 1, "maxItems": 10})
class FileIdsField(_RawField):
    def __init__(self, **kwargs):
        from files.validation import clean_file_ids

        super().__init__(
            clean=clean_file_ids,
            required=False,
            help_text="1-10 ids of the caller's own uploads (POST /files) to attach; `content` may then be empty "
            '("" or left out).',
            **kwargs,
        )


class MessageSendSerializer(StrictSerializer):
    """Body of a new message. Unknown fields are refused."""

    content = ContentField(required=False, clean=lambda value: value)
    client_msg_id = ClientMsgIdField()
    file_ids = FileIdsField()

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
    """Body of an edit: the new content only. Unknown fields are refused."""

    content = ContentField()


# --- Output shapes, for the OpenAPI schema only (message_to_api builds the JSON) ---


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
