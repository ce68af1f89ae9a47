"""The Bot API stand-in, driven by a real PTB Application over its default HTTPX stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.testing.standin import GROUP_ID, USER_ID, BotApiStandin, Call, Fault, free_port, no_proxy_env, parse_html

pytestmark = pytest.mark.asyncio

BOT = "pasokh_test_bot"
App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in no_proxy_env().items():
        monkeypatch.setenv(name, value)
    # PTB 22 warns (PTBDeprecationWarning) while constructing every RetryAfter unless opted in to
    # timedelta periods; with warnings as errors that warning would replace the RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest_asyncio.fixture
async def api() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(username=BOT) as standin:
        yield standin


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat the text."""
    assert update.message is not None
    assert update.message.text is not None
    await update.message.reply_text(update.message.text)


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /ask with its words and a button."""
    assert update.message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="more:1")]])
    await update.message.reply_text("ask: " + " ".join(context.args or []), reply_markup=keyboard)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the button press and extend the message."""
    query = update.callback_query
    assert query is not None
    assert query.message is not None
    await query.answer()
    await query.edit_message_text(f"<b>more</b> for {query.data}", parse_mode=ParseMode.HTML)


@pytest_asyncio.fixture
async def app(api: BotApiStandin) -> AsyncIterator[App]:
    """An initialized and started application with echo, /ask and a button handler, not yet polling."""
    application = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
    application.add_handler(CommandHandler("ask", ask))
    application.add_handler(CallbackQueryHandler(more, pattern=r"^more:"))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE, echo))
    try:
        await application.initialize()
    except BaseException:
        await application.bot.shutdown()
        raise
    await application.start()
    yield application
    assert application.updater is not None
    if application.updater.running:
        await application.updater.stop()
    await application.stop()
    await application.shutdown()


@pytest_asyncio.fixture
async def polling(app: App) -> App:
    """The application, polling."""
    assert app.updater is not None
    await app.updater.start_polling()
    return app


def pending_poll(call: Call) -> bool:
    """A long poll that has not been answered yet."""
    return call.method == "getUpdates" and call.status is None and call.params.get("timeout", 0) > 0


async def test_private_message_gets_echo_reply(api: BotApiStandin, polling: App) -> None:
    api.private_message("سلام، خوبی؟ 👋")
    await api.wait_for("sendMessage")
    (sent,) = api.sent_messages(USER_ID)
    assert sent.message["text"] == "سلام، خوبی؟ 👋"
    assert sent.message["from"]["username"] == BOT
    assert sent.reply_to_message_id is None
    assert api.calls("getMe")
    assert api.calls("deleteWebhook")


async def test_long_poll_wakes_on_injection(api: BotApiStandin, polling: App) -> None:
    (poll,) = await api.wait_for(pending_poll)
    started = time.monotonic()
    _, update_id = api.private_message("بیدار شو")
    await api.wait_for("sendMessage")
    assert time.monotonic() - started < 1.0  # the poll's timeout is 10 s
    assert poll.status == 200
    assert poll.response is not None
    assert [u["update_id"] for u in poll.response["result"]] == [update_id]
    # The next poll confirms the update; it is not delivered again.
    (confirming,) = await api.wait_for(lambda c: pending_poll(c) and c.params.get("offset") == update_id + 1)
    assert confirming is not poll
    assert api.calls("sendMessage")[1:] == []


