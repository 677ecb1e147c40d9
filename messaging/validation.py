"""Pure input rules for messages, shared by the REST serializers and the services.

The WebSocket consumer calls the services with raw JSON values, so every rule lives
here once, as a plain function that either returns the clean value or raises
`slackclone.errors.ValidationFailed` (400) / `NotFound` (404). Nothing here touches a
store, and nothing returned from here can be a dict, list or operator: only `str` and
`int` values ever reach a MongoDB query.
"""

import re
from uuid import UUID

import emoji as emoji_lib

from slackclone import errors, text

CONTENT_MAX_LENGTH = 4000
CLIENT_MSG_ID_MAX_LENGTH = 64
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
EMOJI_MAX_LENGTH = 64  # characters of the raw value (the longest ZWJ sequences have ~10)

# client_msg_id: printable ASCII without space (0x21-0x7E). A client typically uses a
# UUID or a counter; restricting the alphabet keeps the value safe to log, to compare
# byte-for-byte and to echo in error frames, with no Unicode normalisation questions.
_CLIENT_MSG_ID = re.compile(r"[\x21-\x7e]{1,%d}" % CLIENT_MSG_ID_MAX_LENGTH)  # noqa: UP031 (regex braces)
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
_LIMIT = re.compile(r"[0-9]{1,4}")


def _invalid(field: str, text: str, *, code: str = "invalid") -> errors.ValidationFailed:
    return errors.ValidationFailed(text, fields={field: [text]}, code=code)


def clean_content(value: object, *, field: str = "content") -> str:
    """The message text to store: a string that, with `\\r\\n` and lone `\\r` normalised to
    `\\n` and trimmed of surrounding whitespace, has 1-4000 characters (code points) and no
    control character other than \\n and \\t (slackclone.text's multi-line rule)."""
    if not isinstance(value, str):
        raise _invalid(field, "Must be a string.")
    value = text.normalize_newlines(value)
    if (problem := text.control_character_error(value, multiline=True)) is not None:
        raise _invalid(field, problem)
    content = value.strip()
    if not content:
        raise _invalid(field, "Must not be empty.")
    if len(content) > CONTENT_MAX_LENGTH:
        raise _invalid(field, f"Must be at most {CONTENT_MAX_LENGTH} characters after trimming.")
    return content


def clean_send_content(value: object, *, has_files: bool, field: str = "content") -> str:
    """A new message's text: as clean_content, except that a message carrying files
    (issue 20) may have none: missing (None), "" or only whitespace give ""."""
    if has_files and (value is None or (isinstance(value, str) and not value.strip())):
        return ""
    return clean_content(value, field=field)


def clean_edit_content(value: object, *, has_files: bool, field: str = "content") -> str:
    """An edit's text: as clean_content, except that a message carrying files may lose
    its text ("" or only whitespace give ""), as it could be sent without any."""
    if has_files and isinstance(value, str) and not value.strip():
        return ""
    return clean_content(value, field=field)


