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


@pytest.mark.parametrize(
    ("sentence", "term"),
    [
        ("چهار گل زد", "4"),
        ("۴ گل زد", "چهار"),
        ("4 گل زد", "چهار"),
        ("پانزده نفر", "15"),
        ("پونزده نفر", "15"),
        ("۱۵ نفر", "پانزده"),
        ("بیست سال", "20"),
        ("۶ ماه", "شش"),
        ("سیصد کیلومتر", "300"),
        ("صفر درصد", "0"),
    ],
)
def test_a_number_is_indexed_in_words_and_digits(sentence: str, term: str) -> None:
    assert term in analysis.terms(sentence)


@pytest.mark.parametrize(("sentence", "term"), [("نه، نرفت", "9"), ("۹ نفر", "نه"), ("۲۵ نفر", "بیست")])
def test_no_number_term_where_it_is_unsure(sentence: str, term: str) -> None:
    assert term not in analysis.terms(sentence)


@pytest.mark.parametrize(
    ("question", "expected"),
    [("چهار گل زده شد", "b"), ("۳ گل زده شد", "a"), ("3 گل زده شد", "a"), ("۴ گل زده شد", "b")],
)
def test_search_finds_a_number_in_the_other_spelling(question: str, expected: str) -> None:
    from retrieval import Article, build_index

    texts = {"a": "در بازی اول سه گل زده شد.", "b": "در بازی دوم ۴ گل زده شد."}
    index = build_index(Article(id=k, title="", date=None, paragraphs=(v,), digest="") for k, v in texts.items())
    assert index.search(question, 1)[0].article.id == expected
