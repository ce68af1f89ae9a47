"""Analysis: the terms a sentence is indexed under and a question is searched with.

Sentences and questions go through the same folding (``retrieval.normalize.fold``) and word split.
A sentence is indexed under:

- each word («کتابها»);
- each word's stem, prefixed with ``~`` («~کتاب»), so «کتاب» finds «کتاب‌ها»;
- each affix written apart joined to its word («می شود» → «میشود», «کتاب ها» → «کتابها»): a ZWNJ
  typed as a space still meets the word written whole. Other neighbouring words are not joined: that
  would multiply the vocabulary for little gain.

A question drops its question words («چیست», «کیه», «کدام» …) and request words («بنویسید»): they
say what is asked, not what the answer sentence contains. Its neighbouring words are also looked up
joined, which finds a name or compound the sentence writes as one word («هاشمی فر» / «هاشمیفر»).

Beside terms, ``QuestionShape`` says what kind of answer a question wants (a number or date; the
definition of its subject), and ``SentenceShape`` what a sentence offers (digits; whether it opens
with a pronoun that points back, like «او» or «این»; its first word).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.normalize import fold, fold_fingerprint

if TYPE_CHECKING:
    import hazm

__all__ = [
    "QuestionShape",
    "content_words",
    "expand",
    "question_shape",
    "question_words",
    "recipe",
    "sentence_shape",
    "stems",
    "terms",
    "words",
]

# A word is a run of letters or a number: digits glued to letters in the source («5میلیارد») are two words;
# a decimal point between digits stays inside the number («۱۷٫۱» → «17.1»: the Persian separator is a point).
_WORD = re.compile(r"\d+(?:[.\u066b]\d+)*|[^\W\d_]+")
# A copula or person ending written after a ZWNJ at a word's end («درگذشته‌است», «رفته‌اند»): a word of its
# own, as if typed with a space, before folding drops the ZWNJ (the joined form is still indexed: SUFFIXES).
_ZWNJ_CLITIC = re.compile(r"\u200c(است|اند|ایم|اید)(?![^\W_])")
# The same endings with no ZWNJ after a past participle («…ته»، «…ده»: «درگذشتهاست»، «رفتهاند»), and «ست»
# after the plural «ها» («کتابهاست»): hazm's stemmer would cut «درگذشتهاس», «رفتها»; they are taken off
# before stemming.
_GLUED_CLITIC = re.compile(r"(?<=.[تد]ه)(?:است|اند)$|(?<=..ها)ست$")

STEM_PREFIX = "~"
STEM_MIN_WORD = 4
STEM_MIN_LENGTH = 3
BACKGROUND_FILE = Path(__file__).parent / "data" / "background_df.json"


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


# fmt: off
# Words that ask rather than tell, formal and colloquial. Never searched for.
QUESTION_WORDS = _folded((
    "کیست", "کیه", "کی\u200cها", "کیا", "کسی", "چه\u200cکسی", "چیست", "چیه", "چی", "چیا", "چه", "چها",
    "چگونه", "چطور", "چطوری", "چجوری", "چرا", "برای\u200cچه", "کجا", "کجاست", "کجاس", "کجای", "کجان",
    "کجاها", "کدام", "کدوم", "کدامین", "کدومش", "کدامیک", "چند", "چندم", "چندمین", "چندتا", "چقدر", "چقد",
    "چقدره", "کی", "آیا", "مگر", "مگه", "است", "هست", "هستن", "هستند", "بود", "بودند", "بوده", "میباشد",
    "می\u200cباشد", "نام", "اسم", "بگو", "بگید", "بگویید", "بفرمایید", "لطفا", "لطفاً", "چنده", "چندتاست",
    "چطوریه", "چجوریه", "کجاست", "کیان",
))
# Words that frame a request («بنویسید»، «چیزی»): never searched for either.
FRAME_WORDS = _folded((
    "چیکار", "چکار", "چیکاره", "چیکارا",
    "ببرید", "بنویسید", "بنویس", "چیزی", "چیزها", "چیزهایی", "چیزایی", "کسانی", "کسایی", "کسای",
    "کدامند", "کدامها", "کدومها", "کدوما", "کنید", "دهید", "بدهید",
))
# Request words that are also nouns («ببر»: "name!" after «نام», else the tiger): dropped only right after
# one of REQUEST_OBJECTS («نام ببر»، «اسم ببر»), searched for everywhere else.
NOUN_REQUESTS = _folded(("ببر",))
REQUEST_OBJECTS = _folded(("نام", "اسم"))
# Greetings and courtesies: a message made only of these is small talk, not a question.
COURTESIES = _folded((
    "سلام", "درود", "علیک", "خداحافظ", "خدانگهدار", "بدرود", "مرسی", "ممنون", "ممنونم", "متشکرم", "تشکر",
    "سپاس", "سپاسگزارم", "خسته", "نباشید", "خوبی", "خوبید", "خوبین", "چطوری", "چطورین", "صبح", "بخیر", "شب",
    "عصر", "روز", "وقت", "ظهر", "hi", "hello", "hey", "thanks", "thx", "ok", "okay", "بله", "نه", "آره",
    "باشه", "اوکی", "خیلی", "فعلا", "bye",
))
THANKS = _folded(("مرسی", "ممنون", "ممنونم", "متشکرم", "تشکر", "سپاس", "سپاسگزارم", "thanks", "thx"))
GOODBYES = _folded(("خداحافظ", "خدانگهدار", "بدرود", "فعلا", "bye"))
# Affixes Persian writes with a ZWNJ, which people often type as a space: joined to their word.
PREFIXES = _folded(("می", "نمی", "بی", "نا", "هم"))
SUFFIXES = _folded((
    "ها", "های", "هایی", "ای", "ی", "اند", "ام", "ایم", "اید", "است", "تر", "ترین", "تری", "شده", "شدن",
    "شد", "هاست", "هایش", "هایشان", "اش", "شان", "مان", "تان", "یی", "گر", "گری", "وار",
))
VERB_PREFIXES = _folded(("می", "نمی"))
PLURAL_SUFFIXES = _folded(("ها", "های", "هایی", "هایش", "هایشان", "ترین", "اند"))
# Number words and their digits: a sentence is also indexed under the other form («چهار گل» under «4»,
# «۴ گل» under «چهار»), so either finds the other. «نه» (nine) is left out: it is mostly "no".
_NUMBER_NAMES = {
    "صفر": 0, "یک": 1, "دو": 2, "سه": 3, "چهار": 4, "پنج": 5, "شش": 6, "شیش": 6, "هفت": 7, "هشت": 8,
    "ده": 10, "یازده": 11, "دوازده": 12, "سیزده": 13, "چهارده": 14, "پانزده": 15, "پونزده": 15,
    "شانزده": 16, "شونزده": 16, "هفده": 17, "هیفده": 17, "هجده": 18, "هیجده": 18, "نوزده": 19,
    "بیست": 20, "سی": 30, "چهل": 40, "پنجاه": 50, "شصت": 60, "هفتاد": 70, "هشتاد": 80, "نود": 90,
    "صد": 100, "یکصد": 100, "دویست": 200, "سیصد": 300, "چهارصد": 400, "پانصد": 500, "ششصد": 600,
    "هفتصد": 700, "هشتصد": 800, "نهصد": 900, "هزار": 1000,
}
NUMBER_DIGITS = {fold(word): str(n) for word, n in _NUMBER_NAMES.items()}
DIGIT_NUMBERS = {digits: word for word, digits in reversed(NUMBER_DIGITS.items())}  # the first spelling
# A sentence opening with these usually speaks of what the sentence before it named.
PRONOUNS = _folded(("او", "وی", "آنها", "آن‌ها", "ایشان", "اینها", "این‌ها", "آنان"))
DEMONSTRATIVES = _folded(("این", "آن", "همین", "همان", "چنین"))
DEFINITION_WORDS = _folded(("چیست", "کیست", "کیه", "چیه"))
# fmt: on

_DEFINITION_END = re.compile(r"(?:چه کسی|چه کسانی|که) (?:است|بود|هست|بودند|هستند)$")
_NUMBER_QUESTION = re.compile(
    r" (?:چه|کدام|چند|چندمین) (?:سال|سالی|سالهای|دهه|دههای|قرن|سده|تاریخ|تاریخی|روز|روزی|روزهای|ماه|ماهی|"
    r"زمان|زمانی|هنگام|دوره|دورهای) "
    r"| (?:چند|چندم|چندمین|چقدر|چقد|چقدره|چنده|چندتا) "
    r"| چه (?:تعداد|مقدار|میزان|اندازه|قدر|مدت|درصد|سنی|سن) "
)
_WHEN = re.compile(r" (?:کی|چه وقت|چه موقع) ")
_WHO = re.compile(r" (?:چه کسی|کیست) ")


@cache
def stopwords() -> frozenset[str]:
    """hazm's stopwords, folded."""
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
    host = _GLUED_CLITIC.sub("", word)
    if host != word:
        return _stem(host)
    stem = _stemmer().stem(word) or word
    return stem if len(stem) >= STEM_MIN_LENGTH else word


