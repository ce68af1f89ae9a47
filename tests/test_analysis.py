"""The analysis of sentences and questions (``retrieval.analysis``), table by table."""

from __future__ import annotations

import pytest

from retrieval import analysis


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("ببر کجا زندگی می‌کند؟", ["ببر", "زندگی", "میکند"]),  # the tiger, not "take!"
        ("ببر چیست؟", ["ببر"]),
        ("غذای ببر بنگال چیست؟", ["غذای", "ببر", "بنگال"]),
        ("سه شهر بزرگ ایران را نام ببر", ["سه", "شهر", "بزرگ", "ایران", "را"]),  # the request
        ("سه شهر بزرگ ایران را اسم ببر", ["سه", "شهر", "بزرگ", "ایران", "را"]),
        ("سه شهر بزرگ ایران را نام ببرید", ["سه", "شهر", "بزرگ", "ایران", "را"]),
    ],
)
def test_request_words_that_are_nouns(question: str, searched: list[str]) -> None:
    assert analysis.question_words(question) == searched


@pytest.mark.parametrize(("question", "content"), [("ببر چیست؟", ["ببر"]), ("نام ببر", [])])
def test_a_noun_reading_is_content(question: str, content: list[str]) -> None:
    assert analysis.content_words(question) == content


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("درگذشته\u200cاست", ["درگذشته", "است"]),
        ("رفته\u200cاند", ["رفته", "اند"]),
        ("کرده\u200cایم", ["کرده", "ایم"]),
        ("درگذشته است", ["درگذشته", "است"]),
        ("خانه\u200cای", ["خانهای"]),  # hazm's stemmer takes «ای» off well
        ("درخواست", ["درخواست"]),
        ("است\u200cها", ["استها"]),
    ],
)
def test_a_clitic_after_a_zwnj_is_a_word(text: str, split: list[str]) -> None:
    assert analysis.words(text) == split


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("درگذشتهاست", "درگذشته"),
        ("شدهاست", "شده"),
        ("گفتهاند", "گفته"),
        ("رفتهاند", "رفته"),
        ("کتابهاست", "کتاب"),
        ("درگذشته", "درگذشته"),
        ("درخواست", "درخواس"),  # hazm's own cut: a word, not a clitic
        ("سیاست", "سیاس"),
        ("خواسته", "خواسته"),
    ],
)
def test_glued_clitics_come_off_before_stemming(word: str, stem: str) -> None:
    assert analysis.stems([word]) == ["~" + stem]


@pytest.mark.parametrize("text", ["درگذشته\u200cاست", "درگذشته است", "درگذشتهاست"])
def test_a_clitic_written_any_way_shares_the_stem(text: str) -> None:
    terms = analysis.terms(text)
    assert "~درگذشته" in terms
    assert "درگذشتهاست" in terms


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("۱۷٫۱میلیون دلار", ["17.1", "میلیون", "دلار"]),
        ("5میلیارد", ["5", "میلیارد"]),
        ("سال۱۳۹۸", ["سال", "1398"]),
        ("3.5 درصد", ["3.5", "درصد"]),
        ("۱۳۹۸/۰۵/۱۲", ["1398", "05", "12"]),
        ("COVID-19", ["covid", "19"]),
        ("5G", ["5", "g"]),
        ("پایان.", ["پایان"]),
        ("1.", ["1"]),
    ],
)
def test_digits_and_letters_are_separate_words(text: str, split: list[str]) -> None:
    assert analysis.words(text) == split


def test_a_number_glued_to_its_unit_is_found_by_the_unit() -> None:
    assert "میلیون" in analysis.terms("۱۷٫۱میلیون نفر")
