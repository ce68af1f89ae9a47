"""Persian text normalization: one form for people to read, one for matching.

``display(text)`` is what readers see: hazm's normalization (Persian letters and digits, affix spacing
such as «می‌شود», no diacritics), plus repairs of hazm's spacing around numbers («۱۲.۵» stays one
number). It is applied only to text that is shown, so building an index never pays for it.

``fold(text)`` is the key for matching. Both sentences and questions go through it, so whatever Persian
writers vary compares equal: ZWNJ present or absent, Arabic ي ك ة against Persian ی ک ه, diacritics,
hamza and madda marks (أ ؤ ئ ۀ آ), tatweel, bidi marks, Persian / Arabic-Indic / Latin digits, and Latin
case. A ZWNJ typed as a space cannot be folded away character by character: the analysis joins
neighbouring words for that (see ``retrieval.analysis``).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hazm

__all__ = ["display", "fold", "normalizer", "sentence_tokenizer"]

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
    "ـ": "",  # tatweel
}
_DIGITS = {ord(d): str(i) for i, d in enumerate("۰۱۲۳۴۵۶۷۸۹")} | {ord(d): str(i) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩")}


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(k): v for k, v in _LETTERS.items()}
    table.update(_DIGITS)
    # The BMP and the tag characters: every mark and format character that text in the wild carries.
    for code in itertools.chain(range(0x10000), range(0xE0000, 0xE0080)):
        if code in table:
            continue
        category = unicodedata.category(chr(code))
        # Combining marks (diacritics, hamza above, madda) and format characters (ZWNJ, ZWJ, bidi marks,
        # BOM) never change which word was meant. ZWNJ goes too, so «می‌شود» and «میشود» are one word.
        if category in ("Mn", "Me", "Cf"):
            table[code] = None
        elif category in ("Cc", "Zs", "Zl", "Zp"):
            table[code] = " "
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Return the matching key of ``text``: lower case, Persian letters, ASCII digits, no marks."""
    # NFKC first: it turns presentation forms (ﻻ, ﯽ) into letters and composes what decomposed input
    # split apart; the table then drops the marks NFKC leaves.
    return unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)


@cache
def normalizer() -> hazm.Normalizer:
    """The one hazm ``Normalizer`` of the process (building one takes about two seconds)."""
    import hazm

    return hazm.Normalizer()


@cache
def sentence_tokenizer() -> hazm.SentenceTokenizer:
    """The one hazm ``SentenceTokenizer`` of the process."""
    import hazm

    return hazm.SentenceTokenizer()


# hazm spaces out punctuation, numbers included: «۱۲.۵» becomes «۱۲ ٫ ۵», «2025-11-26» «۲۰۲۵ - ۱۱ - ۲۶».
_SPLIT_NUMBER = re.compile(r"(?<=\d) ?([٫٬./:\-]|,(?= ?\d{3}(?!\d))) ?(?=\d)")
_SPACES = re.compile(r"[ \t\u00a0]+")


def display(text: str) -> str:
    """Return ``text`` as readers should see it: hazm-normalized, numbers kept whole, one line."""
    normalized = normalizer().normalize(text)
    normalized = _SPLIT_NUMBER.sub(r"\1", normalized)
    return _SPACES.sub(" ", normalized).strip()