def words(text: str) -> list[str]:
    """Return the folded words of ``text`` in order."""
    folded = fold(_ZWNJ_CLITIC.sub(r" \1", text))
    if "\u066b" in folded:  # «۱۷٫۱» and «17.1» are one number
        folded = folded.replace("\u066b", ".")
    return _WORD.findall(folded)


def expand(ws: list[str]) -> list[str]:
    """Return the index terms of a sentence's folded words: words, stems, affixes joined to their word, and
    the other form of a number («چهار» ↔ «4»)."""
    out = list(ws)
    out.extend(STEM_PREFIX + _stem(w) for w in ws)
    out.extend(a + b for a, b in itertools.pairwise(ws) if a in PREFIXES or b in SUFFIXES)
    out.extend(NUMBER_DIGITS.get(w) or DIGIT_NUMBERS[w] for w in ws if w in NUMBER_DIGITS or w in DIGIT_NUMBERS)
    return out


def terms(text: str) -> list[str]:
    """Return the index terms of a sentence (with repeats)."""
    return expand(words(text))


def merge_affixes(ws: list[str]) -> list[str]:
    """Join affixes typed apart to their word («بازی های» → «بازیهای», «می شود» → «میشود»).

    Only affixes that never stand alone in a question are joined (not «است» or «هم»).
    """
    merged: list[str] = []
    for w in ws:
        if merged and (merged[-1] in VERB_PREFIXES or w in PLURAL_SUFFIXES):
            merged[-1] += w
        else:
            merged.append(w)
    return merged


