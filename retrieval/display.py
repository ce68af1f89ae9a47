"""The text readers see: the article's own words, in Persian letters and digits, evenly spaced.

``display(text)`` runs hazm's normalization steps (Persian letters and digits, spacing around punctuation
and affixes such as «می‌شود», no diacritics) over the Persian parts of a text, and changes nothing else:
spacing, ZWNJ, letter forms (Arabic ي ك → Persian ی ک) and digit shapes, never which letters are there
(``tests/test_display.py`` checks it on random text). Where hazm alone would change the meaning, it
is held back:

- URLs, e-mail addresses, @usernames, #hashtags and Latin words («5G», «COVID-19», «I.R.I.B», «120Mbps»)
  are cut out of the text before hazm sees it and put back exactly as written;
- a percent sign stays on its number («۲۰٪»), and a range stays a range («۱۰ـ۱۲», «۱۰-۱۲»): a tatweel or
  dash between digits is kept;
- hamza above («مادهٔ») is kept; other marks hazm removes (diacritics) still go, after decomposed letters
  are composed (an «ا» followed by a combining madda is «آ», not «ا»);
- letters repeated three times or more are left as written (hazm shortens them, and may guess wrong);
- «می»/«نمی» is joined to the rest of a word with a ZWNJ only when the word can only be a verb: «میشود»
  → «می‌شود», but «میدانی» stays, since it reads as «میدان» + «ی» (hazm joins both);
- a ZWNJ lost in crawling is put back where hazm's lexicon makes it safe (``mend_word``): «فرمودهاند» →
  «فرموده‌اند», «بیوقفه» → «بی‌وقفه», never in a word the lexicon knows as written or one it cannot split
  in exactly one way into known parts («هاشمیفر» stays).

Indexes store the display form of every sentence and title when they are built (``retrieval.index``),
so answering a question runs none of this. ``display`` is idempotent: ``display(display(x)) == display(x)``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hazm

__all__ = ["DISPLAY_VERSION", "display", "display_normalizer", "mend_word"]

DISPLAY_VERSION = 1
"""Bump it when ``display`` shows some text otherwise: an index stores display text, so one built by
another version is refused (its recipe differs) and rebuilt."""

ZWNJ = "\u200c"
HAMZA_ABOVE = "\u0654"

# -- what hazm never sees --------------------------------------------------------------------------

_URL_END = r"[^\s<>\"'«»().,;:!?،؛؟\[\]{}…]"
_PROTECTED = re.compile(
    "|".join(
        (
            rf"(?:https?|ftp)://[^\s<>\"«»]*{_URL_END}",  # a URL, without the punctuation that ends a sentence
            rf"www\.[^\s<>\"«»]*{_URL_END}",
            r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",  # an e-mail address
            r"(?<![\w@])@\w+",  # a Telegram @username
            r"(?<![\w#&])#\w[\w\u200c]*",  # a #hashtag, Persian ones too
            r"[A-Za-z0-9]+(?:[\-._'/+&][A-Za-z0-9]+)*",  # Latin words and codes: «5G», «F-16», «I.R.I.B»
        )
    )
)
_LATIN_LETTER = re.compile(r"[A-Za-z@#]")
"""A match of ``_PROTECTED`` without one is a plain number («2025-11-26», «12.5»): hazm shows it."""
_CLOSING = tuple(".:!،؛؟»])}٪%")
_OPENING = tuple("«[({")


def _pieces(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (protected, piece): protected pieces are shown exactly as written."""
    pieces: list[tuple[bool, str]] = []
    start = 0
    if not _LATIN_LETTER.search(text):
        return [(False, text)]
    for match in _PROTECTED.finditer(text):
        if not _LATIN_LETTER.search(match.group()):
            continue
        if match.start() > start:
            pieces.append((False, text[start : match.start()]))
        pieces.append((True, match.group()))
        start = match.end()
    if start < len(text) or not pieces:
        pieces.append((False, text[start:]))
    return pieces


# -- hazm, held back -------------------------------------------------------------------------------

_PERSIAN_LETTERS = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
_NON_JOINING = frozenset("آادذرزژو")
"""Letters that never join the next one: a ZWNJ after them changes nothing that shows."""
_WORD = re.compile(rf"(?<![\w\u200c\u0654])[{_PERSIAN_LETTERS}]{{4,32}}(?![\w\u200c\u0654])")
"""A word to mend: Persian letters only, 4 to 32 of them (a longer run is no word, and would cost time)."""
_MI = ("نمی", "می")
_JOINED_SUFFIXES = ("ی", "م", "ت", "ش", "مان", "تان", "شان", "ان")
"""Suffixes written joined, without a ZWNJ: «میدان» + «ی» is «میدانی» (a word that is not a verb)."""
_PLURALS = ("ها", "های", "هایی", "هایم", "هایت", "هایش", "هایمان", "هایتان", "هایشان")
_AFTER_HEH = ("ای", "ام", "اند", "ایم", "اید")
"""Suffixes that take a ZWNJ after a silent «ه»: «فرموده‌اند», «عرصه‌ای»."""
_COMPARATIVES = ("تر", "ترین")
"""After an adjective: «گرم‌تر»."""


