"""Pure input rules of files: names and id lists."""

import unicodedata
from uuid import UUID

from slackclone import errors

NAME_MAX_LENGTH = 255  # characters; also the column's size
NAME_MAX_BYTES = 255  # UTF-8 bytes: what most filesystems accept for one name
DEFAULT_NAME = "file"
FILE_IDS_MAX = 10

# Bidirectional controls (RLO/LRO/PDF/isolates, LRM/RLM/ALM) let "exe.txt" read as
# "txt.exe"; Cf covers them and the other invisible format characters.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SEPARATORS = "/\\"


def clean_file_name(value: object) -> str:
    """A name safe to store, show and put in Content-Disposition: the last path segment
    of the client's name (both separators), NFC-normalised, without control, format
    (bidi overrides included), unassigned or private-use characters, whitespace
    collapsed, no leading dots (no hidden files, no "..") and at most 255 characters
    and 255 UTF-8 bytes, cut before the extension so that it survives. Empty -> "file".
    Never raises: a name is a label, never a reason to refuse an upload."""
    text = value if isinstance(value, str) else ""
    for sep in _SEPARATORS:
        text = text.rsplit(sep, 1)[-1]
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        " " if char.isspace() else char for char in text if unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    text = " ".join(text.split()).lstrip(".").strip()
    if not text:
        return DEFAULT_NAME
    return _shorten(text)


def _shorten(text: str) -> str:
    def fits(candidate: str) -> bool:
        return len(candidate) <= NAME_MAX_LENGTH and len(candidate.encode()) <= NAME_MAX_BYTES

    if fits(text):
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = text, ""
    suffix = f".{ext}" if ext else ""
    while stem and not fits(stem + suffix):
        stem = stem[:-1]
    return (stem + suffix) if stem else DEFAULT_NAME


def clean_file_id(value: object, *, not_found: str = "File not found.") -> str:
    """A file id from a path: canonical UUID string, anything else 404."""
    try:
        return str(UUID(str(value)))
    except (TypeError, ValueError, AttributeError):
        raise errors.NotFound(not_found, code="file_not_found") from None


def clean_file_ids(value: object, *, field: str = "file_ids") -> list[str]:
    """None or [] -> []; else 1-10 distinct UUID strings (duplicates folded), 400 otherwise."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.ValidationFailed("Must be a list of file ids.", fields={field: ["Must be a list of file ids."]})
    ids: list[str] = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError
            ids.append(str(UUID(item)))
        except ValueError:
            raise errors.ValidationFailed("Not a file id.", fields={field: ["Every item must be a file id."]}) from None
    ids = list(dict.fromkeys(ids))
    if len(ids) > FILE_IDS_MAX:
        text = f"At most {FILE_IDS_MAX} files per message."
        raise errors.ValidationFailed(text, fields={field: [text]})
    return ids
