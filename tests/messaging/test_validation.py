"""Unit tests of the pure input rules shared by the serializers and the services."""

import uuid

import emoji as emoji_lib
import pytest

from messaging import validation
from slackclone import errors


class TestCleanContent:
    def test_trims_surrounding_whitespace_and_keeps_inner_newlines_and_tabs(self):
        assert validation.clean_content("  hi\n\tthere \n") == "hi\n\tthere"

    def test_accepts_exactly_4000_characters_after_trimming(self):
        assert validation.clean_content("  " + "x" * 4000 + "  ") == "x" * 4000

    def test_counts_characters_not_bytes(self):
        assert validation.clean_content("é" * 4000) == "é" * 4000

    def test_keeps_emoji_joiners_and_other_format_characters(self):
        family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
        assert validation.clean_content(family) == family

    @pytest.mark.parametrize("value", ["", "   ", "\n\t \n", "\u3000"])
    def test_refuses_empty_after_trimming(self, value):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_content(value)
        assert info.value.fields == {"content": ["Must not be empty."]}

    def test_refuses_4001_characters(self):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_content("x" * 4001)
        assert "content" in info.value.fields

    @pytest.mark.parametrize("value", [None, 5, 1.5, True, ["a"], {"$gt": ""}, {"content": "x"}])
    def test_refuses_values_that_are_not_strings(self, value):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_content(value)
        assert info.value.fields == {"content": ["Must be a string."]}

    @pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\x0b", "\x0c", "\x1f", "\ud800"])
    def test_refuses_control_characters_and_lone_surrogates(self, char):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_content(f"a{char}b")
        assert f"U+{ord(char):04X}" in info.value.fields["content"][0]

    def test_refuses_control_characters_even_where_trimming_would_remove_them(self):
        with pytest.raises(errors.ValidationFailed):
            validation.clean_content("hello\x07")

    @pytest.mark.parametrize(
        ("raw", "stored"),
        [("a\r\nb", "a\nb"), ("a\rb", "a\nb"), ("a\r\r\nb", "a\n\nb"), ("a\tb\r\nc\r\n", "a\tb\nc"), ("\r\nx", "x")],
    )
    def test_normalises_windows_and_old_mac_line_breaks_to_line_feeds(self, raw, stored):
        assert validation.clean_content(raw) == stored


class TestCleanEmoji:
    def test_every_fully_qualified_emoji_is_stored_as_itself(self):
        fully_qualified = emoji_lib.STATUS["fully_qualified"]
        changed = [
            value
            for value, data in emoji_lib.EMOJI_DATA.items()
            if data["status"] == fully_qualified and validation.clean_emoji(value) != value
        ]
        assert changed == []

    def test_a_minimally_qualified_emoji_gets_its_variation_selector(self):
        assert validation.clean_emoji("\u2764") == "\u2764\ufe0f"


class TestCleanClientMsgId:
    def test_none_means_no_id(self):
        assert validation.clean_client_msg_id(None) is None

    @pytest.mark.parametrize("value", ["a", "x" * 64, str(uuid.uuid4()), "msg-1:retry_2/~!"])
    def test_accepts_1_to_64_printable_ascii_characters(self, value):
        assert validation.clean_client_msg_id(value) == value

    @pytest.mark.parametrize("value", ["", "x" * 65, "has space", "tab\t", "é", "nul\x00", "\x7f"])
    def test_refuses_other_strings(self, value):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_client_msg_id(value)
        assert "client_msg_id" in info.value.fields

    @pytest.mark.parametrize("value", [1, True, {"$ne": None}, ["a"]])
    def test_refuses_values_that_are_not_strings(self, value):
        with pytest.raises(errors.ValidationFailed):
            validation.clean_client_msg_id(value)


class TestCleanLimit:
    def test_defaults_to_50(self):
        assert validation.clean_limit(None) == 50

    @pytest.mark.parametrize(("value", "expected"), [("1", 1), ("200", 200), (7, 7), ("050", 50)])
    def test_accepts_1_to_200(self, value, expected):
        assert validation.clean_limit(value) == expected

    @pytest.mark.parametrize("value", ["0", "201", "-1", "", "abc", "1.5", "1e2", " 5", "+5", 0, True, {"$gt": 0}])
    def test_refuses_the_rest(self, value):
        with pytest.raises(errors.ValidationFailed) as info:
            validation.clean_limit(value)
        assert "limit" in info.value.fields


class TestCleanMessageId:
    def test_accepts_24_hex_characters_and_lower_cases_them(self):
        assert validation.clean_message_id("ABCDEF0123456789abcdef01") == "abcdef0123456789abcdef01"

    @pytest.mark.parametrize("value", ["", "abc", "g" * 24, "a" * 25, {"$ne": 1}, None, "$where", "a" * 23 + "\n"])
    def test_anything_else_is_not_found(self, value):
        with pytest.raises(errors.NotFound):
            validation.clean_message_id(value)


class TestCleanUuid:
    def test_canonicalises(self):
        value = uuid.uuid4()
        assert validation.clean_uuid(str(value).upper(), field="channel_id", not_found="x") == str(value)
        assert validation.clean_uuid(value, field="channel_id", not_found="x") == str(value)

    def test_a_string_that_is_not_a_uuid_is_not_found(self):
        with pytest.raises(errors.NotFound):
            validation.clean_uuid("nope", field="channel_id", not_found="Channel not found.")

    def test_a_value_that_is_not_a_string_is_invalid(self):
        with pytest.raises(errors.ValidationFailed):
            validation.clean_uuid({"$ne": None}, field="channel_id", not_found="x")