async def test_group_command_reply_and_button(api: BotApiStandin, polling: App) -> None:
    asked, _ = api.group_message(f"/ask@{BOT} چرا؟ 👋 @{BOT}")
    await api.wait_for("sendMessage")
    (answer,) = api.sent_messages(GROUP_ID)
    assert answer.message["text"] == "ask: چرا؟ 👋 @" + BOT
    assert answer.reply_to_message_id == asked["message"]["message_id"]  # reply_text quotes in groups
    assert answer.message["reply_to_message"]["text"] == asked["message"]["text"]

    api.callback_query(GROUP_ID, answer.message_id, "more:1")
    await api.wait_for("editMessageText")
    assert api.calls("answerCallbackQuery")[0].status == 200
    assert answer.message["text"] == "more for more:1"
    assert answer.text == "<b>more</b> for more:1"
    assert answer.message["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert "reply_markup" not in answer.message  # an edit without reply_markup removes the keyboard


async def test_injected_updates_parse_in_ptb(api: BotApiStandin, app: App) -> None:
    bot = app.bot
    command, _ = api.group_message(f"/ask@{BOT} 👋😀 @{BOT} x")
    message = Update.de_json(command, bot).message
    assert message is not None
    found = message.parse_entities()
    assert sorted(found.values()) == [f"/ask@{BOT}", f"@{BOT}"]
    assert [e.type for e in found] == [MessageEntity.BOT_COMMAND, MessageEntity.MENTION]
    assert message.chat.type == "supergroup"

    sent = await bot.send_message(GROUP_ID, "جواب")
    reply = Update.de_json(api.reply(GROUP_ID, sent.message_id, "و بعد؟").update, bot).message
    assert reply is not None
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.from_user is not None
    assert reply.reply_to_message.from_user.id == bot.id

    original, _ = api.private_message("اول")
    edited = Update.de_json(api.edited_message(USER_ID, original["message"]["message_id"], "دوم").update, bot)
    assert edited.edited_message is not None
    assert edited.edited_message.text == "دوم"
    assert edited.edited_message.edit_date is not None

    sticker = Update.de_json(api.sticker_message().update, bot).effective_message
    photo = Update.de_json(api.photo_message(caption="عکس", chat_id=GROUP_ID).update, bot).effective_message
    assert sticker is not None
    assert sticker.sticker is not None
    assert sticker.sticker.emoji == "👍"
    assert photo is not None
    assert photo.photo[-1].width == 800
    assert photo.caption == "عکس"
    inline = Update.de_json(api.inline_query("تهران").update, bot).inline_query
    assert inline is not None
    assert inline.query == "تهران"


@pytest.mark.parametrize(
    "text",
    ["a < b", "AT&T", "<b>bold", "<b>x</i>", "x</b>", "<foo>x</foo>", "<span>x</span>", "<b>x</b><i>y"],
)
async def test_malformed_html_is_rejected(app: App, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await app.bot.send_message(USER_ID, text, parse_mode=ParseMode.HTML)


async def test_valid_html_becomes_text_and_entities(app: App) -> None:
    html = '<b>پر</b>رنگ 😀 &lt;&amp;&gt; &#1587; <a href="https://example.org/?a=1&amp;b=2">link</a>'
    message = await app.bot.send_message(USER_ID, html, parse_mode=ParseMode.HTML)
    assert message.text == "پررنگ 😀 <&> س link"
    assert message.text_html == html.replace("&#1587;", "س").replace("&amp;b", "&b")  # PTB leaves URLs unescaped
    assert parse_html('<pre><code class="language-python">x</code></pre>')[1] == [
        {"type": "pre", "language": "python", "offset": 0, "length": 1}
    ]


async def test_length_is_counted_after_parsing(app: App) -> None:
    bot = app.bot
    await bot.send_message(USER_ID, "ب" * 4096)
    await bot.send_message(USER_ID, "<b>" + "&amp;" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER_ID, "ب" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER_ID, "<b> </b>", parse_mode=ParseMode.HTML)


async def test_edits_are_validated(app: App) -> None:
    bot = app.bot
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("بیشتر", callback_data="more:7")]])
    sent = await bot.send_message(USER_ID, "<b>x</b>", parse_mode=ParseMode.HTML, reply_markup=keyboard)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>x</b>", USER_ID, sent.message_id, parse_mode="HTML", reply_markup=keyboard)
    edited = await bot.edit_message_text("<b>x</b>", USER_ID, sent.message_id, parse_mode=ParseMode.HTML)
    assert isinstance(edited, Message)
    assert edited.reply_markup is None
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("y", USER_ID, sent.message_id + 100)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ک" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(USER_ID, "x", reply_markup=too_long)


