"""Search and answers over the bundled seed article, as readers would ask."""

from __future__ import annotations

import pytest

from bot.testing.seed_questions import (
    ANSWERABLE,
    COMMANDER,
    IN_REPLY,
    PRIORITY,
    QUESTION,
    RANKED_BUT_REFUSED,
    SEED_ARTICLE,
    UNANSWERABLE,
)
from retrieval import Article, Index, build_index
from retrieval.answer import Outcome, answer, format_date, plain_reply


@pytest.mark.parametrize(("question", "sentence"), ANSWERABLE, ids=[q for q, _ in ANSWERABLE])
def test_question_ranks_its_sentence_first_and_is_answered(seed_index: Index, question: str, sentence: int) -> None:
    result = answer(seed_index, question)
    assert [h.sentence.position for h in result.hits][:1] == [sentence]
    assert result.outcome is Outcome.ANSWERED


@pytest.mark.parametrize(("question", "expected"), IN_REPLY, ids=[q for q, _ in IN_REPLY])
def test_reply_shows_the_answer_in_the_passage(seed_index: Index, question: str, expected: str) -> None:
    result = answer(seed_index, question)
    assert result.answered
    assert expected in plain_reply(result)


@pytest.mark.parametrize(("question", "sentence"), RANKED_BUT_REFUSED, ids=[q for q, _ in RANKED_BUT_REFUSED])
def test_ranked_first_even_when_refused(seed_index: Index, question: str, sentence: int) -> None:
    result = answer(seed_index, question)
    assert result.hits[0].sentence.position == sentence


@pytest.mark.xfail(
    reason="«وی» (he) stands for the commander named two paragraphs earlier: no coreference", strict=True
)
def test_coreference_across_paragraphs(seed_index: Index) -> None:
    result = answer(seed_index, "انتظار فرمانده انتظامی از دستگاه‌ها چیست؟")
    assert result.hits[0].sentence.position == 9


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_question_gets_no_answer(seed_index: Index, question: str) -> None:
    result = answer(seed_index, question)
    assert not result.answered
    assert result.best is None
    assert plain_reply(result)  # a polite Persian text, never empty


@pytest.mark.parametrize(
    ("question", "outcome"),
    [
        ("", Outcome.EMPTY),
        ("   \n", Outcome.EMPTY),
        ("سلام", Outcome.SMALL_TALK),
        ("؟؟؟", Outcome.NO_CONTENT),
        ("چه کسی است؟", Outcome.NO_CONTENT),
        ("قیمت دلار امروز چند است؟", Outcome.NOT_FOUND),
    ],
)
def test_outcomes(seed_index: Index, question: str, outcome: Outcome) -> None:
    assert answer(seed_index, question).outcome is outcome


def test_no_usable_words_means_no_passages(seed_index: Index) -> None:
    assert answer(seed_index, "؟؟؟").hits == ()
    assert answer(seed_index, "سلام").hits == ()


def test_unanswered_question_keeps_its_passages(seed_index: Index) -> None:
    result = answer(seed_index, "قیمت دلار و سکه در بازار لرستان چند است؟", k=3)
    assert not result.answered
    assert result.hits  # «لرستان» still ranks sentences; they are shown as passages, not as the answer


def test_top_k(seed_index: Index) -> None:
    assert len(seed_index.search("فرمانده انتظامی لرستان", 5)) == 5
    assert len(seed_index.search("فرمانده انتظامی لرستان", 1)) == 1


def test_hits_carry_neighbours(seed_index: Index) -> None:
    [hit] = seed_index.search(PRIORITY, 1)
    assert hit.before is not None
    assert hit.before.position == hit.sentence.position - 1
    assert hit.after is not None
    assert hit.after.position == hit.sentence.position + 1
    assert hit.article.id == SEED_ARTICLE


def test_first_and_last_sentences_have_one_neighbour(seed_index: Index) -> None:
    assert seed_index.neighbours(0)[0] is None
    assert seed_index.neighbours(len(seed_index) - 1)[1] is None


def test_plain_reply_has_passage_title_and_both_calendars(seed_index: Index) -> None:
    reply = plain_reply(answer(seed_index, QUESTION))
    assert COMMANDER in reply
    assert "بسیج؛ ستون استوار امنیت و همراهی در لرستان" in reply
    assert "۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)" in reply


def test_format_date() -> None:
    import datetime as dt

    assert format_date(dt.date(2025, 11, 26)) == "۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)"
    assert format_date(dt.date(2024, 3, 20)) == "۱ فروردین ۱۴۰۳ (۲۰ مارس ۲۰۲۴)"


def test_marks_are_the_question_words_in_any_spelling_once_each(seed_index: Index) -> None:
    passage = answer(seed_index, "فرمانده انتظامي لرستان كیست؟").passages[0]  # Arabic ي and ك
    marked = [passage.sentence[a:b] for a, b in passage.marks]
    assert sorted(marked) == sorted(["فرمانده", "انتظامی", "لرستان"])  # each once, not every repeat
    typo = answer(seed_index, "شهید جمشیدپور").passages[0]  # a letter dropped: the correction is marked
    assert "جمشیدیپور" in [typo.sentence[a:b] for a, b in typo.marks]
    joined = answer(seed_index, "نعمت الله باقری کیست؟").passages[0]  # typed apart: «نعمتالله» in the article
    assert "نعمت\u200cالله" in [joined.sentence[a:b] for a, b in joined.marks]  # shown with its ZWNJ mended


