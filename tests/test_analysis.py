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
