"""Normalization: the matching key folds what Persian writers vary (display text: ``test_display.py``)."""

import pytest

from retrieval.normalize import fold

# (input, folded, what the row shows)
FOLD_CASES = [
    ("", "", "empty input"),
    ("\t\n\u00a0 ", "    ", "every kind of space becomes a plain space"),
    ("می‌شود", "میشود", "ZWNJ present"),
    ("میشود", "میشود", "ZWNJ absent"),
    ("فرموده‌اند", "فرمودهاند", "ZWNJ before a suffix"),
    ("هاشمی‌فر", "هاشمیفر", "ZWNJ inside a name"),
    ("كتاب", "کتاب", "Arabic kaf"),
    ("علي", "علی", "Arabic yeh"),
    ("على", "علی", "alef maksura"),
    ("مدرسة", "مدرسه", "teh marbuta"),
    ("خانهٔ", "خانه", "hamza above after heh"),
    ("خانۀ", "خانه", "heh with yeh above (precomposed)"),
    ("مؤمن", "مومن", "waw with hamza"),
    ("مسئول", "مسیول", "yeh with hamza folds like plain yeh"),
    ("تأکید", "تاکید", "alef with hamza above"),
    ("إمام", "امام", "alef with hamza below"),
    ("آمریکا", "امریکا", "alef with madda"),
    ("اجزاء", "اجزا", "standalone hamza"),
    ("مُحَمَّد", "محمد", "diacritics (fatha, damma, shadda)"),
    ("بـــسیج", "بسیج", "tatweel"),
    ("۱۴۰۴", "1404", "Persian digits"),
    ("١٤٠٤", "1404", "Arabic-Indic digits"),
    ("1404", "1404", "Latin digits stay"),
    ("Tehran TIMES", "tehran times", "Latin case"),
    ("\u200fسلام\u200e", "سلام", "bidi marks"),
    ("\ufeffسلام", "سلام", "byte order mark"),
    ("ﻻ", "لا", "presentation form ligature"),
    ("ھمه", "همه", "heh doachashmee"),
]


@pytest.mark.parametrize(("text", "expected", "shows"), FOLD_CASES, ids=[c[2] for c in FOLD_CASES])
def test_fold(text: str, expected: str, shows: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("همافزایی", "هم‌افزایی"),
        ("بسيج متشكل", "بسیج متشکل"),
        ("مؤمن", "مومن"),
        ("خانهٔ", "خانه"),
    ],
)
def test_variants_fold_alike(variant: str, canonical: str) -> None:
    assert fold(variant) == fold(canonical)


def test_fold_is_idempotent() -> None:
    text = "فرمانده‌ي انتظامي لرستان كيست؟ ۱۲۳ Abc"
    assert fold(fold(text)) == fold(text)
