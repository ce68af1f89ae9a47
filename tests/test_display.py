"""Display text: the article's own words, Persian letters and digits, evenly spaced (issue 11 §1).

Tables of what display shows, one row per case and what it shows; a property over random text that
display changes spacing, ZWNJ, letter forms and digit shapes only, never which letters are there.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.display import display, display_normalizer, mend_word
from retrieval.normalize import fold
from tests.test_properties import PIECES, hostile

ZWNJ = "\u200c"

# (input, displayed, what the row shows): each was shown otherwise before display protected the text.
MEANING_CASES = [
    ("ورود میدانی", "ورود میدانی", "«میدانی» (field) is «میدان» + «ی», not the verb «می‌دانی» (you know)"),
    ("https://irna.ir/x/123", "https://irna.ir/x/123", "a URL as written"),
    ("خبر در https://irna.ir/x/123.", "خبر در https://irna.ir/x/123.", "a URL ending a sentence"),
    ("info@tci.ir", "info@tci.ir", "an e-mail address"),
    ("با @news_24 تماس", "با @news_24 تماس", "a @username with digits"),
    ("#انتخابات_1404", "#انتخابات_1404", "a #hashtag with Latin digits"),
    ("5G", "5G", "a Latin letter-digit token"),
    ("G20", "G20", "letters, then digits"),
    ("H2O", "H2O", "a formula"),
    ("MP3", "MP3", "a format"),
    ("120Mbps", "120Mbps", "digits, then a unit"),
    ("COVID-19", "COVID-19", "a name with a dash"),
    ("F-16", "F-16", "a model with a dash"),
    ("۲۰٪", "۲۰٪", "a percent sign on its Persian number"),
    ("12%", "۱۲٪", "a percent sign on its Latin number: Persian digits and sign, still together"),
    ("۱۰ـ۱۲", "۱۰ـ۱۲", "a range written with a tatweel stays a range"),
    ("۱۰–۱۲", "۱۰–۱۲", "a range written with an en dash"),
    ("I.R.I.B", "I.R.I.B", "an abbreviation with dots"),
    ("مادهٔ ۱۲", "مادهٔ ۱۲", "hamza above (ezafe) is kept"),
    ("ماه می ۲۰۲۵", "ماه می ۲۰۲۵", "«می» (May) is not joined to the number after it"),
    ("ماه می سال", "ماه می سال", "nor to a word that makes no verb with it"),
    ("سلاممم", "سلاممم", "repeated letters are left as written"),
    ("پیامبر ﷺ", "پیامبر ﷺ", "an honorific ligature is kept"),
    ("فرمودهاند", "فرموده\u200cاند", "a lost ZWNJ before «اند», from the lexicon"),
    ("بیوقفه", "بی\u200cوقفه", "a lost ZWNJ after «بی»: the lexicon knows «بی‌وقفه»"),
    ("مجاهدتهای", "مجاهدت\u200cهای", "a lost ZWNJ before «های»: a known word and a plural suffix"),
    ("عرصهای", "عرصه\u200cای", "a lost ZWNJ after a silent «ه»"),
]

# (input, displayed, what the row shows): what display did already and still does.
KEPT_CASES = [
    ("", "", "empty input"),
    ("  \n ", "", "whitespace only"),
    ("می شود", "می\u200cشود", "«می» and a verb joined"),
    ("میشود", "می\u200cشود", "«می» and a verb written as one word"),
    ("نمیشود", "نمی\u200cشود", "«نمی» and a verb"),
    ("۱۰-۱۲", "۱۰-۱۲", "a range with a dash"),
    ("هاشمیفر", "هاشمیفر", "a name the lexicon does not know is never split («هاشمی» + «فر»)"),
    ("درهای", "درهای", "two readings («در‌های», «دره‌ای»): left as written"),
    ("روزهای", "روزهای", "a word listed as written stays"),
    ("کتابها", "کتابها", "no ZWNJ after a letter that does not join («ب» does, but «کتابها» is listed)"),
    ("سال 1404", "سال ۱۴۰۴", "digits shown in Persian"),
    ("۱۲.۵ درصد", "۱۲٫۵ درصد", "a decimal number stays one number"),
    ("ساعت 10:30", "ساعت ۱۰:۳۰", "a time stays one token"),
    ("1,000 تومان", "۱,۰۰۰ تومان", "thousands separator"),
    ("الف   ب", "الف ب", "runs of spaces collapse"),
    ("كتاب", "کتاب", "Arabic letters become Persian"),
    ("date 2025-11-26", "date ۲۰۲۵-۱۱-۲۶", "a Latin word beside a date"),
    ("(5G)", "(5G)", "brackets around a protected token"),
    ("سرعت 5G ، بالا", "سرعت 5G، بالا", "no space before a comma after a protected token"),
]


@pytest.mark.parametrize(("text", "expected", "shows"), MEANING_CASES, ids=[c[2] for c in MEANING_CASES])
def test_display_keeps_meaning(text: str, expected: str, shows: str) -> None:
    assert display(text) == expected
    assert display(expected) == expected


@pytest.mark.parametrize(("text", "expected", "shows"), KEPT_CASES, ids=[c[2] for c in KEPT_CASES])
def test_display_still(text: str, expected: str, shows: str) -> None:
    assert display(text) == expected


def test_display_in_a_sentence() -> None:
    text = "وی گفت: سرعت 5G در ۲۰٪ شهرها (به گزارش https://irna.ir/x/123) از 120Mbps گذشت؛ info@tci.ir"
    assert display(text) == text


# (word, mended, what the row shows)
MEND_CASES = [
    ("فرمودهاند", "فرموده\u200cاند", "suffix after a silent «ه»"),
    ("مجاهدتهای", "مجاهدت\u200cهای", "plural suffix after a known word"),
    ("بیوقفه", "بی\u200cوقفه", "the lexicon knows the word with a ZWNJ"),
    ("میشود", "می\u200cشود", "«می» + a verb"),
    ("میدانی", "میدانی", "«میدان» + «ی» is another reading"),
    ("هاشمیفر", "هاشمیفر", "a name: «فر» is a word, not a suffix"),
    ("جانبرکف", "جانبرکف", "an unknown compound"),
    ("درهای", "درهای", "two places a ZWNJ could go"),
    ("فیها", "فیها", "a two-letter stem is too little to go on"),
]


@pytest.mark.parametrize(("word", "expected", "shows"), MEND_CASES, ids=[c[2] for c in MEND_CASES])
def test_mend_word(word: str, expected: str, shows: str) -> None:
    normalizer = display_normalizer()
    assert mend_word(word, normalizer._words, normalizer._verbs) == expected


# -- display changes how letters look, never which they are ------------------------------------------


def skeleton(text: str) -> str:
    """The letters and digits of ``text``, folded: no spaces, ZWNJ, marks or punctuation, ASCII digits."""
    return "".join(c for c in fold(text) if c.isalnum())


PROTECTED_PIECES = [
    "https://irna.ir/x/123", "www.tci.ir/a?b=1", "info@tci.ir", "@news_24", "#هفته_بسیج", "5G", "G20", "H2O",
    "COVID-19", "F-16", "I.R.I.B", "120Mbps", "12%", "۲۰٪", "۱۰ـ۱۲", "10-12", "مادهٔ", "میدانی", "میشود",
    "فرمودهاند", "بیوقفه", "مجاهدتهای", "هاشمیفر", "درهای", "ﷺ", "سلاممم", "ـ", "٪",
]  # fmt: skip
_display_text = st.one_of(
    hostile,
    st.lists(st.sampled_from([*PIECES, *PROTECTED_PIECES]), max_size=30).map("".join),
    st.lists(st.sampled_from([*PIECES, *PROTECTED_PIECES]), max_size=30).map(" ".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_display_text)
def test_display_changes_no_letter(text: str) -> None:
    shown = display(text)
    assert skeleton(shown) == skeleton(text)
    assert display(shown) == shown
