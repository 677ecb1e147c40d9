"""The rules for the two kinds of free text the API takes, written once and used by every
REST serializer, the WebSocket frames and the services (see `slackclone.api.serializers`
for the DRF fields built on them).

- Multi-line text (message `content`, channel `description` and `topic`): `\\r\\n` and a
  lone `\\r` (text pasted from Windows or old Mac editors) are normalised to `\\n` first;
  then line feed and tab are the only control characters allowed.
- Single-line text (usernames aside, which have their own alphabet: display names,
  status text, workspace names, device names, a WebSocket `request_id`): no control
  character at all, a newline or tab included.

"Control character" means the Unicode category Cc (NUL, CR, ESC, DEL, C1 controls such
as NEL...) plus lone surrogates (Cs), which JSON can encode but no store can: they are
not text.
"""

import unicodedata

MULTILINE_CONTROLS = frozenset("\n\t")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})

MULTILINE_HELP = (
    "`\\r\\n` and a lone `\\r` are stored as `\\n`; line feeds and tabs are allowed, other control characters are not."
)
SINGLE_LINE_HELP = "No control characters (no line breaks or tabs either)."


def normalize_newlines(value: str) -> str:
    """`\\r\\n` and a lone `\\r` -> `\\n` (applied to multi-line text before validating it)."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def control_character_error(value: str, *, multiline: bool) -> str | None:
    """The human text of the first refused character of `value` ("Must not contain the
    control character U+0007."), or None when it has none. `multiline`: \\n and \\t are
    allowed (call `normalize_newlines` first)."""
    allowed = MULTILINE_CONTROLS if multiline else frozenset()
    for char in value:
        if char not in allowed and unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"Must not contain the control character U+{ord(char):04X}."
    return None