def question_words(question: str) -> list[str]:
    """Return the folded words of a question without its question and request words (all if none is left).

    Affixes typed apart are joined to their word first.
    """
    ws = merge_affixes(words(question))
    kept = [w for w, asks in zip(ws, _asking(ws), strict=True) if not asks]
    return kept or ws


def _asking(ws: list[str]) -> list[bool]:
    """Whether each folded word of a question asks or frames the request rather than carrying content."""
    return [
        w in QUESTION_WORDS or w in FRAME_WORDS or (w in NOUN_REQUESTS and i > 0 and ws[i - 1] in REQUEST_OBJECTS)
        for i, w in enumerate(ws)
    ]


def is_stopword(word: str) -> bool:
    """Whether a folded word is on hazm's stopword list."""
    return word in stopwords()


def content_words(question: str) -> list[str]:
    """Return the words of ``question`` that carry content: not question words, courtesies or stopwords.

    An empty list means the message has nothing to search for («سلام», «؟؟؟», «چه کسی است؟»).
    """
    ws = words(question)
    ignored = COURTESIES | stopwords()
    return [w for w, asks in zip(ws, _asking(ws), strict=True) if not asks and w not in ignored]


def stems(ws: Iterable[str]) -> list[str]:
    """Return the stem term (prefixed) of each folded word (a short word is its own stem)."""
    return [STEM_PREFIX + _stem(w) for w in ws]


@dataclass(frozen=True, slots=True)
class QuestionShape:
    """What kind of answer a question wants."""

    numeric: bool
    """It asks for a number, an amount or a date («چند»، «چه سالی»، «کی»)."""
    definition: bool
    """It asks what or who its subject is, in a few words («بسیج چیست؟»، «هاشمی‌فر کیست؟»)."""
    subject: tuple[str, ...]
    """The words an answering sentence tends to open with: every word of a definition question, else
    the first word searched for."""


def question_shape(question: str) -> QuestionShape:
    """Return the shape of a question, from its folded words."""
    every = words(question)
    searched = question_words(question)
    spaced = f" {' '.join(every)} "
    numeric = bool(_NUMBER_QUESTION.search(spaced) or (_WHEN.search(spaced) and not _WHO.search(spaced)))
    definition = len(searched) <= 3 and (
        any(w in DEFINITION_WORDS for w in every) or bool(_DEFINITION_END.search(" ".join(every)))
    )
    subject = tuple(dict.fromkeys(searched)) if definition else tuple(searched[:1])
    return QuestionShape(numeric, definition, subject)


@dataclass(frozen=True, slots=True)
class SentenceShape:
    """What a sentence offers beyond its terms."""

    digits: bool
    anaphoric: bool
    """It opens with a pronoun or demonstrative that points back («او»، «وی»، «این …»)."""


def sentence_shape(ws: list[str], *, follows: bool) -> SentenceShape:
    """Return the shape of a sentence from its folded words; ``follows``: another precedes it in its article."""
    anaphoric = follows and bool(ws) and (any(w in PRONOUNS for w in ws[:3]) or ws[0] in DEMONSTRATIVES)
    return SentenceShape(any(c.isdigit() for w in ws for c in w), anaphoric)


ANALYSIS_VERSION = 6


def recipe() -> dict[str, object]:
    """Return the analysis settings an index depends on, as plain data saved with it."""
    return {
        "analysis_version": ANALYSIS_VERSION,
        "fold": fold_fingerprint()[:16],
        "word_pattern": _WORD.pattern,
        "clitics": [_ZWNJ_CLITIC.pattern, _GLUED_CLITIC.pattern],
        "stem_prefix": STEM_PREFIX,
        "stem_min_word": STEM_MIN_WORD,
        "stem_min_length": STEM_MIN_LENGTH,
        "question_words": sorted(QUESTION_WORDS | FRAME_WORDS),
        "noun_requests": [sorted(NOUN_REQUESTS), sorted(REQUEST_OBJECTS)],
        "joined_affixes": [sorted(PREFIXES), sorted(SUFFIXES)],
        "merged_in_questions": [sorted(VERB_PREFIXES), sorted(PLURAL_SUFFIXES)],
        "anaphors": sorted(PRONOUNS | DEMONSTRATIVES),
        "numbers": dict(sorted(NUMBER_DIGITS.items())),
        "background": hashlib.sha256(BACKGROUND_FILE.read_bytes()).hexdigest()[:16],
    }
