"""Persian text normalization: one form for people to read, one for matching.

``display(text)`` is what readers see: hazm's normalization (Persian letters and digits, affix spacing
such as «می‌شود», no diacritics), plus repairs of hazm's spacing around numbers («۱۲.۵» stays one
number). It is applied only to text that is shown, so building an index never pays for it.

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

if TYPE_CHECKING:
    import hazm

__all__ = ["display", "fold", "fold_fingerprint", "normalizer", "sentence_tokenizer"]

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
        if category in ("Mn", "Me", "Cf"):
            table[code] = None
        elif category in ("Cc", "Zs", "Zl", "Zp"):
            table[code] = " "
        elif category == "Nd":  # Persian ۴, Arabic-Indic ٤, and every other script's digits
            table[code] = str(unicodedata.decimal(char))
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Return the matching key of ``text``: lower case, Persian letters, ASCII digits, no marks."""
    # NFKC first: it turns presentation forms (ﻻ, ﯽ) into letters and composes what decomposed input
    # split apart; the table then drops the marks NFKC leaves. Dropping a character can bring together
    # two that compose (Hangul jamo around a ZWNJ or tatweel: ᄀ‌ᅡ → 가), so NFKC runs once more; it
    # costs a scan when nothing composes.
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
    return digest.hexdigest()


_HAZM_LETTERS = "[آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی]"
_HAZM_REPEATS = _HAZM_LETTERS + "*(" + _HAZM_LETTERS + r")\1{2,}" + _HAZM_LETTERS + "*"
"""hazm 0.12's pattern for a word with a letter repeated three times or more."""


@cache
def normalizer() -> hazm.Normalizer:
    """The one hazm ``Normalizer`` of the process (building one takes about two seconds)."""
    import hazm

    normalizer = hazm.Normalizer()
    pattern = getattr(normalizer, "repeated_chars_pattern", None)
    if isinstance(pattern, re.Pattern) and pattern.pattern == _HAZM_REPEATS:
        # hazm looks for words with a letter repeated three times («سلاممم») from every position of every
        # word: a long word without one costs time in the square of its length (a 10,000-letter word,
        # 1.5 s). Starting only where a word starts finds the same words in linear time.
        normalizer.repeated_chars_pattern = re.compile(f"(?<!{_HAZM_LETTERS}){_HAZM_REPEATS}")
    return normalizer


@cache
def sentence_tokenizer() -> hazm.SentenceTokenizer:
    """The one hazm ``SentenceTokenizer`` of the process."""
    import hazm

    return hazm.SentenceTokenizer()


# hazm spaces out punctuation, numbers included: «۱۲.۵» becomes «۱۲ ٫ ۵», «2025-11-26» «۲۰۲۵ - ۱۱ - ۲۶».
_SPLIT_NUMBER = re.compile(r"(?<=\d) ?([٫٬./:\-]|,(?= ?\d{3}(?!\d))) ?(?=\d)")
_SPACES = re.compile(r"[ \t\u00a0]+")
# A ZWNJ only means something between two letters; hazm leaves some elsewhere («/‌», «می‌۱۲»).
_STRAY_ZWNJ = re.compile(r"(?<![^\W\d_])\u200c+|\u200c+(?![^\W\d_])")
MAX_DISPLAY_PASSES = 4
"""hazm's steps run in a fixed order, so one pass can leave work for the next: it spaces affixes before it
removes the marks and repeated letters that hide them («کتاب خانهٓ» → «کتاب خانه» → «کتاب‌خانه»).
``display`` repeats until nothing changes; real text settles in one or two passes."""


def _display_once(text: str) -> str:
    normalized = normalizer().normalize(text)
    normalized = _SPLIT_NUMBER.sub(r"\1", normalized)
    normalized = _STRAY_ZWNJ.sub("", normalized)
    return _SPACES.sub(" ", normalized).strip()


def display(text: str) -> str:
    """Return ``text`` as readers should see it: hazm-normalized, numbers kept whole, one line."""
    for _ in range(MAX_DISPLAY_PASSES):
        shown = _display_once(text)
        if shown == text:
            break
        text = shown
    return text
