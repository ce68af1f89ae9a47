"""Persian text normalization: one form for people to read, one for matching.

``display(text)`` is what readers see: the article's own words in Persian letters and digits, evenly
spaced (``retrieval.display``, re-exported here). An index stores it for every sentence and title when it
is built, so answering a question never runs it.

``fold(text)`` is the key for matching. Both sentences and questions go through it, so whatever Persian
writers vary compares equal: ZWNJ present or absent, Arabic ي ك ة against Persian ی ک ه, diacritics,
hamza and madda marks (أ ؤ ئ ۀ آ), tatweel, bidi marks, the digits of every script, and Latin case. The
Urdu, Kurdish, Pashto and Sindhi letter variants that hazm shows as Persian letters (ے ڵ ڕ ۆ ٹ …) fold
to those letters too, so a word copied from a reply matches the article it came from. A ZWNJ typed as a
space cannot be folded away character by character: the analysis joins neighbouring words for that (see
``retrieval.analysis``).

Both are idempotent: ``fold(fold(x)) == fold(x)`` and ``display(display(x)) == display(x)``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING

from retrieval.display import display

if TYPE_CHECKING:
    import hazm

__all__ = ["display", "fold", "fold_fingerprint", "sentence_tokenizer"]

ZWNJ = "\u200c"

# Letters that Persian text carries in Arabic or presentation variants, mapped to the Persian letter.
_LETTERS = {
    "ي": "ی",
    "ى": "ی",
    "ې": "ی",
    "ۍ": "ی",
    "ك": "ک",
    "ڪ": "ک",
    "ة": "ه",
    "ە": "ه",
    "ھ": "ه",
    "ہ": "ه",
    "ۀ": "ه",
    "ۂ": "ه",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    "آ": "ا",
    "أ": "ا",
    "إ": "ا",
    "ؤ": "و",
    "ئ": "ی",
    "ء": "",
    "ٴ": "",  # high hamza, also what NFKC leaves of ٵ ٶ ٷ ٸ
    "ۥ": "",  # small waw and small yeh: Quranic annotations
    "ۦ": "",
    "ـ": "",  # tatweel
}
# Letters of the languages written in Arabic script beside Persian (Urdu, Kurdish, Pashto, Sindhi …), by
# the Persian letter that hazm's normalizer shows in their place. NFKC maps their presentation forms to
# these first.
_VARIANTS = {
    "ی": "ؠؽؾؿێۑےۓݵݶݷݺݻࢨࢩࢬࢺ",
    "ک": "ػګڬڭڮݢݣݤݿࢴ",
    "گ": "ڰڱڲڳڴࢰ",
    "و": "ۄۅۆۇۈۉۊۋۏݸݹࢫࢱ",
    "ن": "ڹںڻڼڽݧݨݩࢽ",
    "ر": "ڑڒړڔڕږڗڙۯݛݫݬݱࢪࢹ",
    "د": "ڈډڊڋڌڍڎڏڐۮݙݚࢮ",
    "ت": "ٹٺټٽٿࢸ",
    "ب": "ٮٻڀݐݑݒݓݔݕݖࢠࢡࢶ",
    "پ": "ࢷ",
    "ح": "ځڂڃڄڅݗݘݮݯݲݼ",
    "چ": "ڇڿ",
    "س": "ښڛڜݜݭݰݽݾ",
    "ص": "ڝڞࢯ",
    "ط": "ڟࢣ",
    "ع": "ڠݝݞݟࢳ",
    "ف": "ڡڢڣڤڥڦݠݡࢤࢻ",
    "ق": "ٯڧڨࢥࢼ",
    "ل": "ڵڶڷڸݪࢦ",
    "م": "ݥݦࢧ",
    "ه": "ۃۿ",
    "ا": "ݳݴ",
    "ج": "ࢢ",
    "ز": "ࢲ",
    "ش": "ۺ",
    "ض": "ۻ",
    "غ": "ۼ",
}
# Planes where Unicode puts marks, format characters, digits and spaces: the basic and supplementary
# multilingual planes, and plane 14 (tags, variation selectors 17-256). Planes 2-13 hold none.
_PLANES = (range(0x20000), range(0xE0000, 0xF0000))


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(k): v for k, v in _LETTERS.items()}
    table.update((ord(c), letter) for letter, variants in _VARIANTS.items() for c in variants)
    for code in itertools.chain.from_iterable(_PLANES):
        if code in table:
            continue
        char = chr(code)
        category = unicodedata.category(char)
        # Combining marks (diacritics, hamza above, madda) and format characters (ZWNJ, ZWJ, bidi marks,
        # soft hyphen, BOM) never change which word was meant. ZWNJ goes too, so «می‌شود» and «میشود»
        # are one word.
        # So do the few spacing marks that attach to the letter before them (a nonzero combining class:
        # viramas, musical stems), which leaves NFKC nothing to reorder the second time (see ``fold``).
        if category in ("Mn", "Me", "Cf") or unicodedata.combining(char):
            table[code] = None
        elif category in ("Cc", "Zs", "Zl", "Zp"):
            table[code] = " "
        elif category == "Nd":  # Persian ۴, Arabic-Indic ٤, and every other script's digits
            table[code] = str(unicodedata.decimal(char))
    return table


_FOLD = _fold_table()

MAX_NON_STARTERS = 30
"""Marks in a row that ``fold`` lets NFKC reorder: UAX #15's «stream-safe» limit (no real text comes near)."""
CGJ = "\u034f"
"""COMBINING GRAPHEME JOINER: a starter that changes no text, and that the fold table drops (a mark)."""


