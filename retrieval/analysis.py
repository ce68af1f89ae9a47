"""Analysis: the terms a sentence is indexed under and a question is searched with.

One function, ``terms``, serves both sides, so sentences and questions can never be analysed
differently. From the folded text (``retrieval.normalize.fold``) it emits three kinds of term:

- each word («کتابها»);
- each word's stem, prefixed with ``~`` («~کتاب»), so «کتاب» finds «کتاب‌ها»;
- each pair of neighbouring words joined («فرمودهاند» from «فرموده اند»): a ZWNJ typed as a space (or
  left out) still meets the compound written as one word, and words adjacent in the question reward the
  sentence that has them adjacent too.

Questions drop their question words («چیست», «کیه», «کدام» …) first: they say what is asked, not what
the answer sentence contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from retrieval.normalize import fold

if TYPE_CHECKING:
    import hazm

__all__ = ["content_words", "question_terms", "question_words", "recipe", "stems", "terms", "words"]

_WORD = re.compile(r"[^\W_]+")

STEM_PREFIX = "~"

# Words that ask rather than tell, formal and colloquial, folded. Never searched for.
QUESTION_WORDS = frozenset(
    fold(w)
    for w in """
    کیست کیه کی‌ها کیا کسی چه‌کسی چیست چیه چی چیا چه چها چگونه چطور چطوری چجوری چرا برای‌چه کجا کجاست
    کجاس کجای کجان کجاها کدام کدوم کدامین کدومش کدامیک چند چندم چندمین چندتا چقدر چقد چقدره کی آیا مگر
    مگه است هست هستن هستند بود بودند بوده میباشد می‌باشد نام اسم بگو بگید بگویید بفرمایید لطفا لطفاً
    """.split()
)

# Greetings and courtesies: a message made only of these is small talk, not a question.
COURTESIES = frozenset(
    fold(w)
    for w in """
    سلام درود علیک خداحافظ خدانگهدار بدرود مرسی ممنون ممنونم متشکرم تشکر سپاس سپاسگزارم خسته نباشید
    خوبی خوبید خوبین چطوری چطورین صبح بخیر شب عصر روز وقت ظهر hi hello hey thanks thx ok okay بله نه
    آره باشه اوکی
    """.split()
)


@cache
def _stopwords() -> frozenset[str]:
    import hazm

    return frozenset(fold(w).replace("_", "") for w in hazm.stopwords_list())


@cache
def _stemmer() -> hazm.Stemmer:
    import hazm

    return hazm.Stemmer()


@cache
def _stem(word: str) -> str:
    # hazm's stemmer is rule-based Python: one call per distinct word, cached.
    if word.isdigit() or len(word) < 3:
        return word
    return _stemmer().stem(word) or word


def words(text: str) -> list[str]:
    """Return the folded words of ``text`` in order."""
    return _WORD.findall(fold(text))


def _expand(ws: list[str]) -> list[str]:
    out = list(ws)
    out.extend(STEM_PREFIX + _stem(w) for w in ws)
    out.extend(a + b for a, b in zip(ws, ws[1:], strict=False))
    return out


def terms(text: str) -> list[str]:
    """Return the index terms of a sentence: words, stems and joined neighbours (with repeats)."""
    return _expand(words(text))


def question_words(question: str) -> list[str]:
    """Return the folded words of a question without its question words (all of them if none is left)."""
    ws = words(question)
    kept = [w for w in ws if w not in QUESTION_WORDS]
    return kept or ws


def question_terms(question: str) -> list[str]:
    """Return the terms to search for ``question``, each once, in order."""
    return list(dict.fromkeys(_expand(question_words(question))))


def content_words(question: str) -> list[str]:
    """Return the words of ``question`` that carry content: not question words, courtesies or stopwords.

    An empty list means the message has nothing to search for («سلام», «؟؟؟», «چه کسی است؟»).
    """
    ignored = QUESTION_WORDS | COURTESIES | _stopwords()
    return [w for w in words(question) if w not in ignored]


def stems(ws: Iterable[str]) -> list[str]:
    """Return the stem terms (prefixed) of folded words."""
    return [STEM_PREFIX + _stem(w) for w in ws]


ANALYSIS_VERSION = 1


def recipe() -> dict[str, object]:
    """Return the analysis settings an index depends on, as plain data saved with it."""
    return {
        "analysis_version": ANALYSIS_VERSION,
        "word_pattern": _WORD.pattern,
        "stem_prefix": STEM_PREFIX,
        "question_words": sorted(QUESTION_WORDS),
    }
