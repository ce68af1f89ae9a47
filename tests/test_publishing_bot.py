"""Editors publish, correct and remove articles from Telegram, and readers get answers from them: end to
end through the Bot API stand-in (uploads with getFile and a download, channel posts and their edits)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.testing.harness import ADMIN_ID, BOT_USERNAME, RunningBot, plain, replies_to, running_bot, sent_to
from bot.testing.seed_questions import SEED_ARTICLE
from bot.testing.standin import CHANNEL_ID, GROUP_ID, USER_ID, BotApiStandin, Call
from bot.testing.standin.server import DOWNLOAD

LIBRARY = "کتابخانهٔ مرکزی خرم‌آباد افتتاح شد"
ARTICLE = (
    f"date 1404-09-20 {LIBRARY}\n"
    "کتابخانهٔ مرکزی خرم‌آباد با یکصد و بیست هزار جلد کتاب روز دوشنبه افتتاح شد.\n"
    "مدیرکل کتابخانه‌های عمومی لرستان گفت این کتابخانه هر روز از ساعت هشت تا بیست باز است.\n"
)
ASK_LIBRARY = "کتابخانه مرکزی خرم‌آباد چند جلد کتاب دارد؟"
METRO = "گرانی بلیت مترو تهران"
POST = f"{METRO}\nبلیت مترو تهران از اول دی بیست درصد گران می‌شود.\nشورای شهر این افزایش را تصویب کرد."
ASK_METRO = "بلیت مترو تهران چند درصد گران می‌شود؟"
NOT_FOUND = "متأسفم، در خبرهایی که دارم پاسخی"


@pytest_asyncio.fixture
async def bot(api: BotApiStandin, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot with one listed channel."""
    async with running_bot(api, tmp_path, channel_ids=frozenset({CHANNEL_ID})) as running:
        yield running


async def replies(api: BotApiStandin, send: Callable[[], object], chat_id: int = ADMIN_ID, count: int = 1) -> list[str]:
    """Do ``send`` (inject an update) and return the plain text of the next ``count`` messages to ``chat_id``."""
    before = len([c for c in api.calls("sendMessage") if int(c.params["chat_id"]) == chat_id])
    send()
    calls = await api.wait_for(sent_to(chat_id), count=before + count)
    return [plain(c.params["text"]) for c in calls[before:]]


async def ask(api: BotApiStandin, question: str) -> str:
    """A reader's question in a private chat, and the bot's answer."""
    [answer] = await replies(api, lambda: api.private_message(question), chat_id=USER_ID)
    return answer


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds (what the bot did without sending anything: a channel post)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.02)


def files(folder: Path) -> set[str]:
    """Every name in the folder, hidden ones too."""
    return {path.name for path in folder.iterdir()}


def served(bot: RunningBot) -> set[str]:
    return {a.id for a in bot.library.index.articles}


# -- uploads ------------------------------------------------------------------------------------------


async def test_an_admins_file_becomes_an_answer_for_readers(api: BotApiStandin, bot: RunningBot) -> None:
    assert (await ask(api, ASK_LIBRARY)).startswith(NOT_FOUND)
    [report] = await replies(api, lambda: api.document_message(ARTICLE.encode(), "library.txt", user_id=ADMIN_ID))
    assert report.startswith("✅ خبر افزوده شد")
    assert LIBRARY in report
    assert "۲۰ آذر ۱۴۰۴ (۱۱ دسامبر ۲۰۲۵)" in report  # the header's Jalali date, in both calendars
    assert "جمله‌ها: ۲" in report and "شمار خبرها اکنون: ۲" in report
    assert api.calls("getFile") and api.calls(DOWNLOAD)
    assert (bot.seeds / "library.txt").read_bytes() == ARTICLE.encode()
    assert not [name for name in files(bot.seeds) if name.startswith(".")]  # no temporary file left
    answer = await ask(api, ASK_LIBRARY)
    assert "یکصد و بیست هزار جلد" in answer and LIBRARY in answer


