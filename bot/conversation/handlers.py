"""Telegram handlers: thin adapters that read the text, ask ``retrieval``, render, and reply."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.backend.interfaces import Backend, Fleet, Verdict
from bot.conversation import texts
from bot.conversation.editors import Editors
from bot.conversation.render import (
    MAX_MESSAGE,
    PLAIN,
    RLM,
    article_messages,
    fa,
    fa_decimal,
    first_keyboard,
    first_pieces,
    html_messages,
    isolated,
    parse_callback,
    passage_keyboard,
    passage_pieces,
    single_line,
    snippet,
    to_html,
    utf16_len,
)
from bot.conversation.replies import answer_query, edit, reply
from bot.feeds import FeedPoller, FeedStatus
from bot.library import Library, ReloadReport
from bot.sending import deliver
from bot.serving.metrics import Metrics
from bot.settings import Settings
from retrieval.answer import Answer, Outcome, answer
from retrieval.collection import Served
from retrieval.errors import FolderProblem

__all__ = ["Pasokh", "feeds_text", "fleet_text"]

_logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
PAGES = 10
"""Hits a question keeps for paging and inline results (fewer passages when some overlap)."""
NEAREST_INLINE = 3
"""Nearest passages offered inline, clearly marked, when a question has no answer."""
ARTICLE_MESSAGES = 5
"""The most messages one «متن کامل خبر» sends."""
ADMIN_COMMANDS = ("add", "articles", "remove", "reload", "stats", "unanswered")
CONFIRM_RELOAD = "reload:confirm"
APOLOGY_ATTEMPTS = 2
_FRESH = filters.UpdateType.MESSAGE  # commands: an edited /help is not answered again
_QUESTIONS = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
"""Questions: an edited question updates the reply to it (``Pasokh._send_answer``)."""


LISTED = 20
"""File names a /reload report lists per kind before it says how many more there are."""


def _listing(names: Sequence[str]) -> str:
    """Names for one line of a report: the first ``LISTED``, then how many more."""
    if not names:
        return "—"
    shown = "، ".join(map(isolated, names[:LISTED]))
    return shown if len(names) <= LISTED else f"{shown} {texts.AND_MORE.format(fa(len(names) - LISTED))}"


def confirm_reload_keyboard() -> InlineKeyboardMarkup:
    """The button that confirms a held-back reload."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.RELOAD_CONFIRM, callback_data=CONFIRM_RELOAD)]])


def fleet_text(fleet: Fleet) -> str:
    """What the admin who sent /reload hears about the other workers ("" when there are none)."""
    if not fleet.announced:
        return texts.RELOAD_NOT_SHARED
    if fleet.complete:
        return texts.RELOAD_SHARED.format(fa(fleet.live)) if fleet.live > 1 else ""
    lines = [texts.RELOAD_PARTLY_SHARED.format(fa(fleet.current), fa(fleet.live))]
    if fleet.failures:
        lines.append(texts.RELOAD_FAILED_ELSEWHERE.format(fa(int(fleet.retry_every))))
        lines += [
            f"{RLM}• {isolated(f.worker)}: {texts.FOLDER_PROBLEMS.get(f.problem, texts.UNKNOWN_PROBLEM)}"  # type: ignore[arg-type]
            for f in fleet.failures
        ]
    return "\n".join(lines)


FEEDS_LISTED = 20
"""Feeds listed by /stats one by one; the rest are counted."""


