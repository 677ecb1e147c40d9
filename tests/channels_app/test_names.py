import pytest
from rest_framework import serializers

from channels_app.serializers import normalize_channel_name


@pytest.mark.parametrize(
    "raw, normalised",
    [("general", "general"), ("General", "general"), ("a", "a"), ("dev_ops-2", "dev_ops-2"), ("X" * 80, "x" * 80)],
)
def test_channel_names_are_lower_cased(raw, normalised):
    assert normalize_channel_name(raw) == normalised


@pytest.mark.parametrize("raw", ["", "x" * 81, "with space", "dot.ted", "ünïcode", "\u212a", "tab\t", "new\n", "a/b"])
def test_invalid_channel_names_are_refused(raw):
    with pytest.raises(serializers.ValidationError):
        normalize_channel_name(raw)
