"""What a reader is shown: the answering sentence stands out, marks mean something, passages never repeat."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.testing.harness import RunningBot, plain, running_bot, sent_to
from bot.testing.seed_questions import PRIORITY, PRIORITY_ANSWER, QUESTION
from bot.testing.standin import USER_ID, BotApiStandin, parse_html
from retrieval import Index
from retrieval.answer import answer
from tests.conftest import write_seed


def _bold(html_text: str) -> list[str]:
    return re.findall(r"<b>(.*?)</b>", html_text)


def _underlined(html_text: str) -> list[str]:
    return re.findall(r"<u>(.*?)</u>", html_text)


def _quoted(html_text: str) -> list[str]:
    return re.findall(r"<blockquote>(.*?)</blockquote>", html_text, re.DOTALL)


async def test_the_answering_sentence_stands_out_between_quieter_neighbours(
    api: BotApiStandin, bot: RunningBot
) -> None:
    api.private_message(PRIORITY)
    [call] = await api.wait_for(sent_to(USER_ID))
    text = call.params["text"]
    quotes = _quoted(text)
    assert len(quotes) == 2  # the sentences before and after, set apart as quotes
    assert not any(PRIORITY_ANSWER in plain(q) for q in quotes)  # the answer is not among them...
    body = text.split("\n\n📰")[0]
    for quote in quotes:
        body = body.replace(f"<blockquote>{quote}</blockquote>", "")
    assert PRIORITY_ANSWER in plain(body)  # ...it is the plain sentence in the middle
    bold = _bold(body)
    assert bold and all(b in plain(body) for b in bold)
    assert not any(_bold(q) for q in quotes)  # marks only in the answering sentence
    assert len(bold) <= 6  # the question's words, not fifteen of them


async def test_words_found_through_joins_are_marked(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message("هاشمی فر کیست؟")  # typed apart; the article writes «هاشمیفر»
    [call] = await api.wait_for(sent_to(USER_ID))
    assert "هاشمیفر" in _bold(call.params["text"])


def test_passages_never_show_a_sentence_twice(seed_index: Index) -> None:
    result = answer(seed_index, QUESTION, 10)
    shown: list[tuple[int, int]] = []
    for passage in result.passages:
        for sentence in (passage.before, passage.sentence, passage.after):
            if sentence:
                shown.append(next((s.article, s.position) for s in _sentences(seed_index) if s.display == sentence))
    assert len(shown) == len(set(shown))
    assert len(result.passages) < len(result.hits)  # neighbouring hits were merged away
    assert result.passages[0].hit is result.hits[0]


def _sentences(index: Index) -> list:  # type: ignore[type-arg]
    return [index.sentence(row) for row in range(len(index))]


async def test_more_results_page_through_distinct_passages_and_count_them(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(QUESTION)
    [first] = await api.wait_for(sent_to(USER_ID))
    message_id = first.response["result"]["message_id"] if first.response else 0
    pages = [plain(first.params["text"]).split("\n\n📰")[0]]
    markup = first.params["reply_markup"]
    while more := [b for row in markup["inline_keyboard"] for b in row if b["text"].startswith("نتایج بیشتر")]:
        api.callback_query(USER_ID, message_id, more[0]["callback_data"])
        edits = await api.wait_for("editMessageText", count=len(pages))
        edit = edits[-1]
        pages.append(plain(edit.params["text"]).split("\n\n📰")[0])
        markup = edit.params["reply_markup"]
    footer = re.search(r"🔎 (\S+) از (\S+)", plain(edit.params["text"]))
    assert footer is not None and footer.group(1) == footer.group(2)  # the last page says «n از n»
    assert int(footer.group(2).translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))) == len(pages)
    sentences = [s for page in pages for s in page.split("\n") if s]
    assert len(sentences) == len(set(sentences))  # no sentence shown on two pages


async def test_an_unanswered_inline_query_offers_no_passage_as_an_answer(api: BotApiStandin, bot: RunningBot) -> None:
    api.inline_query("فرمانده نیروی دریایی ارتش کیست؟")  # refused in a private chat
    [call] = await api.wait_for("answerInlineQuery")
    assert call.status == 200
    assert call.params["button"]["start_parameter"] == "ask"  # ask privately instead
    results = call.params["results"]
    assert len(results) <= 3
    for result in results:  # the nearest ones, marked so in the list and in what they post
        assert result["title"].startswith("نزدیک‌ترین نتیجه، نه پاسخ")
        posted = plain(result["input_message_content"]["message_text"])
        assert posted.startswith("🔎 پاسخ مستقیمی پیدا نشد")
        assert result["description"].startswith("🔎 پاسخ مستقیمی پیدا نشد")


async def test_each_inline_result_posts_what_its_description_says(api: BotApiStandin, bot: RunningBot) -> None:
    api.inline_query(QUESTION)
    [call] = await api.wait_for("answerInlineQuery")
    for result in call.params["results"]:
        posted = parse_html(result["input_message_content"]["message_text"])[0]
        described = result["description"].removesuffix("…").strip()
        assert posted.startswith(described)


def test_a_sentence_longer_than_a_message_is_cut_clearly_and_the_source_stays(seed_index: Index) -> None:
    from bot.conversation.render import passage_pieces, to_html
    from bot.testing.standin import utf16_len

    result = answer(seed_index, PRIORITY)
    text = parse_html(to_html(passage_pieces(result, 0, limit=110)))[0]
    assert utf16_len(text) <= 110
    body, source = text.split("\n\n📰 ")
    assert body.startswith("سردار هاشمیفر ادامه داد")  # the answering sentence, cut when it cannot fit whole
    assert body.endswith(" …") and source.startswith("بسیج؛ ستون استوار")


FOUNDED = "شرکت نمونه در سال ۱۳۸۵ در شهر تهران به دست دو برادر تأسیس شد."


async def test_the_date_asked_for_is_the_one_bold_phrase_and_the_words_are_underlined(
    api: BotApiStandin, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seed(seeds, "company.txt", f"date 2025-01-01 شرکت نمونه\n{FOUNDED}\nاین شرکت امروز کارمندان زیادی دارد.")
    async with running_bot(api, tmp_path, seeds=seeds):
        api.private_message("شرکت نمونه در چه سالی تأسیس شد؟")
        api.private_message("شرکت نمونه را چه کسی تأسیس کرد؟")  # a person: no phrase to mark
        date, person = [c.params["text"].split("\n\n📰")[0] for c in await api.wait_for(sent_to(USER_ID), count=2)]
    assert _bold(date) == ["سال ۱۳۸۵"]  # the answer, once
    assert "تأسیس" in _underlined(date) and "شرکت" in _underlined(date)  # the question's words, quieter
    assert FOUNDED in plain(date).split("\n")  # the sentence as the article writes it
    assert "سال ۱۳۸۵" not in _bold(person) and not _underlined(person)
    assert "تأسیس" in _bold(person)  # the question's words in bold, as always
    assert FOUNDED in plain(person).split("\n")


_GRAPHEMES = ["🇮🇷", "👍🏽", "👨\u200d👩\u200d👧", "ب\u0651\u0650", "e\u0301", "ک", "۱"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_GRAPHEMES), min_size=1, max_size=80), st.integers(min_value=12, max_value=40))
def test_messages_and_cut_passages_never_split_a_grapheme(graphemes: list[str], limit: int) -> None:
    from bot.conversation.render import PLAIN, clip, split_pieces
    from bot.testing.standin import utf16_len

    text = "".join(graphemes)  # no space or punctuation to cut at: only grapheme boundaries
    ends = set(itertools.accumulate(map(len, graphemes), initial=0))
    at = 0
    for chunk in split_pieces([(text, PLAIN)], limit):  # a whole article in several messages
        piece = "".join(t for t, _ in chunk)
        assert utf16_len(piece) <= limit
        at += len(piece)
        assert at in ends, (graphemes, piece)
    clipped = "".join(t for t, _ in clip([(text, PLAIN)], limit)).removesuffix(" …")  # a passage cut short
    assert len(clipped) in ends