@functools.cache
def display_normalizer() -> hazm.Normalizer:
    """The one display normalizer of the process (building it takes about four seconds: hazm's lexicons)."""
    return _new_normalizer()


def _compiled(patterns: list[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), replacement) for pattern, replacement in patterns]


def _replaced(patterns: list[tuple[re.Pattern[str], str]], text: str) -> str:
    for pattern, replacement in patterns:
        text = pattern.sub(replacement, text)
    return text


def _new_normalizer() -> hazm.Normalizer:
    import hazm
    from hazm import constants

    # hazm's steps that change meaning, replaced: tatweel goes except between digits (a range); «می» is
    # not joined to whatever follows it («ماه می ۲۰۲۵»), only to verbs (``mend_word``, and hazm's token
    # spacing); «ه» + «ها» is left to ``mend_word``, which checks the lexicon.
    extra_space = [(p, r) for p, r in constants.EXTRA_SPACE_PATTERNS if p != r"[ـ\r]"]
    extra_space.append((r"\r|(?<!\d)ـ+|ـ+(?!\d)", ""))
    affix_spacing = [(p, r) for p, r in constants.AFFIX_SPACING_PATTERNS if "(ن?می)" not in p and p != r"(ه)(ها)"]
    assert len(extra_space) == len(constants.EXTRA_SPACE_PATTERNS), "hazm's spacing patterns changed"
    assert len(affix_spacing) == len(constants.AFFIX_SPACING_PATTERNS) - 2, "hazm's affix patterns changed"
    # hazm removes these marks and a few symbols («ﷺ»); only the marks go here, and hamza above stays.
    hazm_specials = re.compile(constants.SPECIAL_CHARS_PATTERNS[0][0])
    marks = "".join(
        chr(code)
        for code in range(0x600, 0x10000)
        if hazm_specials.fullmatch(chr(code)) and unicodedata.category(chr(code)) in ("Mn", "Me", "Cf")
    )
    specials = re.compile(f"[{marks.replace(HAMZA_ABOVE, '')}]")
    # hazm's letter and digit translations in one table, applied by a search: ``str.translate`` with a
    # table of 400 characters costs six times as much on Persian text.
    table = {
        chr(code): replacement
        for source, target in (
            (constants.TRANSLATION_SRC, constants.TRANSLATION_DST),
            (constants.NUMBERS_SRC, constants.NUMBERS_DST),
        )
        for code, replacement in hazm.utils.maketrans(source, target).items()
    }
    translated = re.compile(f"[{re.escape(''.join(table))}]")
    # Ligatures hazm writes out: «ﷲ» → «الله», «ﻻ» → «لا»; not «﷽», a sign (it has no letters to show).
    ligatures = [(old, new) for old, new in constants.UNICODE_REPLACEMENTS if unicodedata.decomposition(old[:1])]
    styles = _compiled(constants.PERSIAN_STYLE_PATTERNS + constants.DIACRITICS_PATTERNS)
    spaces = _compiled(extra_space)
    spaces_without_zwnj = [(p, r) for p, r in spaces if "\\u200c" not in p.pattern]
    affixes = _compiled(affix_spacing)
    punctuation = _compiled(constants.PUNCTUATION_SPACING_PATTERNS)

    class DisplayNormalizer(hazm.Normalizer):  # type: ignore[misc]
        """hazm's ``Normalizer``, its steps in its order, with the changes above."""

        def normalize(self, text: str) -> str:
            text = translated.sub(lambda m: table[m.group()], unicodedata.normalize("NFC", text))
            text = self.correct_spacing(_replaced(styles, text))
            for old, new in ligatures:
                text = text.replace(old, new)
            return _WORD.sub(lambda m: mend(m.group()), specials.sub("", text))

        def correct_spacing(self, text: str) -> str:
            text = _replaced(spaces if ZWNJ in text else spaces_without_zwnj, text)
            lines = [
                " ".join(self.token_spacing(self._tokenizer.tokenize(line))) if line.strip() else line
                for line in text.split("\n")
            ]
            return _replaced(punctuation, _replaced(affixes, "\n".join(lines)))

    normalizer = DisplayNormalizer(decrease_repeated_chars=False)
    words, verbs = normalizer._words, normalizer._verbs

    @functools.lru_cache(maxsize=1 << 17)
    def mend(word: str) -> str:
        return mend_word(word, words, verbs)

    return normalizer


_Words = dict[str, tuple[int, tuple[str, ...]]]


