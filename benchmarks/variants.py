"""The same questions typed the ways people type Persian, to measure robustness as well as averages.

Each variant rewrites a question deterministically:

- ``no ZWNJ``: every ZWNJ left out («می‌شود» → «میشود»);
- ``ZWNJ as space``: every ZWNJ typed as a space («می شود»);
- ``Arabic letters``: ی and ک typed as Arabic ي and ك (a Windows Arabic layout);
- ``diacritics``: a kasra or fatha on the first letter of every longer word, and «ٔ» after a final ه
  followed by another word («خانهٔ ما»);
- ``colloquial``: question words spoken rather than written («چیست» → «چیه», «کیست» → «کیه»,
  «چه کسی» → «کی», «است؟» → «هست؟», «چگونه» → «چطوری», «کجاست» → «کجاس»);
- ``typo``: one letter dropped from the middle of the question's longest word.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["VARIANTS"]

_ZWNJ = "\u200c"
_WORD = re.compile(r"[^\W\d_]+")
_COLLOQUIAL = [
    (re.compile(r"\bچیست\b"), "چیه"),
    (re.compile(r"\bکیست\b"), "کیه"),
    (re.compile(r"\bچه کسی\b"), "کی"),
    (re.compile(r"\bچه کسانی\b"), "کیا"),
    (re.compile(r"\bچگونه\b"), "چطوری"),
    (re.compile(r"\bکجاست\b"), "کجاس"),
    (re.compile(r"\bاست(?=\s*[؟?]?\s*$)"), "هست"),
    (re.compile(r"\bمی‌باشد\b"), "هست"),
]


def _diacritics(text: str) -> str:
    marks = iter("\u0650\u064e" * 200)
    text = re.sub(r"(?<=[^\W\d_]{2})ه (?=[^\W\d_])", "هٔ ", text, count=2)
    return _WORD.sub(lambda m: m.group()[0] + next(marks) + m.group()[1:] if len(m.group()) >= 4 else m.group(), text)


def _colloquial(text: str) -> str:
    for pattern, spoken in _COLLOQUIAL:
        text = pattern.sub(spoken, text)
    return text


def _typo(text: str) -> str:
    words = _WORD.findall(text)
    if not words:
        return text
    longest = max(words, key=len)
    if len(longest) < 5:
        return text
    middle = len(longest) // 2
    return text.replace(longest, longest[:middle] + longest[middle + 1 :], 1)


VARIANTS: dict[str, Callable[[str], str]] = {
    "no ZWNJ": lambda q: q.replace(_ZWNJ, ""),
    "ZWNJ as space": lambda q: q.replace(_ZWNJ, " "),
    "Arabic letters": lambda q: q.replace("ی", "ي").replace("ک", "ك"),
    "diacritics": _diacritics,
    "colloquial": _colloquial,
    "typo": _typo,
}