def duration(seconds: float) -> str:
    """A span of time in Persian, in its largest whole unit: «۳ دقیقه»."""
    seconds = max(0, int(seconds))
    for unit, text in ((86400, texts.DAYS), (3600, texts.HOURS), (60, texts.MINUTES)):
        if seconds >= unit:
            return text.format(fa(seconds // unit))
    return texts.SECONDS.format(fa(seconds))


def _feed_line(status: FeedStatus, now: float) -> str:
    if status.last_error is not None:
        error = status.last_error
        trouble = texts.FEED_TROUBLES[error.trouble.value].format(error.status)
        state = texts.FEED_FAILED.format(trouble, fa(status.failures), duration(status.next_poll - now))
        success = (
            texts.FEED_LAST_SUCCESS.format(duration(now - status.last_success))
            if status.last_success is not None
            else texts.FEED_NEVER_SUCCEEDED
        )
        state = f"{state}؛ {success}"
    elif status.last_success is not None:
        state = texts.FEED_OK.format(duration(now - status.last_success))
    else:
        state = texts.FEED_WAITING
    added = texts.FEED_ADDED.format(fa(status.added))
    return f"{RLM}• {isolated(status.url[:120])}: {state}؛ {added}"


def feeds_text(statuses: Sequence[FeedStatus], now: float) -> list[str]:
    """The lines of /stats about the feeds (none without feeds): each one's last success, last error and
    the articles it added."""
    if not statuses:
        return []
    lines = [texts.FEEDS_TITLE, *(_feed_line(status, now) for status in statuses[:FEEDS_LISTED])]
    if len(statuses) > FEEDS_LISTED:
        lines.append(f"{RLM}• {texts.FEEDS_MORE.format(fa(len(statuses) - FEEDS_LISTED))}")
    return lines


class Pasokh:
    """The bot's handlers, holding what they share: settings, the library of articles, the backend."""

    def __init__(
        self, settings: Settings, library: Library, backend: Backend, metrics: Metrics, feeds: FeedPoller | None = None
    ) -> None:
        self.settings = settings
        self.feeds = feeds
        self.library = library
        self.records = backend.records
        self.questions = backend.questions
        self.lookups = backend.lookups
        self.reloads = backend.reloads
        self.metrics = metrics
        self.started = time.monotonic()

    def register(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Add every handler to ``application``, admins' commands before their refusal."""
        admins = filters.User(user_id=self.settings.admin_ids, allow_empty=False)
        editors = Editors(self.settings, self.library)
        application.add_handlers(
            [
                CommandHandler("start", self.start, filters=_FRESH),
                CommandHandler("help", self.help, filters=_FRESH),
                CommandHandler("ask", self.ask_command, filters=_QUESTIONS),
                *editors.commands(admins),
                CommandHandler("reload", self.reload, filters=_FRESH & admins),
                CommandHandler("stats", self.stats, filters=_FRESH & admins),
                CommandHandler("unanswered", self.unanswered, filters=_FRESH & admins & filters.ChatType.PRIVATE),
                CommandHandler("unanswered", self.private_only, filters=_FRESH & admins),
                CommandHandler(ADMIN_COMMANDS, self.refuse, filters=_FRESH),
                MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND & _QUESTIONS, self.private),
                MessageHandler(filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND & _QUESTIONS, self.group),
                *editors.uploads(admins),
                MessageHandler(
                    filters.ChatType.PRIVATE & _FRESH & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.not_text
                ),
                *editors.channels(),
                CallbackQueryHandler(self.confirm_reload, pattern=f"^{CONFIRM_RELOAD}$"),
                *editors.buttons(),
                CallbackQueryHandler(self.button),
                InlineQueryHandler(self.inline),
            ]
        )
        application.add_error_handler(self.on_error)

    # -- sending ----------------------------------------------------------------------------------

    _reply = staticmethod(reply)
    _answer_query = staticmethod(answer_query)
    _edit = staticmethod(edit)

    # -- questions --------------------------------------------------------------------------------

    async def _search(self, question: str, index: Served | None = None) -> Answer:
        """Search one index (the current one unless given): the whole answer comes from it."""
        return await asyncio.to_thread(answer, self.library.index if index is None else index, question, PAGES)

    async def _answer(self, message: Message, question: str) -> None:
        arrived = time.perf_counter()
        user = message.from_user
        verdict = await self.questions.verdict(user.id) if user else Verdict.OK
        if verdict is not Verdict.OK:
            if verdict is Verdict.WARN:
                limit = self.questions.per_minute
                _logger.info("user %s is over %d questions a minute", user.id if user else "?", limit)
                await self._reply(message, texts.SLOW_DOWN)
            return
        self.metrics.asked("private" if message.chat.type == ChatType.PRIVATE else "group")
        result = await self._search(question)
        if result.outcome in (Outcome.THANKS, Outcome.GOODBYE) and message.chat.type != ChatType.PRIVATE:
            return  # «ممنون» in a group is said to the others as much as to the bot: no quoted reply
        if result.outcome in (Outcome.ANSWERED, Outcome.NOT_FOUND):
            self.metrics.outcome(result.answered)
            await self.records.count("answered" if result.answered else "unanswered")
            if not result.answered:
                await self.records.log_unanswered(question[:500], message.chat.type)
        question_id = await self.records.remember_question(message.chat.id, question) if result.hits else 0
        await self._send_answer(message, html_messages(first_pieces(result)), first_keyboard(result, question_id))
        self.metrics.replied(arrived)

    async def _send_answer(self, message: Message, messages: list[str], markup: InlineKeyboardMarkup | None) -> None:
        """Reply with ``messages`` (the keyboard under the last); for an edited question, edit the reply
        it got instead, when the records know it (any worker may have sent it, before a restart too) and
        it has as many messages (else reply once more, and the next edit edits that reply)."""
        chat_id, message_id = message.chat.id, message.message_id
        earlier = await self.records.replies(chat_id, message_id) if message.edit_date is not None else None
        if earlier is not None and len(earlier) == len(messages):
            try:
                for i, (reply_id, text) in enumerate(zip(earlier, messages, strict=True)):
                    await self._edit(message, reply_id, text, markup if i == len(messages) - 1 else None)
            except BadRequest as exc:  # the reply was deleted meanwhile, say: answer anew
                _logger.info("could not edit the reply to an edited question (%s); replying again", exc)
            else:
                return
        sent = []
        for i, text in enumerate(messages):
            last = i == len(messages) - 1
            reply = await self._reply(message, text, html_text=True, markup=markup if last else None)
            if reply is not None:
                sent.append(reply.message_id)
        await self.records.remember_replies(chat_id, message_id, sent)

    async def private(self, update: Update, context: Context) -> None:
        """A private message: the whole text is the question."""
        message = update.effective_message
        if message and message.text is not None:
            await self._answer(message, message.text)

    async def ask_command(self, update: Update, context: Context) -> None:
        """/ask question (also /ask@bot in groups)."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        parts = message.text.split(maxsplit=1)
        if len(parts) < 2:
            await self._reply(message, texts.ASK_EMPTY)
            return
        await self._answer(message, parts[1])

    async def group(self, update: Update, context: Context) -> None:
        """A group message: answered when it replies to the bot or mentions it; other chatter is ignored."""
        message = update.effective_message
        if message is None or message.text is None or message.via_bot is not None:
            return
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id:
            await self._answer(message, message.text)
            return
        username = (context.bot.username or "").lower()
        mentions = message.parse_entities([MessageEntity.MENTION])
        if username and any(text.lower() == f"@{username}" for text in mentions.values()):
            question = re.sub(rf"@{re.escape(username)}\b", " ", message.text, flags=re.IGNORECASE)
            await self._answer(message, question)

    async def not_text(self, update: Update, context: Context) -> None:
        """Stickers, photos, voice and the like in a private chat get a short hint."""
        if update.effective_message:
            await self._reply(update.effective_message, texts.NOT_TEXT)

    async def start(self, update: Update, context: Context) -> None:
        """/start: who Pasokh is, with an example."""
        if update.effective_message:
            await self._reply(update.effective_message, texts.START)

    async def help(self, update: Update, context: Context) -> None:
        """/help: how to ask, in private chats, groups and inline."""
        message, user = update.effective_message, update.effective_user
        if message:
            extra = texts.ADMIN_HELP if user and user.id in self.settings.admin_ids else ""
            await self._reply(message, texts.HELP + extra)

    # -- buttons and inline -----------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """«نتایج بیشتر» / «قبلی» edit the message to another passage; «متن کامل خبر» sends the article."""
        query = update.callback_query
        if query is None:
            return
        parsed = parse_callback(query.data)
        message = query.message if isinstance(query.message, Message) else None
        asked = await self.records.asked(parsed[1]) if parsed else None
        # The button must be ours and pressed in the chat where the question was asked.
        if parsed is None or message is None or asked is None or asked.chat_id != message.chat.id:
            await self._answer_query(query, texts.EXPIRED)
            return
        if await self.lookups.verdict(query.from_user.id) is not Verdict.OK:  # no search spent
            await self._answer_query(query, texts.SLOW_DOWN_SHORT)
            return
        action, _, page = parsed
        index = self.library.index  # read once: a reload meanwhile must not mix two indexes
        result = await self._search(asked.question, index)
        if page >= len(result.passages):
            await self._answer_query(query, texts.EXPIRED)
            return
        await self._answer_query(query)
        if action == "more":
            text = html_messages(passage_pieces(result, page))[0]
            await self._edit(message, message.message_id, text, passage_keyboard(result, asked.id, page))
            return
        hit = result.passages[page].hit
        # In a thread: a long article's sentences take a while to read, even when only five messages go out.
        messages = await asyncio.to_thread(
            article_messages, index, hit.sentence.article, ARTICLE_MESSAGES, texts.ARTICLE_TRUNCATED.strip()
        )
        for text in messages:
            await self._reply(message, text, html_text=True, quote=True)

    async def inline(self, update: Update, context: Context) -> None:
        """@bot question in any chat: up to 10 passages to choose from."""
        query = update.inline_query
        if query is None:
            return
        arrived = time.perf_counter()
        question = query.query.strip()
        if not question:
            await deliver(lambda: query.answer([], cache_time=300), what="inline answer", idempotent=True)
            return
        # Over the limit: no search spent; the client may ask again soon.
        if await self.lookups.verdict(query.from_user.id) is not Verdict.OK:
            await deliver(
                lambda: query.answer([], cache_time=5, is_personal=True), what="inline answer", idempotent=True
            )
            return
        self.metrics.asked("inline")
        result = await self._search(question)
        answered = result.answered
        passages = result.passages if answered else result.passages[:NEAREST_INLINE]
        # Each result posts its answering sentence and source; its description is that sentence. Nearest
        # passages of a question without an answer say so, in the list and in what they post.
        prefix = "" if answered else texts.INLINE_NEAREST
        room = MAX_MESSAGE - utf16_len(prefix)
        articles = [
            InlineQueryResultArticle(
                id=str(i),
                title=(passage.title if answered else texts.INLINE_NEAREST_TITLE.format(passage.title))[:100],
                description=prefix + snippet(passage.sentence),
                input_message_content=InputTextMessageContent(
                    to_html(
                        [
                            (prefix, PLAIN),
                            *passage_pieces(result, i, footer=False, context=False, limit=room),
                        ]
                    ),
                    parse_mode=ParseMode.HTML,
                ),
            )
            for i, passage in enumerate(passages)
        ]
        button = None if answered else InlineQueryResultsButton(text=texts.INLINE_ASK_PRIVATELY, start_parameter="ask")
        await deliver(
            lambda: query.answer(articles, cache_time=30, is_personal=False, button=button),
            what="inline answer",
            idempotent=True,
        )
        self.metrics.replied(arrived)

    # -- admins -----------------------------------------------------------------------------------

    async def refuse(self, update: Update, context: Context) -> None:
        """Admin commands from anyone else: a clear refusal, and a log line."""
        message, user = update.effective_message, update.effective_user
        _logger.warning(
            "refused %s from user %s in chat %s",
            message.text.split()[0][:80] if message and message.text else "?",
            user.id if user else "?",
            update.effective_chat.id if update.effective_chat else "?",
        )
        if message:
            await self._reply(message, texts.NOT_ADMIN)

    async def private_only(self, update: Update, context: Context) -> None:
        """An admin's /unanswered in a group: it would show users' questions to the group."""
        if update.effective_message:
            await self._reply(update.effective_message, texts.PRIVATE_ONLY)

    async def reload(self, update: Update, context: Context) -> None:
        """/reload: rebuild from the seeds folder while questions keep being answered, then report."""
        message = update.effective_message
        if message is None:
            return
        _logger.info("reload requested by user %s", update.effective_user.id if update.effective_user else "?")
        await self._reply(message, texts.RELOADING)
        await self._reload(message, allow_shrink=False)

    async def confirm_reload(self, update: Update, context: Context) -> None:
        """The button under a held-back reload: an admin confirms that the smaller collection is right."""
        query = update.callback_query
        if query is None:
            return
        message = query.message if isinstance(query.message, Message) else None
        if query.from_user.id not in self.settings.admin_ids or message is None:
            _logger.warning("refused a reload confirmation from user %s", query.from_user.id)
            await self._answer_query(query, texts.NOT_ADMIN)
            return
        await self._answer_query(query)
        _logger.info("reload confirmed by user %s", query.from_user.id)
        await self._edit(message, message.message_id, html.escape(texts.RELOAD_CONFIRMED), None)
        await self._reload(message, allow_shrink=True)

    async def _reload(self, message: Message, *, allow_shrink: bool) -> None:
        """Reload, tell the other workers, and send the admin the report (in parts when it is long)."""
        report = await self.library.reload(allow_shrink=allow_shrink)
        self.metrics.reloaded(report)
        text = self._reload_text(report)
        fleet = await self.reloads.spread(report) if report.ok else None  # several workers: how far it got
        if fleet is not None:
            text = "\n".join(filter(None, [text, fleet_text(fleet)]))
        markup = confirm_reload_keyboard() if report.held else None
        messages = html_messages([(text, PLAIN)])
        for i, part in enumerate(messages):
            last = i == len(messages) - 1
            await self._reply(message, part, html_text=True, markup=markup if last else None)

    @staticmethod
    def _reload_text(report: ReloadReport) -> str:
        """The admin's report, in Persian, every line right to left (file names isolated, long lists cut)."""
        if report.already_running:
            return texts.RELOAD_RUNNING
        seconds = fa_decimal(report.seconds)
        if report.error is not None:
            reason = texts.FOLDER_PROBLEMS[report.problem or FolderProblem.UNREADABLE]
            return "\n".join([texts.RELOAD_FAILED.format(seconds), texts.RELOAD_REASON.format(reason)])
        lines = [
            texts.RELOAD_HELD.format(fa(len(report.removed)), fa(report.articles_before), seconds)
            if report.held
            else texts.RELOAD_DONE.format(seconds),
            f"خبرها: {fa(report.articles_before)} ← {fa(report.articles_after)}",
            f"جمله‌ها: {fa(report.sentences_before)} ← {fa(report.sentences_after)}",
        ]
        for label, names in (("افزوده", report.added), ("حذف‌شده", report.removed), ("تغییرکرده", report.changed)):
            lines.append(f"{label}: {_listing(names)}")
        for heading, files in ((texts.RELOAD_REJECTED, report.rejected), (texts.RELOAD_FLAWED, report.flawed)):
            if files:
                lines.append(heading)
                lines.extend(f"{RLM}• {isolated(f.name)}: {texts.PROBLEMS[f.problem]}" for f in files[:LISTED])
                if len(files) > LISTED:
                    lines.append(f"{RLM}• {texts.AND_MORE.format(fa(len(files) - LISTED))}")
        return "\n".join(lines)

    async def stats(self, update: Update, context: Context) -> None:
        """/stats: articles, sentences, uptime, questions answered and unanswered."""
        message = update.effective_message
        if message is None:
            return
        index, counters = self.library.index, await self.records.counters()
        uptime = int(time.monotonic() - self.started)
        days, rest = divmod(uptime, 86400)
        hours, rest = divmod(rest, 3600)
        await self._reply(
            message,
            "\n".join(
                [
                    "📊 آمار «پاسخ»",
                    f"خبرها: {fa(len(index.articles))}",
                    f"جمله‌ها: {fa(len(index))}",
                    f"مدت کار: {fa(days)} روز، {fa(hours)} ساعت، {fa(rest // 60)} دقیقه",
                    f"پرسش‌های پاسخ‌داده: {fa(counters.get('answered', 0))}",
                    f"پرسش‌های بی‌پاسخ: {fa(counters.get('unanswered', 0))}",
                    *([] if self.records.saving else [texts.STATS_NOT_SAVED]),
                    *(feeds_text(self.feeds.statuses(), self.feeds.clock()) if self.feeds else []),
                ]
            ),
        )

    async def unanswered(self, update: Update, context: Context) -> None:
        """/unanswered: the last 20 questions that got no answer, newest first."""
        message = update.effective_message
        if message is None:
            return
        rows = await self.records.unanswered(20)
        if not rows:
            await self._reply(message, texts.NO_UNANSWERED)
            return
        # Users wrote these: one line each, without control or bidi-override characters, escaped.
        lines = ["❓ آخرین پرسش‌های بی‌پاسخ:"]
        lines += [f"{fa(i)}. {single_line(row.question)}" for i, row in enumerate(rows, 1)]
        for text in html_messages([("\n".join(lines), PLAIN)]):
            await self._reply(message, text, html_text=True)

    # -- errors -----------------------------------------------------------------------------------

    async def on_error(self, update: object, context: Context) -> None:
        """Log the error first, then tell the user briefly (never the details)."""
        _logger.error("error while handling an update", exc_info=context.error)
        self.metrics.failed()
        if isinstance(update, Update) and update.effective_message is not None:
            message = update.effective_message
            try:
                await deliver(lambda: message.reply_text(texts.ERROR), what="apology", attempts=APOLOGY_ATTEMPTS)
            except Exception:  # the apology itself failed (e.g. the API is down): logged above already
                _logger.warning("could not send the error apology", exc_info=True)