def _known(word: str, words: _Words, verbs: set[str]) -> bool:
    """Whether the lexicon knows ``word`` with a part of speech (or as a verb form).

    hazm's word list also holds 158,000 words of part of speech «0»: right spellings («فیلتر», «آنها») and
    common misspellings («میشود») alike. A word listed so is left as written, but is not a part to build on.
    """
    return word in verbs or words.get(word, (0, ("0",)))[1] != ("0",)


def _joined_reading(word: str, words: _Words, verbs: set[str]) -> bool:
    """Whether ``word`` reads as a known word and a suffix written joined («میدان» + «ی», «بها» + «ی»)."""
    return any(word.endswith(suffix) and _known(word[: -len(suffix)], words, verbs) for suffix in _JOINED_SUFFIXES)


def _splits(word: str, words: _Words, verbs: set[str]) -> dict[int, bool]:
    """Where the lexicon says a ZWNJ could go in ``word``, and whether it knows the word so written.

    Only words with a part of speech count: the list has «دوومی‌دانی» and «تی‌ام» of part of speech «0».
    """
    found = {}
    for at in range(2, len(word) - 1):
        left, right = word[:at], word[at:]
        if _known(left + ZWNJ + right, words, verbs):
            found[at] = True
        elif _known(left, words, verbs) and (
            right in _PLURALS
            or (right in _AFTER_HEH and left.endswith("ه"))
            or (right in _COMPARATIVES and "AJ" in words[left][1])
        ):
            found[at] = False
    return found


def mend_word(word: str, words: _Words, verbs: set[str]) -> str:
    """Put back the ZWNJ a word lost, where the lexicon (hazm's ``words`` and ``verbs``) is sure.

    A word known as written stays, and so does one that reads as a known word and a suffix written joined
    («میدانی»: «میدان» + «ی»). «می»/«نمی» and a verb are joined («میشود» → «می‌شود»). Otherwise a word
    listed as written stays; one that is not gets a ZWNJ where the lexicon knows it with one («بی‌وقفه») or
    where it splits into a known word and a suffix («مجاهدت‌های», «فرموده‌اند»), if there is exactly one
    such place: «درهای» could be «در‌های» or «دره‌ای», and stays.
    """
    if _known(word, words, verbs) or _joined_reading(word, words, verbs):
        return word
    for prefix in _MI:
        if word.startswith(prefix) and (verb := prefix + ZWNJ + word[len(prefix) :]) in verbs:
            return verb
    if word in words:
        return word
    found = _splits(word, words, verbs)
    if len(found) != 1:
        return word
    ((at, listed),) = found.items()
    if word[at - 1] in _NON_JOINING or not (listed or at > 2):
        return word  # after «ز» (as in «روزها») a ZWNJ changes nothing; two letters are too little to go on
    return word[:at] + ZWNJ + word[at:]


# -- display ---------------------------------------------------------------------------------------

# hazm spaces out punctuation, numbers included: «۱۲.۵» becomes «۱۲ ٫ ۵», «2025-11-26» «۲۰۲۵ - ۱۱ - ۲۶»,
# a range «۱۰ ـ ۱۲».
_SPLIT_NUMBER = re.compile(r"(?<=\d) ?([٫٬./:\-ـ–—]|,(?= ?\d{3}(?!\d))) ?(?=\d)")
_PERCENT = re.compile(r"(?<=\d) +(?=[٪%])")
_SPACES = re.compile(r"[ \t\u00a0]+")
# A ZWNJ only means something between two letters; hazm leaves some elsewhere («/‌», «می‌۱۲»).
_STRAY_ZWNJ = re.compile(r"(?<![^\W\d_])\u200c+|\u200c+(?![^\W\d_])")
MAX_DISPLAY_PASSES = 4
"""hazm's steps run in a fixed order, so one pass can leave work for the next: it spaces affixes before it
removes the marks that hide them («کتاب خانهٓ» → «کتاب خانه» → «کتاب‌خانه»). ``display`` repeats until
nothing changes; real text settles in one or two passes."""


def _normalized(text: str) -> str:
    normalized = display_normalizer().normalize(text)
    normalized = _SPLIT_NUMBER.sub(r"\1", normalized)
    normalized = _PERCENT.sub("", normalized)
    normalized = _STRAY_ZWNJ.sub("", normalized)
    return _SPACES.sub(" ", normalized).strip()


def _display_once(text: str) -> str:
    shown = ""
    space = False
    for protected, piece in _pieces(text):
        part = piece if protected else _normalized(piece)
        if not protected:
            space = space or piece[:1].isspace()
        if not part:
            space = space or piece[-1:].isspace()
            continue
        if shown and space and not part.startswith(_CLOSING) and not shown.endswith(_OPENING):
            shown += " "
        shown += part
        space = not protected and piece[-1:].isspace()
    return shown


def display(text: str) -> str:
    """Return ``text`` as readers should see it: normalized with hazm where that keeps its meaning, one line."""
    for _ in range(MAX_DISPLAY_PASSES):
        shown = _display_once(text)
        if shown == text:
            break
        text = shown
    return text
