"""The Telegram bot end to end: real handlers, real index, PTB's real HTTP stack, a Bot API stand-in."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.serving.lifecycle import Serving
from bot.testing.harness import (
    ADMIN_ID,
    BOT_USERNAME,
    RunningBot,
    copy_seeds,
    plain,
    replies_to,
    running_bot,
    sent_to,
)
from bot.testing.seed_questions import COMMANDER, PRIORITY, PRIORITY_ANSWER, QUESTION, SEED_ARTICLE
from bot.testing.standin import GROUP_ID, USER_ID, BotApiStandin, Call, utf16_len
from retrieval.answer import TEXTS, Outcome
from tests.conftest import write_seed


async def ask_private(api: BotApiStandin, text: str, user_id: int = USER_ID) -> list[str]:
    """Send a private message and return the plain text of the bot's reply (all its messages)."""
    before = len([c for c in api.calls("sendMessage") if int(c.params["chat_id"]) == user_id])
    api.private_message(text, user_id=user_id)
    calls = await api.wait_for(sent_to(user_id), count=before + 1)
    return [plain(c.params["text"]) for c in calls[before:]]


# -- private chats ----------------------------------------------------------------------------------


async def test_private_question_gets_the_passage_with_bold_words_title_and_dates(
    api: BotApiStandin, bot: RunningBot
) -> None:
    api.private_message(QUESTION)
    [call] = await api.wait_for(sent_to(USER_ID))
    text = call.params["text"]
    assert call.params["parse_mode"] == "HTML"
    assert COMMANDER in plain(text)
    assert "<b>فرمانده</b>" in text and "<b>لرستان</b>" in text
    assert "بسیج؛ ستون استوار امنیت و همراهی در لرستان" in plain(text)
    assert "۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)" in plain(text)
    buttons = [b["text"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any("نتایج بیشتر" in b for b in buttons)
    assert any("متن کامل خبر" in b for b in buttons)


async def test_unanswerable_question_gets_a_polite_no_answer(api: BotApiStandin, bot: RunningBot) -> None:
    [reply] = await ask_private(api, "قیمت دلار و سکه در بازار تهران چند است؟")
    assert reply.startswith("متأسفم، در خبرهایی که دارم پاسخی")
    assert "با واژه‌های دیگری" in reply


@pytest.mark.parametrize(
    ("text", "outcome"), [("سلام", Outcome.SMALL_TALK), ("؟؟؟", Outcome.NO_CONTENT), ("😀", Outcome.NO_CONTENT)]
)
async def test_small_talk_and_empty_questions_get_a_hint(
    api: BotApiStandin, bot: RunningBot, text: str, outcome: Outcome
) -> None:
    [reply] = await ask_private(api, text)
    assert reply == TEXTS[outcome]  # the hint, not the no-answer apology (which also says «پرسش»)
    assert reply != TEXTS[Outcome.NOT_FOUND]


async def test_html_special_characters_in_the_question_are_escaped(api: BotApiStandin, bot: RunningBot) -> None:
    # The stand-in rejects malformed HTML as Telegram does: a 200 proves every piece was escaped.
    [reply] = await ask_private(api, "<b>فرمانده</b> & انتظامی <script>لرستان</script> کیست؟")
    assert COMMANDER in reply


async def test_html_special_characters_in_an_article(api: BotApiStandin, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seed(
        seeds, "tags.txt", "date 2025-01-01 عنوان <b> & «نقل»\nقیمت <تخمینی> سکه & طلا در بازار x<y افزایش یافت."
    )
    async with running_bot(api, tmp_path, seeds=seeds):
        api.private_message("قیمت تخمینی سکه و طلا")
        [call] = await api.wait_for(sent_to(USER_ID))
    assert call.status == 200
    assert "x&lt;y" in call.params["text"] and "&amp;" in call.params["text"]
    assert "قیمت <تخمینی> سکه & طلا در بازار x<y" in plain(call.params["text"])
    assert "عنوان <b> & «نقل»" in plain(call.params["text"])


async def test_a_passage_too_long_for_a_message_is_cut_clearly_and_keeps_its_source(
    api: BotApiStandin, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    # One paragraph of 20,000 characters without a stop: cut into sentences of under 2,000 characters
    # (MAX_SENTENCE_CHARS), the answer in the middle one, so its passage (with the two beside it) is longer
    # than a message.
    words = [f"واژهٔ{i} طولانی 🇮🇷👍🏽" for i in range(900)]
    long_paragraph = f"در این گزارش {' '.join(words[:450])} زلزله بزرگ رخ داد {' '.join(words[450:])}."
    write_seed(seeds, "long.txt", f"date 2025-01-01 گزارش بلند\n{long_paragraph}")
    async with running_bot(api, tmp_path, seeds=seeds):
        api.private_message("زلزله بزرگ")
        [call] = await api.wait_for(sent_to(USER_ID))  # one message per answer, never a stream of them
        message_id = call.response["result"]["message_id"] if call.response else 0
        api.callback_query(USER_ID, message_id, call.params["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"])
        article = await api.wait_for(sent_to(USER_ID), count=2)
    assert call.status == 200
    text = plain(call.params["text"])
    assert utf16_len(text) <= 4096
    body, source = text.split("\n\n📰 ")
    assert "زلزله بزرگ رخ داد" in body  # the answering sentence always shows; neighbours give way first
    assert not body.rstrip(" …").endswith("واژه")  # anything cut is cut at a word boundary
    assert source.startswith("گزارش بلند") and "۱۲ دی ۱۴۰۳ (۱ ژانویه ۲۰۲۵)" in source  # the source is never cut
    assert call.params["reply_markup"]["inline_keyboard"][-1][-1]["text"] == "📄 متن کامل خبر"  # the rest
    assert article[-1].status == 200  # the whole article, in parts, every part whole graphemes
    for part in api.sent_messages(USER_ID)[1:]:
        assert "\U0001f1ee" not in part.text[-1:] and not part.text.endswith("\U0001f44d")


async def test_a_long_articles_button_sends_five_messages_and_renders_only_those(
    api: BotApiStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.conversation.render as render
    from bot.conversation import texts

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    # 120,000 characters: about 30 messages whole. One answer, then five messages behind the button.
    paragraphs = [f"بند {i} " + " ".join(f"واژهٔ{i}x{j}" for j in range(220)) + "." for i in range(60)]
    write_seed(seeds, "long.txt", "date 2025-01-01 گزارش بلند\nزلزله بزرگ در شهر رخ داد.\n" + "\n".join(paragraphs))
    cuts: list[int] = []  # the text left to split at each message boundary looked for
    real_cut = render._cut
    monkeypatch.setattr(render, "_cut", lambda text, limit: cuts.append(len(text)) or real_cut(text, limit))
    async with running_bot(api, tmp_path, seeds=seeds):
        api.private_message("زلزله بزرگ")
        [answer] = await api.wait_for(sent_to(USER_ID))
        message_id = answer.response["result"]["message_id"] if answer.response else 0
        cuts.clear()
        api.callback_query(
            USER_ID, message_id, answer.params["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
        )
        await api.wait_for(sent_to(USER_ID), count=6)
        api.private_message("/help")  # sentinel: nothing more of the article comes after it
        await api.wait_for(lambda c: sent_to(USER_ID)(c) and c.params["text"].startswith(texts.HELP))
    article = [plain(m.text) for m in api.sent_messages(USER_ID)[1:-1]]
    assert len(article) == 5
    assert article[-1] == texts.ARTICLE_TRUNCATED.strip()
    assert article[0].startswith("📰 گزارش بلند") and "زلزله بزرگ" in article[0]
    assert cuts and max(cuts) <= 5 * 4096 + 1  # what five messages can hold: the rest was never rendered


async def test_an_edited_question_edits_its_answer_and_is_never_answered_twice(
    api: BotApiStandin, bot: RunningBot
) -> None:
    injected = api.private_message("قیمت دلار در بازار تهران چند است؟")  # no answer in the articles
    [first] = await api.wait_for(sent_to(USER_ID))
    assert COMMANDER not in plain(first.params["text"])
    message_id = injected.update["message"]["message_id"]
    reply_id = first.response["result"]["message_id"] if first.response else 0
    api.edited_message(USER_ID, message_id, QUESTION)  # the user fixes the question
    [edit] = await api.wait_for("editMessageText")
    assert edit.status == 200 and int(edit.params["message_id"]) == reply_id
    assert COMMANDER in plain(edit.params["text"])  # the answer follows the edit...
    assert edit.params.get("reply_markup")  # ...with its buttons
    api.edited_message(USER_ID, message_id, QUESTION)  # an edit that changes nothing the user sees
    api.private_message("سلام")  # sentinel: answered after the edits, in order, in the same chat
    await api.wait_for(sent_to(USER_ID), count=2)
    assert len(api.sent_messages(USER_ID)) == 2  # the answer and the sentinel's: never a second answer
    assert COMMANDER in plain(api.sent_messages(USER_ID)[0].text)


async def test_an_edited_question_edits_its_answer_after_a_restart(api: BotApiStandin, tmp_path: Path) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    async with running_bot(api, tmp_path, seeds=seeds):
        injected = api.private_message("قیمت دلار در بازار تهران چند است؟")  # no answer in the articles
        [first] = await api.wait_for(sent_to(USER_ID))
    reply_id = first.response["result"]["message_id"] if first.response else 0
    async with running_bot(api, tmp_path, seeds=seeds):  # a restart (a deploy): the same state folder
        api.edited_message(USER_ID, injected.update["message"]["message_id"], QUESTION)
        [edit] = await api.wait_for("editMessageText")
        api.private_message("سلام")  # sentinel: handled after the edit
        await api.wait_for(sent_to(USER_ID), count=2)
    assert edit.status == 200 and int(edit.params["message_id"]) == reply_id  # the earlier reply, edited
    assert COMMANDER in plain(edit.params["text"])
    assert len(api.sent_messages(USER_ID)) == 2  # the answer and the sentinel's: never a second answer


async def test_an_edited_question_whose_reply_was_deleted_is_answered_once(api: BotApiStandin, bot: RunningBot) -> None:
    injected = api.private_message("قیمت دلار در بازار تهران چند است؟")
    [first] = await api.wait_for(sent_to(USER_ID))
    api.delete_sent(USER_ID, first.response["result"]["message_id"] if first.response else 0)
    message_id = injected.update["message"]["message_id"]
    api.edited_message(USER_ID, message_id, QUESTION)  # its reply is gone: answered anew, once
    [_, again] = await api.wait_for(sent_to(USER_ID), count=2)
    assert COMMANDER in plain(again.params["text"])
    api.edited_message(USER_ID, message_id, PRIORITY)  # the next edit edits that new reply
    [failed, edit] = await api.wait_for("editMessageText", count=2)
    assert failed.status == 400  # the first edit: of the deleted reply
    assert edit.status == 200
    assert int(edit.params["message_id"]) == (again.response["result"]["message_id"] if again.response else 0)
    assert PRIORITY_ANSWER in plain(edit.params["text"])
    assert len(api.sent_messages(USER_ID)) == 1


async def test_sticker_and_photo_get_a_text_only_hint(api: BotApiStandin, bot: RunningBot) -> None:
    api.sticker_message()
    api.photo_message(caption="عکس")
    calls = await api.wait_for(sent_to(USER_ID), count=2)
    assert all("نوشتاری" in plain(c.params["text"]) for c in calls)


async def test_start_and_help_in_persian(api: BotApiStandin, bot: RunningBot) -> None:
    [start] = await ask_private(api, "/start")
    assert "پاسخ" in start and "مثلاً" in start
    [help_text] = await ask_private(api, "/help")
    assert "/ask" in help_text and "/reload" not in help_text
    [admin_help] = await ask_private(api, "/help", user_id=ADMIN_ID)
    assert "/reload" in admin_help


# -- paging and the article -------------------------------------------------------------------------


async def test_more_results_pages_through_passages_by_editing(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(QUESTION)
    [first] = await api.wait_for(sent_to(USER_ID))
    message_id = first.response["result"]["message_id"] if first.response else 0
    more = first.params["reply_markup"]["inline_keyboard"][0][0]
    assert more["callback_data"].startswith("more:") and len(more["callback_data"].encode()) <= 64
    api.callback_query(USER_ID, message_id, more["callback_data"])
    [edit] = await api.wait_for("editMessageText")
    await api.wait_for("answerCallbackQuery")
    assert edit.status == 200
    assert int(edit.params["message_id"]) == message_id
    assert "۲ از" in plain(edit.params["text"])  # the second passage now
    assert plain(edit.params["text"]) != plain(first.params["text"])
    buttons = [b["text"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any("قبلی" in b for b in buttons)


async def test_whole_article_button_sends_the_article(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(QUESTION)
    [first] = await api.wait_for(sent_to(USER_ID))
    message_id = first.response["result"]["message_id"] if first.response else 0
    article = first.params["reply_markup"]["inline_keyboard"][-1][0]
    assert article["callback_data"].startswith("art:")
    api.callback_query(USER_ID, message_id, article["callback_data"])
    [_, sent] = await api.wait_for(sent_to(USER_ID), count=2)
    text = plain(sent.params["text"])
    assert text.startswith("📰 بسیج؛ ستون استوار امنیت")
    assert sent.params["text"].startswith("📰 <b>بسیج؛ ستون استوار امنیت و همراهی در لرستان</b>\n📅 ۵ آذر ۱۴۰۴")
    assert "صیانت از این نظام مقدس" in text  # the last paragraph


@pytest.mark.parametrize("data", ["more:999999:1", "more:1:99", "art:abc:0", "../../etc/passwd", "x" * 64])
async def test_forged_button_data_is_refused(api: BotApiStandin, bot: RunningBot, data: str) -> None:
    api.private_message(QUESTION)
    [first] = await api.wait_for(sent_to(USER_ID))
    message_id = first.response["result"]["message_id"] if first.response else 0
    api.callback_query(USER_ID, message_id, data)
    [answer] = await api.wait_for("answerCallbackQuery")
    assert "معتبر نیست" in answer.params["text"]
    assert not api.calls("editMessageText")


async def test_button_from_another_chat_cannot_reach_its_results(api: BotApiStandin, bot: RunningBot) -> None:
    api.private_message(QUESTION)  # asked by USER_ID: question id 1 belongs to that chat
    [first] = await api.wait_for(sent_to(USER_ID))
    data = first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    other = 7777
    api.private_message("سلام", user_id=other)
    [theirs] = await api.wait_for(sent_to(other))
    api.callback_query(other, theirs.response["result"]["message_id"] if theirs.response else 0, data, user_id=other)
    [answer] = await api.wait_for("answerCallbackQuery")
    assert "معتبر نیست" in answer.params["text"]
    assert not api.calls("editMessageText")


# -- groups -------------------------------------------------------------------------------------------


async def test_group_chatter_is_ignored(api: BotApiStandin, bot: RunningBot) -> None:
    api.group_message("فرمانده انتظامی لرستان کیست؟ کسی می‌داند؟")
    api.group_message("@someone_else سلام")
    api.group_message("/ask@other_bot فرمانده انتظامی لرستان کیست؟")
    sentinel = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")  # same chat: handled after the others
    await api.wait_for(replies_to(sentinel.update["message"]["message_id"], GROUP_ID))
    assert len(api.calls("sendMessage")) == 1


async def test_ask_with_the_bots_name_is_answered_as_a_reply(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    assert COMMANDER in plain(call.params["text"])


async def test_a_question_deleted_before_the_reply_still_gets_its_answer(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")
    api.delete_message(asked)  # a cleaner bot deletes /commands at once
    [call] = await api.wait_for(sent_to(GROUP_ID))
    assert call.status == 200, call.response  # not "message to be replied not found"
    assert COMMANDER in plain(call.params["text"])


async def test_the_apology_goes_out_too_when_the_asking_message_was_deleted(
    api: BotApiStandin, bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("index exploded")

    monkeypatch.setattr("bot.conversation.handlers.answer", broken)
    asked = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")
    api.delete_message(asked)
    [call] = await api.wait_for(sent_to(GROUP_ID))
    assert call.status == 200, call.response  # not "message to be replied not found"
    assert plain(call.params["text"]).startswith("متأسفم، مشکلی پیش آمد")


async def test_plain_ask_without_a_question_gets_usage(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message("/ask")
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    assert "/ask" in plain(call.params["text"])


async def test_reply_to_the_bot_is_answered(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"/ask@{BOT_USERNAME} بسیج یعنی چه؟")
    [answer] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    bot_message_id = answer.response["result"]["message_id"] if answer.response else 0
    follow_up = api.reply(GROUP_ID, bot_message_id, QUESTION)
    [call] = await api.wait_for(replies_to(follow_up.update["message"]["message_id"], GROUP_ID))
    assert COMMANDER in plain(call.params["text"])


async def test_mention_is_answered_as_a_reply(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"@{BOT_USERNAME.upper()} {QUESTION}")
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    assert COMMANDER in plain(call.params["text"])


async def test_mention_after_emoji_is_found(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"👋🏽 @{BOT_USERNAME} {QUESTION}")
    await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))


# -- inline -------------------------------------------------------------------------------------------


async def test_inline_query_offers_passages(api: BotApiStandin, bot: RunningBot) -> None:
    api.inline_query(PRIORITY)
    [call] = await api.wait_for("answerInlineQuery")
    assert call.status == 200
    results = call.params["results"]
    assert 1 <= len(results) <= 10
    assert PRIORITY_ANSWER in plain(results[0]["input_message_content"]["message_text"])
    assert results[0]["title"] == "بسیج؛ ستون استوار امنیت و همراهی در لرستان"


async def test_empty_inline_query_gets_no_results(api: BotApiStandin, bot: RunningBot) -> None:
    api.inline_query("")
    [call] = await api.wait_for("answerInlineQuery")
    assert call.params["results"] == []


# -- admin --------------------------------------------------------------------------------------------


async def test_non_admin_reload_is_refused_and_logged(
    api: BotApiStandin, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    before = bot.library.index
    [reply] = await ask_private(api, "/reload")
    assert "فقط برای مدیران" in reply
    assert bot.library.index is before
    assert any("refused /reload from user" in r.message for r in caplog.records)


async def test_non_admin_reload_in_a_group_is_refused(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"/reload@{BOT_USERNAME}")
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    assert "فقط برای مدیران" in plain(call.params["text"])


async def test_admin_reload_reports_added_changed_and_rejected_files(api: BotApiStandin, bot: RunningBot) -> None:
    write_seed(bot.seeds, "001_quake.txt", "date 2025-02-03 زلزله در کرمان\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.")
    seed = bot.seeds / f"{SEED_ARTICLE}.txt"
    seed.write_text(seed.read_text(encoding="utf-8") + "\nجملهٔ تازه‌ای به خبر افزوده شد.", encoding="utf-8")
    write_seed(bot.seeds, "002_broken.txt", b"\xff\xfe\x00binary")
    replies = await ask_private(api, "/reload", user_id=ADMIN_ID)
    if len(replies) == 1:  # «در حال بارگذاری…» first, then the report
        replies += [plain(c.params["text"]) for c in (await api.wait_for(sent_to(ADMIN_ID), count=2))[1:]]
    report = replies[-1]
    assert "خبرها: ۱ ← ۲" in report
    assert "افزوده: \u2068001_quake\u2069" in report  # Latin names isolated inside the Persian lines
    assert f"تغییرکرده: \u2068{SEED_ARTICLE}\u2069" in report
    assert "\u200f• \u2068002_broken.txt\u2069: پرونده متنی نیست" in report  # a right-to-left line
    assert "NUL" not in report and "binary" not in report  # the reason in Persian only
    assert re.search(r"\(۰٫\d\d ثانیه\)", report)  # the Persian decimal sign
    [answer] = await ask_private(api, "زلزله کرمان چند ریشتر بود؟")
    assert "۵ ریشتر" in answer


async def test_a_header_date_that_is_no_date_is_named_in_the_reload_report(api: BotApiStandin, bot: RunningBot) -> None:
    write_seed(bot.seeds, "005_odd.txt", "date 2026-13-45 خبر با تاریخ نادرست\nمتن خبری با تاریخ نادرست.")
    write_seed(bot.seeds, "006_jalali.txt", "date 1404/09/05 خبر با تاریخ شمسی\nمتن خبری که تاریخ شمسی دارد.")
    replies = await _reload_replies(api)
    report = plain(replies[-1].params["text"])
    assert "افزوده: \u2068005_odd\u2069، \u2068006_jalali\u2069" in report  # both load...
    assert "\u200f• \u2068005_odd.txt\u2069: تاریخ خط نخست خوانا نیست" in report  # ...the odd one is named
    [answer] = await ask_private(api, "خبری که تاریخ شمسی دارد")
    assert "۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)" in answer  # a Jalali header read as Jalali, shown in both calendars


async def test_failed_reload_keeps_the_old_index(api: BotApiStandin, bot: RunningBot) -> None:
    for path in bot.seeds.iterdir():
        path.write_bytes(b"\x00")
    before = bot.library.index
    await ask_private(api, "/reload", user_id=ADMIN_ID)
    [_, report] = await api.wait_for(sent_to(ADMIN_ID), count=2)
    text = plain(report.params["text"])
    assert "ناموفق" in text
    assert "علت: هیچ خبری از پوشه بارگذاری نشد" in text
    assert not re.search("[A-Za-z]", text)  # Persian throughout
    assert bot.library.index is before
    [answer] = await ask_private(api, QUESTION)
    assert COMMANDER in answer


async def test_questions_are_answered_while_a_reload_runs(
    api: BotApiStandin, bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import bot.library as library_module

    release = threading.Event()
    real_build = library_module.build_index

    def slow_build(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        release.wait(10)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(library_module, "build_index", slow_build)
    api.private_message("/reload", user_id=ADMIN_ID)
    await api.wait_for(sent_to(ADMIN_ID))  # «در حال بارگذاری…»: the build is now waiting
    [answer] = await ask_private(api, QUESTION)  # another chat, answered meanwhile from the old index
    assert COMMANDER in answer
    release.set()
    [_, report] = await api.wait_for(sent_to(ADMIN_ID), count=2)
    assert "✅" in plain(report.params["text"])


async def test_stats_and_unanswered_survive_a_restart(api: BotApiStandin, tmp_path: Path) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    async with running_bot(api, tmp_path, seeds=seeds):
        await ask_private(api, QUESTION)
        await ask_private(api, "نتیجه بازی پرسپولیس و استقلال چه شد؟")
        await ask_private(api, "قیمت دلار و سکه در بازار چند است؟")
        [stats] = await ask_private(api, "/stats", user_id=ADMIN_ID)
    assert "پرسش‌های پاسخ‌داده: ۱" in stats and "پرسش‌های بی‌پاسخ: ۲" in stats
    async with running_bot(api, tmp_path, seeds=seeds):
        [stats] = await ask_private(api, "/stats", user_id=ADMIN_ID)
        [unanswered] = await ask_private(api, "/unanswered", user_id=ADMIN_ID)
    assert "خبرها: ۱" in stats and "جمله‌ها: ۱۳" in stats and "مدت کار" in stats
    assert "پرسش‌های پاسخ‌داده: ۱" in stats and "پرسش‌های بی‌پاسخ: ۲" in stats
    lines = unanswered.splitlines()
    assert "قیمت دلار و سکه" in lines[1] and "پرسپولیس" in lines[2]  # newest first


async def test_commands_are_registered_per_scope(api: BotApiStandin, bot: RunningBot) -> None:
    private = api.commands({"type": "all_private_chats"})
    groups = api.commands({"type": "all_group_chats"})
    admin = api.commands({"type": "chat", "chat_id": ADMIN_ID})
    assert {c["command"] for c in private} == {"start", "help", "ask"}
    assert {c["command"] for c in groups} == {"ask", "help"}
    assert {"reload", "stats", "unanswered"} <= {c["command"] for c in admin}
    assert all(c["description"] for c in private + groups + admin)


# -- webhook and faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(("secret", "status"), [("s3cret-token", 200), ("wrong", 403), (None, 403)])
async def test_webhook_checks_the_secret_token(
    api: BotApiStandin, tmp_path: Path, secret: str | None, status: int
) -> None:
    from bot.testing.standin import free_port

    port = free_port()
    webhook = Serving(webhook_url="https://bot.example.org/hook", secret="s3cret-token", port=port)
    async with running_bot(api, tmp_path, webhook=webhook):
        injected = api.private_message(QUESTION)
        got = await api.post_to_webhook(f"http://127.0.0.1:{port}/hook", injected.update, secret_token=secret)
        assert got == status
        if status == 200:
            await api.wait_for(sent_to(USER_ID))
        else:
            # Nothing was handled: a second, valid update is answered and is the only answer.
            valid = api.private_message("بسیج یعنی چه؟")
            assert await api.post_to_webhook(f"http://127.0.0.1:{port}/hook", valid.update, "s3cret-token") == 200
            [call] = await api.wait_for(sent_to(USER_ID))
            assert "رشادت" in plain(call.params["text"])
    assert api.webhook is None or api.webhook["url"] == "https://bot.example.org/hook"


async def test_a_429_from_the_api_is_retried(api: BotApiStandin, tmp_path: Path) -> None:
    async with running_bot(api, tmp_path, rate_limiter=True):
        api.fail_next("sendMessage", 429, retry_after=1)
        started = asyncio.get_running_loop().time()
        api.private_message(QUESTION)
        delivered = await api.wait_for(sent_to(USER_ID))
        waited = asyncio.get_running_loop().time() - started
    sends = api.calls("sendMessage")
    assert [c.fault for c in sends] == [429, None]
    assert COMMANDER in plain(delivered[0].params["text"])
    assert waited >= 1  # it honoured retry_after


async def test_error_in_a_handler_gets_a_short_apology(
    api: BotApiStandin, bot: RunningBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("index exploded")

    monkeypatch.setattr("bot.conversation.handlers.answer", broken)
    [reply] = await ask_private(api, QUESTION)
    assert reply.startswith("متأسفم، مشکلی پیش آمد")
    assert "exploded" not in reply
    assert any(r.exc_info and "index exploded" in str(r.exc_info[1]) for r in caplog.records)


# -- reloads that cannot make things worse ------------------------------------------------------------


async def test_a_reload_that_would_drop_most_articles_waits_for_an_admin(api: BotApiStandin, tmp_path: Path) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    for n in range(4):
        write_seed(seeds, f"10{n}_quake.txt", f"زلزله شماره {n}\nزلزله‌ای به بزرگی {n + 3} ریشتر شهر {n} را لرزاند.")
    async with running_bot(api, tmp_path, seeds=seeds) as running:
        before = running.library.index
        for path in seeds.glob("10*_quake.txt"):  # a folder half copied, say: 4 of 5 articles missing
            path.unlink()
        [_, report] = await _reload_replies(api)
        text = plain(report.params["text"])
        assert "بارگذاری انجام نشد" in text and "۴ خبر از ۵ خبر" in text
        assert running.library.index is before  # still answering from all five
        [[button]] = report.params["reply_markup"]["inline_keyboard"]
        message_id = report.response["result"]["message_id"] if report.response else 0
        api.callback_query(ADMIN_ID, message_id, button["callback_data"], user_id=USER_ID)  # not an admin
        [refusal] = await api.wait_for("answerCallbackQuery")
        assert "مدیران" in refusal.params["text"]
        assert running.library.index is before
        api.callback_query(ADMIN_ID, message_id, button["callback_data"], user_id=ADMIN_ID)
        [*_, done] = await api.wait_for(sent_to(ADMIN_ID), count=4)
    assert "✅ خبرها دوباره بارگذاری شد" in plain(done.params["text"])
    assert len(running.library.index.articles) == 1


async def test_a_long_reload_report_arrives_in_parts_and_names_what_it_cuts(api: BotApiStandin, tmp_path: Path) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    async with running_bot(api, tmp_path, seeds=seeds):
        for n in range(300):
            write_seed(seeds, f"{n:03d}_{'x' * 40}.txt", f"خبر شماره {n}\nمتن خبر شماره {n} دربارهٔ شهر {n}.")
        for n in range(52):
            write_seed(seeds, f"bad_{n:03d}_{'y' * 40}.txt", b"\x00\x01binary")
        replies = await _reload_replies(api)
    assert all(r.status == 200 for r in replies)  # no "message is too long"
    report = "\n".join(plain(r.params["text"]) for r in replies[1:])
    assert "و ۲۸۰ پروندهٔ دیگر" in report  # 300 added: 20 named
    assert "و ۳۲ پروندهٔ دیگر" in report  # 52 rejected: 20 named


async def _reload_replies(api: BotApiStandin) -> list[Call]:
    """Send /reload as the admin; the «reloading…» message and the report's messages."""
    sent = len(api.sent_messages(ADMIN_ID))
    api.private_message("/reload", user_id=ADMIN_ID)
    api.private_message("/help", user_id=ADMIN_ID)  # sentinel: handled after the reload, in order
    await api.wait_for(lambda c: sent_to(ADMIN_ID)(c) and "راهنما" in plain(c.params["text"]))
    return [c for c in api.calls("sendMessage") if int(c.params["chat_id"]) == ADMIN_ID][sent:-1]


@pytest.mark.parametrize(
    ("text", "outcome"), [("ممنون", Outcome.THANKS), ("خیلی مرسی", Outcome.THANKS), ("خداحافظ", Outcome.GOODBYE)]
)
async def test_thanks_and_goodbye_get_a_fitting_reply_in_private_and_silence_in_groups(
    api: BotApiStandin, bot: RunningBot, text: str, outcome: Outcome
) -> None:
    [reply] = await ask_private(api, text)
    assert reply == TEXTS[outcome]
    assert "من پاسخ هستم" not in reply
    first = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")
    [answer] = await api.wait_for(replies_to(first.update["message"]["message_id"], GROUP_ID))
    bot_message = answer.response["result"]["message_id"] if answer.response else 0
    asked = api.reply(GROUP_ID, bot_message, text)  # a reply to the bot in a group
    sentinel = api.group_message(f"/ask@{BOT_USERNAME} {QUESTION}")  # handled after it, in order
    await api.wait_for(replies_to(sentinel.update["message"]["message_id"], GROUP_ID))
    assert not [c for c in api.calls() if replies_to(asked.update["message"]["message_id"], GROUP_ID)(c)]