def clean_client_msg_id(value: object, *, field: str = "client_msg_id") -> str | None:
    """None (no id given) or 1-64 characters of printable ASCII without space."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "Must be a string.")
    if not _CLIENT_MSG_ID.fullmatch(value):
        raise _invalid(field, f"Must be 1-{CLIENT_MSG_ID_MAX_LENGTH} characters of printable ASCII without spaces.")
    return value


def clean_limit(value: object, *, field: str = "limit") -> int:
    """A history page size: absent -> 50; else an integer from 1 to 200."""
    if value is None:
        return HISTORY_DEFAULT_LIMIT
    if isinstance(value, bool):
        raise _invalid(field, f"Must be an integer from 1 to {HISTORY_MAX_LIMIT}.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _LIMIT.fullmatch(value):
        number = int(value)
    else:
        raise _invalid(field, f"Must be an integer from 1 to {HISTORY_MAX_LIMIT}.")
    if not 1 <= number <= HISTORY_MAX_LIMIT:
        raise _invalid(field, f"Must be an integer from 1 to {HISTORY_MAX_LIMIT}.")
    return number


def clean_message_id(value: object) -> str:
    """A message id (24 hex characters, an ObjectId), lower-cased. Anything else cannot
    name a message, so it is a 404, like an unknown id."""
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise errors.NotFound("Message not found.")
    return value.lower()


def clean_uuid(value: object, *, field: str, not_found: str) -> str:
    """A channel or conversation id in canonical form (lower-case, hyphenated), which is
    how it is stored in MongoDB. A string that is not a UUID cannot name anything: 404;
    a value that is not even a string is bad input: 400."""
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise _invalid(field, "Must be a UUID string.")
    try:
        return str(UUID(value))
    except ValueError as exc:
        raise errors.NotFound(not_found) from exc


def is_uuid(value: object) -> bool:
    """Whether `value` is a string naming a UUID."""
    try:
        UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def clean_bool_param(value: object, *, field: str) -> bool:
    """A boolean query parameter: absent, "true"/"false" (also 1/0); else 400."""
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise _invalid(field, 'Must be "true" or "false".')


# Slack's shortcode of a skin tone, after the emoji's own: `:+1::skin-tone-2:` is 👍🏻.
# Tones 2-6 are Unicode's five modifiers, U+1F3FB (light) to U+1F3FF (dark).
_SKIN_TONE_SHORTCODE = re.compile(r"(:[^:\s]+:):skin-tone-([2-6]):")


def _slack_skin_tone(value: str) -> str:
    """`:name::skin-tone-N:` -> the emoji of `:name:` with its skin tone modifier (the
    result is validated as any other: an emoji that takes no tone stays invalid)."""
    match = _SKIN_TONE_SHORTCODE.fullmatch(value)
    if match is None:
        return value
    base = emoji_lib.emojize(match.group(1), language="alias").replace("\ufe0f", "")
    return base + chr(0x1F3FB + int(match.group(2)) - 2)


def clean_emoji(value: object, *, field: str = "emoji") -> str:
    """One emoji (Unicode or `:shortcode:`) -> its fully-qualified Unicode form; anything
    else (text, two emoji, an unknown shortcode, a lone modifier) is 400 `invalid_emoji`
    naming `field`. The rule of reactions and of a user's `status_emoji` (issue 18)."""
    text = "Must be one emoji or a :shortcode:."
    if not isinstance(value, str) or not 0 < len(value) <= EMOJI_MAX_LENGTH:
        raise errors.ValidationFailed(text, fields={field: [text]}, code="invalid_emoji")
    candidate = emoji_lib.emojize(_slack_skin_tone(value.strip()), language="alias")
    if not emoji_lib.is_emoji(candidate):
        # A form some keyboards and clients send: over-qualified (👍 + U+FE0F) or asking
        # for text presentation (☺ + U+FE0E). The same emoji once its variation selectors
        # go, qualified again below: one reaction whichever form was sent.
        candidate = candidate.replace("\ufe0f", "").replace("\ufe0e", "")
        if not candidate or not emoji_lib.is_emoji(candidate):
            raise errors.ValidationFailed(text, fields={field: [text]}, code="invalid_emoji")
    if emoji_lib.EMOJI_DATA.get(candidate, {}).get("status") == emoji_lib.STATUS["fully_qualified"]:
        return candidate
    # Through its name and back: the fully-qualified form (❤ -> ❤️), kept only if it is
    # the same sequence up to variation selectors. (The round trip through the English
    # names used before turned some fully-qualified emoji into others: 📅 -> 📆.)
    normalized = emoji_lib.emojize(emoji_lib.demojize(candidate, language="alias"), language="alias")
    if emoji_lib.is_emoji(normalized) and normalized.replace("\ufe0f", "") == candidate.replace("\ufe0f", ""):
        return normalized
    return candidate