async def test_a_file_sent_again_under_its_name_corrects_the_article(api: BotApiStandin, bot: RunningBot) -> None:
    await replies(api, lambda: api.document_message(ARTICLE.encode(), "library.md", user_id=ADMIN_ID))
    corrected = ARTICLE.replace("یکصد و بیست هزار", "یکصد و پنجاه هزار")
    [report] = await replies(api, lambda: api.document_message(corrected.encode(), "library.txt", user_id=ADMIN_ID))
    assert report.startswith("✅ خبر اصلاح شد") and "شمار خبرها اکنون: ۲" in report
    assert "library.txt" in files(bot.seeds) and "library.md" not in files(bot.seeds)  # one file per article
    assert "یکصد و پنجاه هزار جلد" in await ask(api, ASK_LIBRARY)


async def test_a_file_name_cannot_lead_out_of_the_seeds_folder(
    api: BotApiStandin, bot: RunningBot, tmp_path: Path
) -> None:
    [report] = await replies(api, lambda: api.document_message(ARTICLE.encode(), "../../../x.txt", user_id=ADMIN_ID))
    assert report.startswith("✅ خبر افزوده شد") and "\u2068x\u2069" in report
    assert (bot.seeds / "x.txt").read_bytes() == ARTICLE.encode()
    assert not (tmp_path / "x.txt").exists() and not (bot.seeds.parent.parent / "x.txt").exists()
    [report] = await replies(api, lambda: api.document_message(ARTICLE.encode(), ".hidden.txt", user_id=ADMIN_ID))
    assert "\u2068hidden\u2069" in report and (bot.seeds / "hidden.txt").exists()  # never a hidden file


@pytest.mark.parametrize(
    ("data", "name", "said"),
    [
        (b"\xc3\x28 not UTF-8 \xa0\xa1", "a.txt", "کدگذاری پرونده UTF-8 نیست"),
        (b"PK\x03\x04\x00\x00binary", "a.txt", "پرونده متنی نیست"),
        (f"{LIBRARY}\n".encode(), "a.txt", "پس از خط عنوان متنی ندارد"),
        (b"  \n\n ", "a.md", "پرونده خالی است"),
    ],
)
async def test_a_file_that_is_no_article_gets_the_problem_and_nothing_is_saved(
    api: BotApiStandin, bot: RunningBot, data: bytes, name: str, said: str
) -> None:
    before, index = files(bot.seeds), bot.library.index
    [report] = await replies(api, lambda: api.document_message(data, name, user_id=ADMIN_ID))
    assert report.startswith("⚠️ خبر ذخیره نشد") and said in report
    assert "قالب خبر" in report  # and how an article is written
    assert files(bot.seeds) == before and bot.library.index is index


async def test_other_files_and_large_files_are_refused_before_downloading(api: BotApiStandin, bot: RunningBot) -> None:
    before = files(bot.seeds)
    [kind] = await replies(api, lambda: api.document_message(b"%PDF-1.7", "article.pdf", user_id=ADMIN_ID))
    assert ".txt" in kind and ".md" in kind
    too_big = lambda: api.document_message(b"x", "big.txt", file_size=5_000_000, user_id=ADMIN_ID)  # noqa: E731
    [large] = await replies(api, too_big)
    assert "بزرگ‌تر از ۱۰۰۰ کیلوبایت" in large
    [real] = await replies(
        api, lambda: api.document_message(ARTICLE.encode() * 3_000, "b.txt", size_known=False, user_id=ADMIN_ID)
    )
    assert "بزرگ‌تر" in real  # the message said nothing of its size: checked after the download
    assert len(api.calls("getFile")) == 1 and files(bot.seeds) == before