def test_typo_in_a_rare_word_still_finds_it(seed_index: Index) -> None:
    # «جمشیدیپور» with one letter dropped: the character n-grams of the known words bring it back.
    hits = seed_index.search("شهید جمشیدپور", 1)
    assert hits[0].sentence.position == 7


def test_empty_collection_of_sentences_searches_to_nothing() -> None:
    index = build_index([Article("a", "عنوان", None, (), "")])
    assert len(index) == 0
    assert index.search("فرمانده", 3) == []


def test_ties_rank_in_collection_order() -> None:
    articles = [Article(str(i), "عنوان", None, ("خبر یکسان درباره زلزله.",), "") for i in range(3)]
    hits = build_index(articles).search("زلزله", 3)
    assert [h.article.id for h in hits] == ["0", "1", "2"]


# -- what the question asks for ---------------------------------------------------------------------


def _index(*paragraphs: str) -> Index:
    return build_index([Article("a", "یادداشت", None, paragraphs, "")])


def test_definition_question_prefers_the_sentence_about_its_subject() -> None:
    index = _index(
        "در این شهر موزه‌ای به نام آرامگاه هم هست.",
        "آرامگاه بنایی است که بر گور بزرگان می‌سازند.",
    )
    assert index.search("آرامگاه چیست؟", 1)[0].sentence.position == 1


def test_number_question_prefers_the_sentence_with_digits() -> None:
    index = _index(
        "دانشگاه تهران قدیمی‌ترین دانشگاه نوین ایران است.",
        "دانشگاه تهران در سال ۱۳۱۳ تأسیس شد.",
        "دانشگاه تهران را دولت وقت تأسیس کرد.",
    )
    assert index.search("دانشگاه تهران در چه سالی تأسیس شد؟", 1)[0].sentence.position == 1


def test_sentence_opening_with_a_pronoun_borrows_from_the_one_before() -> None:
    index = _index("ابن‌سینا پزشک و فیلسوف ایرانی بود. او کتاب قانون را در پزشکی نوشت.")
    assert index.search("ابن سینا چه کتابی در پزشکی نوشت؟", 1)[0].sentence.position == 1


def test_article_title_is_context_for_its_sentences() -> None:
    index = build_index(
        [
            Article("a", "زلزله کرمان", None, ("این رویداد صبح دیروز رخ داد و خسارت زیادی داشت.",), ""),
            Article("b", "بازار", None, ("خسارت بازار دیروز زیاد بود.",), ""),
        ]
    )
    assert index.search("خسارت زلزله کرمان", 1)[0].article.id == "a"


@pytest.mark.parametrize(
    ("typed", "merged"),
    [
        (["بازی", "های", "المپیک"], ["بازیهای", "المپیک"]),
        (["می", "شود"], ["میشود"]),
        (["نمی", "خواهم"], ["نمیخواهم"]),
        (["بزرگ", "ترین", "شهر"], ["بزرگترین", "شهر"]),
        (["خوب", "است"], ["خوب", "است"]),  # «است» stands alone in questions
        (["او", "هم", "امد"], ["او", "هم", "امد"]),  # so does «هم»
        ([], []),
    ],
)
def test_affixes_typed_apart_join_their_word(typed: list[str], merged: list[str]) -> None:
    from retrieval.analysis import merge_affixes

    assert merge_affixes(typed) == merged


def test_spelling_corrections_are_close_known_words() -> None:
    from retrieval.fuzzy import FuzzyWords

    words = FuzzyWords.build([("بارسا", 1), ("بارسلون", 2), ("اسلام", 3), ("اعلام", 4), ("سلام", 5), ("کتاب", 6)])
    assert [c.word for c in words.similar("باسا")] == ["بارسا"]  # one letter dropped
    assert [c.word for c in words.similar("بارسلونا")] == ["بارسلون"]  # one added
    assert [c.word for c in words.similar("اعلم")] == ["اعلام"]  # «اسلام» is two edits away
    assert [c.word for c in words.similar("اسام")] == ["اسلام"]
    assert words.similar("تلفن") == []  # nothing close
    assert words.similar("کتب") == []  # too short to guess


def test_typo_of_a_short_name_still_finds_it(seed_index: Index) -> None:
    # «فراجا» (the police) with a letter dropped.
    assert seed_index.search("همکاری سپاه و فرجا", 1)[0].sentence.position == 0


def test_answers_show_the_stored_display_text_without_normalizing(
    seed_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Display text is computed once when the index is built: answering runs no hazm normalization."""
    import retrieval.display
    from retrieval.answer import hits_as_dicts

    def refuse(text: str) -> str:
        raise AssertionError(f"display ran at answer time on {text!r}")

    monkeypatch.setattr(retrieval.display, "_display_once", refuse)
    result = answer(seed_index, QUESTION)
    reply = plain_reply(result)
    passages = hits_as_dicts(result.hits)
    assert COMMANDER in reply
    assert "📰 بسیج؛ ستون استوار امنیت و همراهی در لرستان" in reply
    assert passages[0]["text"] == result.hits[0].sentence.display
    assert "ورود میدانی" in seed_index.sentence(5).display
