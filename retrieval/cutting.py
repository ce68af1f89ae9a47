"""Cutting a text too long for one sentence (or one title) into pieces, at spaces where there are any.

``cut(text, limit)`` returns pieces of at most ``limit`` characters, as even in length as the text's
spaces allow; ``head(text, limit)`` the longest such piece the text begins with. They cut, best first:

1. at a space (the space is dropped): never inside a word;
2. where a run of punctuation or symbols meets a word or lies inside one («.....», «—»): never between
   two letters, digits or marks;
3. between two graphemes (user-perceived characters: a letter and its marks, an emoji and its modifiers,
   a flag), when ``limit`` characters hold nothing but one word;
4. between two code points only when a single grapheme is longer than ``limit`` (a letter under
   thousands of marks).

The pieces joined are the text less the whitespace at the cuts and at its ends. Each piece looks at no
more than ``limit + 1`` characters, so cutting takes time linear in the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["cut", "head"]

_SPACE = re.compile(r"\s")
_SPACES = re.compile(r"\s+")

ZWNJ, ZWJ = "\u200c", "\u200d"
_PREPEND = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd")
"""Characters that belong with the one after them (Arabic number signs, «۝»): UAX #29's Prepend."""


def _extends(char: str) -> bool:
    """Whether ``char`` belongs with the character before it (UAX #29: Extend, SpacingMark, ZWJ)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in (ZWNJ, ZWJ)
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
    )


def _hangul(code: int) -> str:
    """The Hangul syllable type of a code point (UAX #29): L, V, T, LV, LVT, or empty."""
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_JOINS = {("L", "L"), ("L", "V"), ("L", "LV"), ("L", "LVT"), ("LV", "V"), ("LV", "T"), ("V", "V")}
_HANGUL_JOINS |= {("V", "T"), ("LVT", "T"), ("T", "T")}
"""Hangul jamo that make one syllable together (UAX #29, rules GB6 to GB8)."""


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _between_graphemes(text: str, at: int, start: int) -> bool:
    """Whether ``text`` may be cut before ``at`` without splitting a grapheme (``start``: the piece's start)."""
    before, after = text[at - 1], text[at]
    if _extends(after) or before == ZWJ or before in _PREPEND or (before, after) == ("\r", "\n"):
        return False
    if (_hangul(ord(before)), _hangul(ord(after))) in _HANGUL_JOINS:
        return False
    if _regional(before) and _regional(after):
        # Flags are pairs: cut after an even number of regional indicators (counted from the piece's start,
        # which is itself a cut between pairs or the start of the run).
        run = at
        while run > start and _regional(text[run - 1]):
            run -= 1
        return (at - run) % 2 == 0
    return True


def _wordy(char: str) -> bool:
    return char.isalnum() or char in (ZWNJ, ZWJ) or unicodedata.category(char)[0] == "M"


def _outside_words(text: str, at: int, start: int) -> bool:
    """Whether cutting before ``at`` splits no word: a neighbour is no letter, digit or mark (punctuation)."""
    return not (_wordy(text[at - 1]) and _wordy(text[at])) and _between_graphemes(text, at, start)


def _nearest(text: str, start: int, target: int, end: int, fits: Callable[[str, int, int], bool]) -> int:
    """The position of ``start + 1 … end`` nearest ``target`` where ``fits`` allows a cut, or 0 if none."""
    before, after = target, target + 1
    while before > start or after <= end:
        if before > start:
            if fits(text, before, start):
                return before
            before -= 1
        if after <= end:
            if fits(text, after, start):
                return after
            after += 1
    return 0


def _cut_at(text: str, start: int, target: int, end: int) -> int:
    """Where to end the piece that starts at ``start``: a position in ``start + 1 … end``, near ``target``.

    ``end`` is at most ``len(text) - 1``: a cut at a space drops that space.
    """
    spaces = [m.start() for m in _SPACE.finditer(text, start + 1, end + 1)]
    if spaces:
        return min(spaces, key=lambda at: (abs(at - target), at))
    return (
        _nearest(text, start, target, end, _outside_words)
        or _nearest(text, start, target, end, _between_graphemes)
        or target
    )


def _skip_spaces(text: str, at: int) -> int:
    match = _SPACES.match(text, at)
    return match.end() if match else at


def cut(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters (at least 1), cut at spaces where there are any."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        rest = len(text) - start
        count = -(-rest // limit)  # pieces the rest needs at least
        target = start + -(-rest // count)
        at = _cut_at(text, start, target, start + limit)
        piece = text[start:at].rstrip()
        if piece:
            pieces.append(piece)
        start = _skip_spaces(text, at)
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def head(text: str, limit: int) -> str:
    """The longest piece of at most ``limit`` characters that ``text`` begins with, cut as ``cut`` cuts."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: _cut_at(text, 0, limit, limit)].rstrip()
