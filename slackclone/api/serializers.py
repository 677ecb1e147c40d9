"""Input serializers that refuse what a careful API refuses: unknown fields and
values of the wrong JSON type (DRF's CharField would turn 123 into "123")."""

from rest_framework import serializers

from slackclone import errors, text


class StrictSerializer(serializers.Serializer):
    """Rejects a body that is not a JSON object, and any field it does not declare."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - {name for name, field in self.fields.items() if not field.read_only})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A CharField that accepts only JSON strings."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class SingleLineCharField(StrictCharField):
    """A JSON string of single-line text (names, display names, status text, device
    names...): no control character at all, see slackclone.text."""

    def to_internal_value(self, data):
        if isinstance(data, str) and (problem := text.control_character_error(data, multiline=False)):
            raise serializers.ValidationError(problem, code="invalid")
        return super().to_internal_value(data)


class MultiLineCharField(StrictCharField):
    """A JSON string of multi-line text (a channel's description and topic): `\\r\\n` and a
    lone `\\r` become `\\n`, then only `\\n` and `\\t` of the control characters are allowed,
    the rule message content follows (see slackclone.text)."""

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str):
            data = text.normalize_newlines(data)
        return super().run_validation(data)

    def to_internal_value(self, data):
        if isinstance(data, str) and (problem := text.control_character_error(data, multiline=True)):
            raise serializers.ValidationError(problem, code="invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: `true` or `false` only. DRF's BooleanField also takes "yes", "1",
    1, "true"..., which a careful API refuses (the same value must mean the same thing
    over REST and the WebSocket, where frames are checked with this very field through
    `clean_value`)."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def clean_value(field: serializers.Field, value, *, name: str):
    """Run one serializer field on a raw JSON value outside a serializer (the WebSocket
    frames, services given raw values): the clean value, or ValidationFailed (400
    `invalid`) with `fields` {name: [texts]}, the very texts REST answers."""
    try:
        return field.run_validation(value)
    except serializers.ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, list) else [exc.detail]
        texts = [str(item) for item in detail]
        raise errors.ValidationFailed(texts[0], fields={name: texts}) from exc