async def test_queries_and_commands(api: BotApiStandin, app: App) -> None:
    bot = app.bot
    query_id = api.inline_query("x").update["inline_query"]["id"]
    results = [InlineQueryResultArticle(str(n), "t", InputTextMessageContent("m")) for n in range(51)]
    with pytest.raises(BadRequest, match=r"(?i)results_too_much"):
        await bot.answer_inline_query(query_id, results)
    assert await bot.answer_inline_query(query_id, results[:50])
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_inline_query(query_id, results[:1])

    scope = BotCommandScopeAllGroupChats()
    await bot.set_my_commands([BotCommand("ask", "پرسش")], scope=scope, language_code="fa")
    assert api.commands(scope.to_dict(), "fa") == [{"command": "ask", "description": "پرسش"}]


async def test_retry_after_surfaces_as_retry_after(api: BotApiStandin, app: App) -> None:
    api.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await app.bot.send_message(USER_ID, "x")
    assert caught.value.retry_after == dt.timedelta(seconds=3)
    await app.bot.send_message(USER_ID, "x")
    assert [(c.fault, c.status) for c in api.calls("sendMessage")] == [(429, 429), (None, 200)]
    assert len(api.sent_messages()) == 1


@pytest.mark.parametrize("kind", [500, 502, "drop"])
async def test_server_faults_surface_as_network_errors(api: BotApiStandin, app: App, kind: Fault) -> None:
    api.fail_next("sendMessage", kind)
    with pytest.raises(NetworkError):
        await app.bot.send_message(USER_ID, "x")
    assert api.calls("sendMessage")[0].fault == kind
    assert api.sent_messages() == []


async def test_slow_answer_times_out_after_the_message_was_sent(api: BotApiStandin, app: App) -> None:
    api.fail_next("sendMessage", "slow", delay=5)
    with pytest.raises(TimedOut):
        await app.bot.send_message(USER_ID, "x", read_timeout=0.2)
    assert len(api.sent_messages(USER_ID)) == 1  # like Telegram: delivered, but the answer came late


async def test_random_faults_are_recorded(api: BotApiStandin, app: App) -> None:
    api.set_fault_rate(0.5, kinds=(500,), seed=7)
    failures = 0
    for n in range(20):
        try:
            await app.bot.send_message(USER_ID, str(n))
        except NetworkError:
            failures += 1
    faulted = [c for c in api.calls("sendMessage") if c.fault == 500]
    assert 0 < failures == len(faulted) < 20
    assert len(api.sent_messages()) == 20 - failures


async def test_webhook_checks_the_secret(api: BotApiStandin, app: App) -> None:
    assert app.updater is not None
    port = free_port()
    await app.updater.start_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="hook",
        secret_token="s3cret",
        webhook_url="https://bot.example.org/hook",  # TLS ends at a reverse proxy; Telegram needs HTTPS
    )
    assert api.webhook is not None
    assert api.webhook["secret_token"] == "s3cret"
    with pytest.raises(Conflict):
        await app.bot.get_updates()
    url = f"http://127.0.0.1:{port}/hook"
    wrong, _ = api.private_message("با رمز غلط")
    assert await api.post_to_webhook(url, wrong, secret_token="nope") == 403
    assert await api.post_to_webhook(url, wrong) == 403
    assert await api.post_to_webhook(url, wrong, "s3cret", content_type="text/plain") == 403
    right, _ = api.private_message("با رمز درست")
    assert await api.post_to_webhook(url, right, secret_token="s3cret") == 200
    await api.wait_for("sendMessage")
    assert [s.message["text"] for s in api.sent_messages()] == ["با رمز درست"]
    assert api.webhook["url"] == "https://bot.example.org/hook"
    await app.updater.stop()
    await app.bot.delete_webhook()
    assert await app.bot.get_updates() == ()  # updates made for the webhook are not queued again