@cache
def _long_mark_runs() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """More than ``MAX_NON_STARTERS`` non-starters in a row (marks of a nonzero combining class, and the
    few characters whose decomposition begins with one: halfwidth «ﾞ», Tibetan vowel signs): among the
    characters of the basic plane, and among all (slower: ``re`` tests a class beyond it range by range)."""
    codes = [
        code
        for code in itertools.chain.from_iterable(_PLANES)
        if unicodedata.combining(chr(code))
        or (unicodedata.decomposition(chr(code)) and unicodedata.combining(unicodedata.normalize("NFKD", chr(code))[0]))
    ]

    def runs(codes: list[int]) -> re.Pattern[str]:
        spans: list[list[int]] = []
        for code in codes:
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
        marks = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans)
        return re.compile(f"[{marks}]{{{MAX_NON_STARTERS}}}(?=[{marks}])")

    return runs([code for code in codes if code <= 0xFFFF]), runs(codes)


_BEYOND_BASIC_PLANE = re.compile("[\U00010000-\U0010ffff]")


def fold(text: str) -> str:
    """Return the matching key of ``text``: lower case, Persian letters, ASCII digits, no marks.

    Time is linear in the text's length.
    """
    # NFKC puts the marks after a letter in canonical order with an insertion sort: k marks out of order
    # cost k² steps (40,000 alternating shadda and kasra took 2 s; ten times as many, minutes). Text
    # already normalized has none out of order; otherwise a CGJ after every ``MAX_NON_STARTERS`` marks in
    # a row bounds the sort (UAX #15's stream-safe format), and the table drops the CGJs with the marks.
    if not unicodedata.is_normalized("NFKC", text):
        basic, every = _long_mark_runs()
        runs = basic if _BEYOND_BASIC_PLANE.search(text) is None else every
        text = runs.sub(lambda m: m.group() + CGJ, text)
    # NFKC first: it turns presentation forms (ﻻ, ﯽ) into letters and composes what decomposed input
    # split apart; the table then drops the marks NFKC leaves. Dropping a character can bring together
    # two that compose (Hangul jamo around a ZWNJ or tatweel: ᄀ‌ᅡ → 가), so NFKC runs once more; it
    # costs a scan when nothing composes, and finds no marks to reorder: the table dropped every one.
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    return unicodedata.normalize("NFKC", folded)


@cache
def fold_fingerprint() -> str:
    """A digest of what ``fold`` does: its table, NFKC and case folding (the Unicode version).

    A saved index records it, so a change to folding (or a Python with newer Unicode data) rebuilds
    the index instead of matching questions against terms folded another way.
    """
    digest = hashlib.sha256(unicodedata.unidata_version.encode())
    digest.update(json.dumps(sorted(_FOLD.items()), ensure_ascii=False).encode())
    digest.update(f"stream-safe {MAX_NON_STARTERS}".encode())
    return digest.hexdigest()


HAZM_SENTENCE_END = r"([!.?⸮؟]+)[ \n]+"
"""hazm's sentence end: a run of end marks, then spaces or line breaks."""
SENTENCE_END = r"(?<![!.?⸮؟])([!.?⸮؟]++)[ \n]+"
"""The same ends, found in linear time. hazm's pattern backtracks: on a run of k end marks that no space
follows («.....x») it tries every start in the run and every shorter run from each, k² steps (50,000
«.» took a minute; 2 MB would take hours). This one starts only where a run starts and never gives back
what the run took; since a shorter run is always followed by another mark, never a space, it matches
exactly where hazm's does (``tests/test_splitting.py`` compares the two on random text)."""


@cache
def sentence_tokenizer() -> hazm.SentenceTokenizer:
    """The one hazm ``SentenceTokenizer`` of the process, with ``SENTENCE_END`` for its pattern."""
    import hazm

    tokenizer = hazm.SentenceTokenizer()
    assert tokenizer.pattern.pattern == HAZM_SENTENCE_END, "hazm's sentence pattern changed"
    tokenizer.pattern = re.compile(SENTENCE_END)
    return tokenizer
