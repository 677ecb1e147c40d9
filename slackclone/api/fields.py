from datetime import UTC, datetime

from rest_framework import serializers


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as the contract wants."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TimeField(serializers.DateTimeField):
    """A read-only time in the API's format: 2026-11-24T09:15:02.123Z."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return format_time(value)
