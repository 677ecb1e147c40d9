"""Highlights: where the terms of a query occur in a message's content, as
[start, end) offsets in Unicode code points (Python str indices, so an astral
character such as an emoji counts as one), merged and sorted.

Matching folds case and accents as the index does (PostgreSQL's unaccent where it
differs from Unicode's decomposition: search.unaccent_folds; else NFKD, combining marks
dropped; casefold), mapping every folded character back to the code point it came from.
"""

import bisect
import re
import unicodedata

import regex

from search.query import ParsedQuery
from search.unaccent_folds import UNACCENT_FOLDS

MAX_HIGHLIGHTS = 50
# How to draw an emoji, not which: "❤️" and "❤" match each other (search.backends.postgres).
_VARIATION_SELECTORS = ("\ufe0e", "\ufe0f")
_GRAPHEME = regex.compile(r"\X")


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        unaccented = UNACCENT_FOLDS.get(char)
        if unaccented is not None:  # as the index folds it ("ø" -> "o", a curly apostrophe -> "'")
            folded.extend(unaccented)
            origin.extend([index] * len(unaccented))
            continue
        for piece in unicodedata.normalize("NFKD", char):
            if unicodedata.combining(piece) or piece in _VARIATION_SELECTORS:
                continue
            for out in piece.casefold():
                folded.append(out)
                origin.append(index)
    return "".join(folded), origin


def _graphemes(content: str) -> list[int]:
    """The offsets where the user-perceived characters (grapheme clusters) of `content`
    start, and its length: a highlight snaps outwards to them, so it never cuts one in
    two (a decomposed accent, U+0301 of "cafe\u0301"; a variation selector or a skin tone
    of an emoji, "❤\ufe0f", "👍🏽"; a ZWJ sequence, "❤\ufe0f\u200d🔥")."""
    return [match.start() for match in _GRAPHEME.finditer(content)] + [len(content)]


def fold(text: str) -> str:
    return _fold_with_map(text)[0]


def highlights(content: str, query: ParsedQuery) -> list[list[int]]:
    """[[start, end], ...] of every positive term of `query` in `content`; a word term
    highlights the whole word it is the prefix of."""
    folded, origin = _fold_with_map(content)
    spans: list[tuple[int, int]] = []
    for term in query.positive_terms:
        needle = fold(term.text)
        if not needle:
            continue
        if term.kind == "word":
            pattern = re.compile(r"(?<![^\W_])" + re.escape(needle) + r"[^\W_]*")
        elif term.kind == "phrase":
            pattern = re.compile(r"\s+".join(re.escape(part) for part in needle.split()))
        else:
            pattern = re.compile(re.escape(needle))
        for match in pattern.finditer(folded):
            if match.end() > match.start():
                spans.append((origin[match.start()], origin[match.end() - 1] + 1))
            if len(spans) > MAX_HIGHLIGHTS * 4:
                break
    if spans:
        bounds = _graphemes(content)
        spans = [
            (bounds[bisect.bisect_right(bounds, start) - 1], bounds[bisect.bisect_left(bounds, end)])
            for start, end in spans
        ]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged[:MAX_HIGHLIGHTS]
