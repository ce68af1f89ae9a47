"""Hostile input through the real bot: whatever people type gets a sensible Persian reply, never a
traceback, and nothing unescaped (the stand-in parses every HTML message strictly, as Telegram does)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation import texts
from bot.conversation.render import BOLD, MAX_MESSAGE, PLAIN, QUOTE, html_messages, single_line
from bot.testing.harness import ADMIN_ID, BOT_USERNAME, RunningBot, replies_to, sent_to
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import GROUP_ID, USER_ID, BotApiStandin, parse_html, utf16_len

PERSIAN = re.compile(r"[\u0600-\u06ff]")

HOSTILE = {
    "4096 Persian characters": (QUESTION + " ") * (4096 // (len(QUESTION) + 1)),
    "4096 angle brackets": "<" * 4096,
    "4096 ampersands": "&" * 4096,
    "one 4096-letter word": "ب" * 4096,
    "digits": "۱۲۳۴۵۶۷۸۹۰" * 409,
    "emoji only": "😀👍🏽🇮🇷",
    "emoji sequences": "👨\u200d👩\u200d👧 🏳️\u200d🌈 ❤️\u200d🔥",
    "script tag": "<script>alert('x')</script>",
    "markup around a question": f"<b>{QUESTION}</b><i>",
    "a link tag": '<a href="javascript:alert(1)">فرمانده</a>',
    "broken markup": "</b><b <<>> &#0; &#x110000; &lt;&amp",
    "a url": "https://evil.example.com/login?next=<b>&x=1",
    "a telegram url": "tg://resolve?domain=pasokh_test_bot&start=<x>",
    "control characters": "\x00\x01\x07\x1b[31mفرمانده\x1b[0m\x7f\x85",
    "line breaks": "فرمانده\r\nانتظامی\u2028لرستان\u2029کیست\t؟",
    "bidi override": "\u202eفرمانده انتظامی لرستان کیست؟\u202c",
    "bidi isolates and marks": "\u2067\u200fلرستان\u200e\u2069 \u200f؟",
    "only zwnj": "\u200c\u200c\u200c",
    "combining marks": "ف" + "\u0651" * 1000,
    "private use and noncharacters": "\ue000\uf8ff\ufdd0\ufffe\U0010ffff",
    "mixed scripts": "Фермандe انتظامی 警察 لرستان?",
    "sql-like": "'; DROP TABLE asked; --",
    "format string": "%s %d {0} {question!r} %(token)s",
    "a bot command inside": f"/reload@{BOT_USERNAME} {QUESTION}",
}


def _sensible(html_text: str) -> str:
    """The plain text of a reply that must be fine: valid HTML, within the limit, Persian, no apology."""
    plain, _ = parse_html(html_text)
    assert 0 < len(plain) <= MAX_MESSAGE
    assert PERSIAN.search(plain), plain
    assert plain != texts.ERROR and "Traceback" not in plain
    return plain


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_private_message_gets_a_sensible_reply(api: BotApiStandin, bot: RunningBot, name: str) -> None:
    api.private_message(HOSTILE[name])
    api.private_message("/help")  # sentinel: every message of the reply has been sent
    calls = await api.wait_for(lambda c: c.method == "sendMessage" and int(c.params["chat_id"]) == USER_ID, count=2)
    assert [c.status for c in calls] == [200, 200]  # the stand-in accepted the HTML: it was escaped
    _sensible(calls[0].params["text"])
    assert calls[1].params["text"] == texts.HELP


@pytest.mark.parametrize("name", ["4096 angle brackets", "script tag", "bidi override", "control characters"])
async def test_hostile_group_question_gets_a_sensible_quoted_reply(
    api: BotApiStandin, bot: RunningBot, name: str
) -> None:
    asked = api.group_message(f"/ask@{BOT_USERNAME} {HOSTILE[name]}"[:4096])
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    _sensible(call.params["text"])


@pytest.mark.parametrize("name", ["markup around a question", "4096 ampersands", "emoji only", "a url"])
async def test_hostile_inline_query_gets_valid_results(api: BotApiStandin, bot: RunningBot, name: str) -> None:
    api.inline_query(HOSTILE[name][:256])  # Telegram caps inline queries at 256 characters
    [call] = await api.wait_for("answerInlineQuery")
    assert call.status == 200
    for result in call.params["results"]:
        _sensible(result["input_message_content"]["message_text"])


async def test_a_markup_question_is_answered_from_the_words_inside(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(HOSTILE["markup around a question"])
    [call] = await api.wait_for(sent_to(USER_ID))
    assert COMMANDER in _sensible(call.params["text"])


async def test_hostile_unanswered_questions_are_listed_on_one_line_each_and_escaped(
    api: BotApiStandin, bot: RunningBot
) -> None:
    hostile = ["<script>alert(1)</script> قیمت دلار", "قیمت\nسکه\x1b[31m", "\u202eقیمت طلا\u202c &amp;"]
    for text in hostile:
        api.private_message(text)
    api.private_message("/help")
    await api.wait_for(lambda c: sent_to(USER_ID)(c) and c.params["text"] == texts.HELP)
    api.private_message("/unanswered", user_id=ADMIN_ID)
    [call] = await api.wait_for(sent_to(ADMIN_ID))
    plain = parse_html(call.params["text"])[0]
    lines = plain.splitlines()
    assert lines[1:] == ["۱. قیمت طلا &amp;", "۲. قیمت سکه [31m", "۳. <script>alert(1)</script> قیمت دلار"]
    assert not re.search(r"[\x00-\x1f\u202a-\u202e\u2066-\u2069]", "".join(lines))


# -- rendering, property-based --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=3000), st.sampled_from([PLAIN, BOLD, QUOTE])), max_size=6))
def test_rendered_messages_always_parse_and_keep_every_character(pieces: list[tuple[str, str]]) -> None:
    messages = html_messages(pieces)
    plains = [parse_html(m)[0] for m in messages]
    assert all(0 < utf16_len(p) <= MAX_MESSAGE for p in plains)
    original = "".join(text for text, _ in pieces)
    assert "".join("".join(plains).split()) == "".join(original.split())


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=500))
def test_single_line_leaves_no_line_break_control_or_bidi_override(text: str) -> None:
    line = single_line(text)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", line)
    assert line == line.strip()