async def test_json_and_form_bodies(api: BotApiStandin) -> None:
    url = f"{api.base_url}{api.token}"
    keyboard = {"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]}
    async with ClientSession() as session:
        async with session.post(f"{url}/sendMessage", json={"chat_id": USER_ID, "text": "1"}) as response:
            assert response.status == 200
            assert (await response.json())["result"]["text"] == "1"
        form = {"chat_id": str(USER_ID), "text": "2", "reply_markup": json.dumps(keyboard)}
        async with session.post(f"{url}/sendMessage", data=form) as response:
            assert (await response.json())["result"]["reply_markup"] == keyboard
        async with session.post(f"{url}/noSuchMethod", json={}) as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
    assert api.calls("sendMessage")[1].params == {"chat_id": USER_ID, "text": "2", "reply_markup": keyboard}


async def test_tokens_methods_and_competing_polls(api: BotApiStandin) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("42:wrong", base_url=api.base_url):
            pass
    async with Bot(api.token, base_url=api.base_url) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")
        async with Bot(api.token, base_url=api.base_url) as second_instance:
            first = asyncio.create_task(bot.get_updates(timeout=5))
            await api.wait_for(pending_poll)
            assert await second_instance.get_updates() == ()
            with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
                await first
    assert [c.status for c in api.calls()] == [401, 200, 404, 200, 409, 200]


async def test_wait_for_timeout_lists_the_recorded_calls(api: BotApiStandin, app: App) -> None:
    with pytest.raises(AssertionError, match=r"waiting for 1 call\(s\) matching 'sendMessage'.*\n  getMe status=200"):
        await api.wait_for("sendMessage", timeout=0.05)


async def test_stopping_wakes_a_pending_long_poll(api: BotApiStandin) -> None:
    async with Bot(api.token, base_url=api.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await api.wait_for(pending_poll)
        started = time.monotonic()
        await api.stop()
        assert await asyncio.wait_for(poll, 2) == ()
        assert time.monotonic() - started < 1.0


async def test_documents_are_downloaded_through_get_file_as_from_telegram(api: BotApiStandin) -> None:
    from bot.testing.standin.protocol import MAX_DOWNLOAD

    sent = api.document_message("متن".encode(), "a.txt")
    document = sent.update["message"]["document"]
    assert document["file_name"] == "a.txt" and document["file_size"] == 6 and "file_path" not in document
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_url.replace("/bot", "/file/bot")) as bot:
        file = await bot.get_file(document["file_id"])
        assert file.file_size == 6
        assert bytes(await file.download_as_bytearray()) == "متن".encode()
        with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
            await bot.get_file("no-such-file")
        huge = api.document_message(b"x" * (MAX_DOWNLOAD + 1), "huge.txt").update["message"]["document"]
        with pytest.raises(BadRequest, match=r"(?i)file is too big"):
            await bot.get_file(huge["file_id"])
    async with ClientSession() as session:
        root = api.base_url.replace("/bot", "/file/bot")
        async with session.get(f"{root}{api.token}/documents/never-given.txt") as response:
            assert response.status == 404
        async with session.get(
            f"{root}42:wrong/{file.file_path.rsplit('/file/bot', 1)[1].split('/', 1)[1]}"
        ) as response:
            assert response.status == 401
    assert [c.status for c in api.calls("download")] == [200, 404, 401]


async def test_channel_posts_and_their_edits_parse_in_ptb(api: BotApiStandin) -> None:
    post = Update.de_json(api.channel_post("خبر\nمتن", username="outlet").update, None)
    assert post.channel_post is not None and post.channel_post.from_user is None
    assert post.channel_post.chat.type == "channel" and post.channel_post.sender_chat is not None
    assert post.channel_post.link == f"https://t.me/outlet/{post.channel_post.message_id}"
    edited = Update.de_json(
        api.edited_channel_post(post.channel_post.chat.id, post.channel_post.message_id, "نو").update, None
    )
    assert edited.edited_channel_post is not None and edited.edited_channel_post.text == "نو"
    photo = Update.de_json(api.channel_post(caption="زیرنویس", photo=True).update, None)
    assert photo.channel_post is not None and photo.channel_post.photo and photo.channel_post.caption == "زیرنویس"
