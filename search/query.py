"""The search query language of GET /search/messages (API.md "Search"), parsed into
plain values; no SQL here (a backend turns a ParsedQuery into its own query).

    deploy "release notes" -staging from:@alice in:#ops after:2024-01-31 has:link

- A *word* (letters and digits only, no CJK) matches case- and accent-insensitively
  as a prefix of a word of the message (`deploy` finds `deployment`, `Deploy`,
  `déploy`).
- Any other *term* (`foo-bar`, `v1.2.3`, `snake_case`, a URL or part of one, emoji,
  code, Chinese or Japanese text) matches as a case- and accent-insensitive substring.
- `"a phrase"` matches its words in order (a substring of the folded text).
- `-word`, `-"a phrase"` exclude.
- Operators: from:@user, in:#channel, in:@user, before:/after:/on: YYYY-MM-DD (UTC;
  before is exclusive of the day, after too, on is the day), has:link|file|pin,
  is:thread. Any other `name:value` with a letters-only name is 400 `invalid_query`,
  except a URL (`https://...`).

Limits (hostile input answers 400 `invalid_query`, never a slow query): the whole
query at most QUERY_MAX_LENGTH characters, at most TERMS_MAX terms and
OPERATORS_MAX operators, no control characters (NUL included).
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from slackclone import errors

QUERY_MAX_LENGTH = 500
TERMS_MAX = 16
OPERATORS_MAX = 16
TERM_MAX_LENGTH = 100

# Scripts written without spaces: matched as substrings, never as words.
_NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff"
    "\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f]"
)
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_OPERATOR = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_USERNAME = re.compile(r"@?([\w.+-][\w.@+-]{0,149})")
_CHANNEL = re.compile(r"#?([^\s#]{1,80})")
_EDGE_PUNCTUATION = ",;:!?()[]{}<>\"'`"
HAS_VALUES = ("link", "file", "pin")
IS_VALUES = ("thread",)
OPERATOR_NAMES = ("from", "in", "before", "after", "on", "has", "is")


@dataclass(frozen=True, slots=True)
class Term:
    """`text` as typed (stripped of quotes and the leading `-`)."""

    text: str
    kind: str  # "word" (prefix of a word), "substring", "phrase"
    exclude: bool = False


@dataclass(slots=True)
class ParsedQuery:
    terms: list[Term] = field(default_factory=list)
    from_users: list[str] = field(default_factory=list)  # usernames
    in_channels: list[str] = field(default_factory=list)  # channel names
    in_dms: list[str] = field(default_factory=list)  # usernames of the DM's other user
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    has: set[str] = field(default_factory=set)
    is_: set[str] = field(default_factory=set)

    @property
    def positive_terms(self) -> list[Term]:
        return [term for term in self.terms if not term.exclude]

    @property
    def is_empty(self) -> bool:
        return not (
            self.terms
            or self.from_users
            or self.in_channels
            or self.in_dms
            or self.created_from
            or self.created_before
            or self.has
            or self.is_
        )


def invalid_query(text: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(text, fields={"q": [text]}, code="invalid_query")


def is_word(text: str) -> bool:
    """True for what the index's word vector holds as one word: letters and digits only,
    in a script written with spaces."""
    return bool(_WORD.fullmatch(text)) and not _NO_SPACE_SCRIPTS.search(text)


def _day(value: str, operator: str) -> datetime:
    if not _DAY.fullmatch(value):
        raise invalid_query(f"{operator}: takes a date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise invalid_query(f"{operator}: takes a date as YYYY-MM-DD.") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_day(day: datetime) -> datetime:
    """The day after `day`; past the last representable day (9999-12-31), the latest
    representable instant (no message is that late, so the bound still holds)."""
    try:
        return day + timedelta(days=1)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _later(current: datetime | None, value: datetime) -> datetime:
    return value if current is None else max(current, value)


def _earlier(current: datetime | None, value: datetime) -> datetime:
    return value if current is None else min(current, value)


def _term(text: str, *, exclude: bool, phrase: bool) -> Term | None:
    text = unicodedata.normalize("NFC", text).strip()
    if phrase:
        text = " ".join(text.split())
    if not text or (exclude and text == ""):
        return None
    if len(text) > TERM_MAX_LENGTH:
        raise invalid_query(f"A search term has at most {TERM_MAX_LENGTH} characters.")
    if phrase and " " in text:
        return Term(text, "phrase", exclude)
    return Term(text, "word" if is_word(text) else "substring", exclude)


def _operator(parsed: ParsedQuery, name: str, value: str) -> None:
    key = name.lower()
    if key == "from":
        match = _USERNAME.fullmatch(value)
        if not match:
            raise invalid_query("from: takes @username.")
        parsed.from_users.append(match.group(1))
    elif key == "in":
        if value.startswith("@"):
            match = _USERNAME.fullmatch(value)
            if not match:
                raise invalid_query("in: takes #channel or @username.")
            parsed.in_dms.append(match.group(1))
        else:
            match = _CHANNEL.fullmatch(value)
            if not match:
                raise invalid_query("in: takes #channel or @username.")
            parsed.in_channels.append(match.group(1).lower())
    elif key == "before":
        parsed.created_before = _earlier(parsed.created_before, _day(value, "before"))
    elif key == "after":
        parsed.created_from = _later(parsed.created_from, _next_day(_day(value, "after")))
    elif key == "on":
        day = _day(value, "on")
        parsed.created_from = _later(parsed.created_from, day)
        parsed.created_before = _earlier(parsed.created_before, _next_day(day))
    elif key == "has":
        if value.lower() not in HAS_VALUES:
            raise invalid_query(f"has: takes one of {', '.join(HAS_VALUES)}.")
        parsed.has.add(value.lower())
    elif key == "is":
        if value.lower() not in IS_VALUES:
            raise invalid_query(f"is: takes one of {', '.join(IS_VALUES)}.")
        parsed.is_.add(value.lower())
    else:
        raise invalid_query(f"Unknown operator {name}:.")


def parse_query(q: object) -> ParsedQuery:
    """`q` as typed -> ParsedQuery; 400 `invalid_query` for an unknown operator, a bad
    operator value, control characters, or a query past the limits (see module doc)."""
    if not isinstance(q, str):
        raise invalid_query("q must be a string.")
    if len(q) > QUERY_MAX_LENGTH:
        raise invalid_query(f"A search has at most {QUERY_MAX_LENGTH} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in q):
        raise invalid_query("The search contains control characters.")
    parsed = ParsedQuery()
    operators = 0
    for match in _TOKEN.finditer(q):
        if match.group(3) is None:  # a quoted phrase (an unterminated quote runs to the end)
            term = _term(match.group(2), exclude=bool(match.group(1)), phrase=True)
        else:
            token = match.group(3)
            operator = _OPERATOR.fullmatch(token)
            if operator and not operator.group(2) and operator.group(1).lower() in OPERATOR_NAMES:
                # `from:` with nothing after it: an operator left unfinished, not the word "from".
                _operator(parsed, operator.group(1), "")
            if operator and operator.group(2) and not operator.group(2).startswith("//"):
                operators += 1
                if operators > OPERATORS_MAX:
                    raise invalid_query(f"A search has at most {OPERATORS_MAX} operators.")
                _operator(parsed, operator.group(1), operator.group(2))
                continue
            exclude = token.startswith("-") and len(token) > 1
            negated = _OPERATOR.fullmatch(token[1:]) if exclude else None
            if negated and negated.group(1).lower() in OPERATOR_NAMES and negated.group(2):
                # `-from:@bob` would otherwise exclude the text "from:@bob" and answer bob's messages.
                raise invalid_query(f"{negated.group(1)}: cannot be excluded with -.")
            text = token[1:] if exclude else token
            # Punctuation around a word is how it was written, not what is looked for.
            text = text.strip(_EDGE_PUNCTUATION).rstrip(".") or text
            term = _term(text, exclude=exclude, phrase=False)
        if term is not None:
            parsed.terms.append(term)
            if len(parsed.terms) > TERMS_MAX:
                raise invalid_query(f"A search has at most {TERMS_MAX} terms.")
    if parsed.is_empty:
        raise invalid_query("Type something to search for.")
    return parsed
