"""Input serializers that refuse what a careful API refuses: unknown fields and
values of the wrong JSON type (DRF's CharField would turn 123 into "123")."""

from rest_framework import serializers


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
