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

import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.normalize import fold

if TYPE_CHECKING:
    import hazm

__all__ = ["content_words", "expand", "question_terms", "question_words", "recipe", "stems", "terms", "words"]

_WORD = re.compile(r"[^\W_]+")

STEM_PREFIX = "~"
STEM_MIN_WORD = 4
STEM_MIN_LENGTH = 3
BACKGROUND_FILE = Path(__file__).parent / "data" / "background_df.json"

# Words that ask rather than tell, formal and colloquial, folded. Never searched for.
QUESTION_WORDS = frozenset(
    fold(w)
    for w in [
        "کیست",
        "کیه",
        "کی\u200cها",
        "کیا",
        "کسی",
        "چه\u200cکسی",
        "چیست",
        "چیه",
        "چی",
        "چیا",
        "چه",
        "چها",
        "چگونه",
        "چطور",
        "چطوری",
        "چجوری",
        "چرا",
        "برای\u200cچه",
        "کجا",
        "کجاست",
        "کجاس",
        "کجای",
        "کجان",
        "کجاها",
        "کدام",
        "کدوم",
        "کدامین",
        "کدومش",
        "کدامیک",
        "چند",
        "چندم",
        "چندمین",
        "چندتا",
        "چقدر",
        "چقد",
        "چقدره",
        "کی",
        "آیا",
        "مگر",
        "مگه",
        "است",
        "هست",
        "هستن",
        "هستند",
        "بود",
        "بودند",
        "بوده",
        "میباشد",
        "می\u200cباشد",
        "نام",
        "اسم",
        "بگو",
        "بگید",
        "بگویید",
        "بفرمایید",
        "لطفا",
        "لطفاً",
        "چنده",
        "چندتاست",
        "چطوریه",
        "چجوریه",
        "کجاست",
        "کیان",
    ]
)

# Greetings and courtesies: a message made only of these is small talk, not a question.
COURTESIES = frozenset(
    fold(w)
    for w in [
        "سلام",
        "درود",
        "علیک",
        "خداحافظ",
        "خدانگهدار",
        "بدرود",
        "مرسی",
        "ممنون",
        "ممنونم",
        "متشکرم",
        "تشکر",
        "سپاس",
        "سپاسگزارم",
        "خسته",
        "نباشید",
        "خوبی",
        "خوبید",
        "خوبین",
        "چطوری",
        "چطورین",
        "صبح",
        "بخیر",
        "شب",
        "عصر",
        "روز",
        "وقت",
        "ظهر",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thx",
        "ok",
        "okay",
        "بله",
        "نه",
        "آره",
        "باشه",
        "اوکی",
    ]
)


@cache
def _stopwords() -> frozenset[str]:
    import hazm

    return frozenset(fold(w).replace("_", "") for w in hazm.stopwords_list())


@cache
def background_frequencies() -> tuple[int, dict[str, int]]:
    """Return the background corpus size and the sentence frequencies of its common words and stems.

    ``data/background_df.json`` counts, for each word in at least 20 of the 41,411 sentences of a
    Persian news crawl (Fars News and Varzesh3, Apache-2.0), the sentences it occurs in.
    """
    data = json.loads(BACKGROUND_FILE.read_text(encoding="utf-8"))
    df: dict[str, int] = {}
    for word, count in data["df"].items():
        df[word] = df.get(word, 0) + count
        stem = STEM_PREFIX + _stem(word)
        df[stem] = df.get(stem, 0) + count  # a stem occurs at most where its words do, together
    return int(data["sentences"]), df


@cache
def _stemmer() -> hazm.Stemmer:
    import hazm

    return hazm.Stemmer()


@cache
def _stem(word: str) -> str:
    # hazm's stemmer is rule-based Python: one call per distinct word, cached. It cuts short words to
    # nothing useful («شهید» → «شه», «این» → «ا»): those keep their form.
    if word.isdigit() or len(word) < STEM_MIN_WORD:
        return word
    stem = _stemmer().stem(word) or word
    return stem if len(stem) >= STEM_MIN_LENGTH else word


def words(text: str) -> list[str]:
    """Return the folded words of ``text`` in order."""
    return _WORD.findall(fold(text))


def expand(ws: list[str]) -> list[str]:
    """Return the index terms of a sentence's folded words: words, stems and joined neighbours."""
    out = list(ws)
    out.extend(STEM_PREFIX + _stem(w) for w in ws if len(w) >= STEM_MIN_WORD)
    out.extend(a + b for a, b in itertools.pairwise(ws))
    return out


def terms(text: str) -> list[str]:
    """Return the index terms of a sentence: words, stems and joined neighbours (with repeats)."""
    return expand(words(text))


def question_words(question: str) -> list[str]:
    """Return the folded words of a question without its question words (all of them if none is left)."""
    ws = words(question)
    kept = [w for w in ws if w not in QUESTION_WORDS]
    return kept or ws


def question_terms(question: str) -> list[str]:
    """Return the terms to search for ``question``, each once, in order."""
    return list(dict.fromkeys(expand(question_words(question))))


def content_words(question: str) -> list[str]:
    """Return the words of ``question`` that carry content: not question words, courtesies or stopwords.

    An empty list means the message has nothing to search for («سلام», «؟؟؟», «چه کسی است؟»).
    """
    ignored = QUESTION_WORDS | COURTESIES | _stopwords()
    return [w for w in words(question) if w not in ignored]


def stems(ws: Iterable[str]) -> list[str | None]:
    """Return the stem term (prefixed) of each folded word; None for words too short to stem."""
    return [STEM_PREFIX + _stem(w) if len(w) >= STEM_MIN_WORD else None for w in ws]


ANALYSIS_VERSION = 1


def recipe() -> dict[str, object]:
    """Return the analysis settings an index depends on, as plain data saved with it."""
    return {
        "analysis_version": ANALYSIS_VERSION,
        "word_pattern": _WORD.pattern,
        "stem_prefix": STEM_PREFIX,
        "stem_min_word": STEM_MIN_WORD,
        "stem_min_length": STEM_MIN_LENGTH,
        "question_words": sorted(QUESTION_WORDS),
        "background": hashlib.sha256(BACKGROUND_FILE.read_bytes()).hexdigest()[:16],
    }