async def test_a_readers_file_is_refused_logged_and_never_downloaded(
    api: BotApiStandin, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    before = files(bot.seeds)
    [reply] = await replies(api, lambda: api.document_message(ARTICLE.encode(), "news.txt"), chat_id=USER_ID)
    assert "فقط برای مدیران" in reply
    assert any(f"refused a document from user {USER_ID}" in r.message for r in caplog.records)
    assert not api.calls("getFile") and files(bot.seeds) == before
    assert (await ask(api, ASK_LIBRARY)).startswith(NOT_FOUND)


# -- /add ---------------------------------------------------------------------------------------------


async def test_add_publishes_dated_today_and_its_edit_corrects_it(api: BotApiStandin, bot: RunningBot) -> None:
    text = ARTICLE.split("\n", 1)[1]  # without the header: the first line is the title
    injected = []
    [report] = await replies(
        api, lambda: injected.append(api.private_message(f"/add {METRO}\n{text}", user_id=ADMIN_ID))
    )
    assert report.startswith("✅ خبر افزوده شد") and METRO in report
    assert "تاریخ: ندارد" not in report  # dated the day it was sent
    added = [a for a in bot.library.index.articles if a.id.startswith("add-")]
    assert [a.title for a in added] == [METRO]
    assert "یکصد و بیست هزار جلد" in await ask(api, ASK_LIBRARY)
    sent = injected[0].update["message"]["message_id"]
    corrected = f"/add {METRO}\n" + text.replace("یکصد و بیست هزار", "نود هزار")
    [report] = await replies(api, lambda: api.edited_message(ADMIN_ID, sent, corrected))
    assert report.startswith("✅ خبر اصلاح شد")
    assert [a.id for a in bot.library.index.articles if a.id.startswith("add-")] == [added[0].id]
    assert "نود هزار جلد" in await ask(api, ASK_LIBRARY)


async def test_add_without_an_article_explains_the_format(api: BotApiStandin, bot: RunningBot) -> None:
    [usage] = await replies(api, lambda: api.private_message("/add", user_id=ADMIN_ID))
    assert "/add عنوان خبر" in usage
    [title_only] = await replies(api, lambda: api.private_message(f"/add {METRO}", user_id=ADMIN_ID))
    assert "پس از خط عنوان متنی ندارد" in title_only


@pytest.mark.parametrize("command", ["/add عنوان\nمتن", "/remove " + SEED_ARTICLE, "/articles"])
async def test_publishing_commands_are_refused_for_readers_and_logged(
    api: BotApiStandin, bot: RunningBot, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    before = files(bot.seeds)
    [reply] = await replies(api, lambda: api.private_message(command), chat_id=USER_ID)
    assert "فقط برای مدیران" in reply
    assert any(f"refused {command.split(maxsplit=1)[0]} from user {USER_ID}" in r.message for r in caplog.records)
    assert files(bot.seeds) == before


async def test_a_readers_add_in_a_group_is_refused(api: BotApiStandin, bot: RunningBot) -> None:
    asked = api.group_message(f"/add@{BOT_USERNAME} عنوان\nمتن خبر")
    [call] = await api.wait_for(replies_to(asked.update["message"]["message_id"], GROUP_ID))
    assert "فقط برای مدیران" in plain(call.params["text"])


# -- /remove and /articles ----------------------------------------------------------------------------


def _buttons(call: Call) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row}


async def _ask_to_remove(api: BotApiStandin, article_id: str) -> tuple[int, dict[str, str]]:
    """/remove ID as the admin: the question's message id and its buttons."""
    before = len([c for c in api.calls() if sent_to(ADMIN_ID)(c)])
    api.private_message(f"/remove {article_id}", user_id=ADMIN_ID)
    call = (await api.wait_for(sent_to(ADMIN_ID), count=before + 1))[-1]
    assert "این خبر حذف شود؟" in plain(call.params["text"])
    return call.response["result"]["message_id"], _buttons(call)  # type: ignore[index]


async def _edited_to(api: BotApiStandin, message_id: int, text: str) -> str:
    """Wait until the bot edits its message ``message_id`` to hold ``text``; return that text."""
    calls = await api.wait_for(
        lambda c: (
            c.method == "editMessageText" and c.params.get("message_id") == message_id and text in c.params["text"]
        )
    )
    return plain(calls[-1].params["text"])


async def test_remove_with_confirmation_makes_the_answer_disappear(api: BotApiStandin, bot: RunningBot) -> None:
    await replies(api, lambda: api.document_message(ARTICLE.encode(), "library.txt", user_id=ADMIN_ID))
    assert "یکصد و بیست هزار جلد" in await ask(api, ASK_LIBRARY)
    message_id, buttons = await _ask_to_remove(api, "library")
    assert "library" in served(bot)  # nothing happens before the button
    api.callback_query(ADMIN_ID, message_id, buttons["🗑 بله، حذف شود"], user_id=ADMIN_ID)
    report = await _edited_to(api, message_id, "خبر حذف شد")
    assert LIBRARY in report and "شمار خبرها اکنون: ۱" in report
    assert "library.txt" not in files(bot.seeds) and "library" not in served(bot)
    assert (await ask(api, ASK_LIBRARY)).startswith(NOT_FOUND)
    api.callback_query(ADMIN_ID, message_id, buttons["🗑 بله، حذف شود"], user_id=ADMIN_ID)  # pressed again
    await _edited_to(api, message_id, "دیگر در میان خبرها نیست")


async def test_remove_can_be_cancelled_and_a_reader_cannot_press_it(
    api: BotApiStandin, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    message_id, buttons = await _ask_to_remove(api, SEED_ARTICLE)
    api.callback_query(ADMIN_ID, message_id, buttons["🗑 بله، حذف شود"], user_id=USER_ID)
    [answer] = await api.wait_for("answerCallbackQuery")
    assert "فقط برای مدیران" in answer.params["text"]
    assert any(f"refused a removal confirmation from user {USER_ID}" in r.message for r in caplog.records)
    api.callback_query(ADMIN_ID, message_id, buttons["انصراف"], user_id=ADMIN_ID)
    await _edited_to(api, message_id, "لغو شد")
    assert SEED_ARTICLE in served(bot) and f"{SEED_ARTICLE}.txt" in files(bot.seeds)


async def test_the_last_article_is_not_removed_and_unknown_ids_are_named(api: BotApiStandin, bot: RunningBot) -> None:
    [unknown] = await replies(api, lambda: api.private_message("/remove nothing-here", user_id=ADMIN_ID))
    assert "خبری با شناسهٔ \u2068nothing-here\u2069 نیست" in unknown
    message_id, buttons = await _ask_to_remove(api, SEED_ARTICLE)
    api.callback_query(ADMIN_ID, message_id, buttons["🗑 بله، حذف شود"], user_id=ADMIN_ID)
    await _edited_to(api, message_id, "تنها خبر است")
    assert f"{SEED_ARTICLE}.txt" in files(bot.seeds) and SEED_ARTICLE in served(bot)


async def test_articles_lists_the_newest_first_with_ids(api: BotApiStandin, bot: RunningBot) -> None:
    await replies(api, lambda: api.document_message(ARTICLE.encode(), "library.txt", user_id=ADMIN_ID))
    [listing] = await replies(api, lambda: api.private_message("/articles", user_id=ADMIN_ID))
    assert listing.index("\u2068library\u2069") < listing.index(f"\u2068{SEED_ARTICLE}\u2069")
    assert LIBRARY in listing and "/remove" in listing


# -- channels -----------------------------------------------------------------------------------------


async def test_a_channel_post_becomes_an_answer_and_its_edit_changes_it(api: BotApiStandin, bot: RunningBot) -> None:
    assert (await ask(api, ASK_METRO)).startswith(NOT_FOUND)
    posted = api.channel_post(POST, username="outlet_news")
    post_id = posted.update["channel_post"]["message_id"]
    article_id = f"channel-9876543210-{post_id}"
    await until(lambda: article_id in served(bot))
    text = (bot.seeds / f"{article_id}.txt").read_text(encoding="utf-8")
    assert text.startswith("date 20") and METRO in text.splitlines()[0]
    assert text.rstrip().endswith(f"منبع: https://t.me/outlet_news/{post_id}")
    answer = await ask(api, ASK_METRO)
    assert "بیست درصد" in answer and METRO in answer
    old = bot.library.index
    api.edited_channel_post(CHANNEL_ID, post_id, POST.replace("بیست درصد", "سی درصد"))
    await until(lambda: bot.library.index is not old)
    assert [a.id for a in bot.library.index.articles if a.id.startswith("channel-")] == [article_id]
    assert "سی درصد" in await ask(api, ASK_METRO)
    assert not api.calls("sendMessage") or all(int(c.params["chat_id"]) != CHANNEL_ID for c in api.calls("sendMessage"))


async def test_a_photo_caption_counts_and_a_private_channel_links_by_id(api: BotApiStandin, bot: RunningBot) -> None:
    posted = api.channel_post(caption=POST, photo=True)
    article_id = f"channel-9876543210-{posted.update['channel_post']['message_id']}"
    await until(lambda: article_id in served(bot))
    text = (bot.seeds / f"{article_id}.txt").read_text(encoding="utf-8")
    assert f"منبع: https://t.me/c/9876543210/{posted.update['channel_post']['message_id']}" in text
    assert "بیست درصد" in await ask(api, ASK_METRO)


async def test_posts_of_an_unlisted_channel_and_posts_without_an_article_are_ignored(
    api: BotApiStandin, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before, index = files(bot.seeds), bot.library.index
    api.channel_post(POST, chat_id=-1005555555555, title="Another channel")
    await until(
        lambda: any("channel -1005555555555" in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)
    )
    api.channel_post(METRO)  # one line: a title without a body
    api.channel_post(photo=True)  # no caption
    await until(lambda: len([r for r in caplog.records if "no article" in r.getMessage()]) == 2)
    assert files(bot.seeds) == before and bot.library.index is index
    assert (await ask(api, ASK_METRO)).startswith(NOT_FOUND)


async def test_the_bot_asks_for_channel_posts(api: BotApiStandin, bot: RunningBot) -> None:
    [poll, *_] = await api.wait_for("getUpdates")
    assert {"channel_post", "edited_channel_post"} <= set(poll.params["allowed_updates"])


async def test_a_reload_after_publishing_finds_the_same_articles(api: BotApiStandin, bot: RunningBot) -> None:
    await replies(api, lambda: api.document_message(ARTICLE.encode(), "library.txt", user_id=ADMIN_ID))
    api.channel_post(POST)
    await until(lambda: len(served(bot)) == 3)
    report = await bot.library.reload()
    assert report.ok and report.articles_after == 3 and not (report.added or report.removed or report.changed)


async def test_channel_posts_and_uploads_arrive_by_webhook_too(api: BotApiStandin, tmp_path: Path) -> None:
    from bot.serving.lifecycle import Serving
    from bot.testing.standin import free_port

    port = free_port()
    webhook = Serving(webhook_url="https://bot.example.org/hook", secret="s3cret", port=port)
    async with running_bot(api, tmp_path, webhook=webhook, channel_ids=frozenset({CHANNEL_ID})) as running:
        assert {"channel_post", "edited_channel_post"} <= set(api.webhook["allowed_updates"])  # type: ignore[index]
        hook = f"http://127.0.0.1:{port}/hook"
        posted = api.channel_post(POST)
        assert await api.post_to_webhook(hook, posted.update, "s3cret") == 200
        await until(lambda: len(served(running)) == 2)
        upload = api.document_message(ARTICLE.encode(), "library.txt", user_id=ADMIN_ID)
        assert await api.post_to_webhook(hook, upload.update, "s3cret") == 200
        [report] = await api.wait_for(sent_to(ADMIN_ID))
        assert plain(report.params["text"]).startswith("✅ خبر افزوده شد") and len(served(running)) == 3
