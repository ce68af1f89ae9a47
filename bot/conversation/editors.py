"""Editors publish from Telegram: ``/add``, uploaded ``.txt``/``.md`` files, ``/remove`` (confirmed with a
button), ``/articles``; and the posts of the outlet's channels. Thin adapters over ``Library.publish`` and
``Library.remove``: the message becomes an article id and a seed file's bytes, the report becomes Persian.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.conversation import texts
from bot.conversation.render import PLAIN, RLM, fa, fa_decimal, html_messages, isolated, single_line
from bot.conversation.replies import answer_query, edit, reply
from bot.library import Library
from bot.publishing import (
    IRAN,
    MAX_UPLOAD_BYTES,
    Outcome,
    PublishReport,
    added_article_id,
    added_text,
    channel_article,
    channel_article_id,
    id_key,
    post_link,
    uploaded_article_id,
)
from bot.sending import deliver
from bot.settings import Settings
from retrieval.answer import format_date
from retrieval.seeds import SEED_SUFFIXES, Problem, Rejected

__all__ = ["REMOVE", "Editors", "publish_text"]

_logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Handlers = list[BaseHandler[Any, Any, Any]]
REMOVE = "remove:"
"""Callback data of the removal buttons: ``remove:<id_key>`` confirms, ``remove:no`` cancels."""
CANCEL = "no"
LISTED = 20
"""Articles ``/articles`` lists."""
_FRESH = filters.UpdateType.MESSAGE
_CHANNEL_POSTS = filters.UpdateType.CHANNEL_POSTS  # new and edited posts


def publish_text(report: PublishReport) -> str:
    """The editor's report of a publication or removal, in Persian (plain text)."""
    seconds = fa_decimal(report.seconds)
    if report.outcome is Outcome.REJECTED:
        problem = texts.PROBLEMS[report.problem or Problem.EMPTY]
        return "\n".join([texts.NOT_SAVED.format(problem), texts.SEED_FORMAT])
    if report.outcome is Outcome.NOT_FOUND:
        return texts.REMOVE_NOT_FOUND.format(isolated(report.article_id))
    if report.outcome is Outcome.LAST:
        return texts.REMOVE_LAST
    if report.outcome is Outcome.HELD:
        return texts.NOT_CHANGED.format(texts.PUBLISH_HELD.format(fa(report.missing)))
    if report.outcome is Outcome.FAILED:
        folder = report.folder_problem
        return texts.NOT_CHANGED.format(texts.FOLDER_PROBLEMS[folder] if folder else texts.WRITE_FAILED)
    heading = {Outcome.ADDED: texts.PUBLISHED, Outcome.REPLACED: texts.REPLACED, Outcome.REMOVED: texts.REMOVED}
    lines = [
        heading[report.outcome].format(seconds),
        texts.ARTICLE_ID.format(isolated(report.article_id)),
        texts.ARTICLE_TITLE.format(single_line(report.title)),
    ]
    if report.outcome is not Outcome.REMOVED:
        lines.append(texts.ARTICLE_DATE.format(format_date(report.date) if report.date else texts.NO_DATE))
        lines.append(texts.ARTICLE_SENTENCES.format(fa(report.sentences)))
    lines.append(texts.ARTICLES_NOW.format(fa(report.articles)))
    lines += [texts.PUBLISH_FLAW.format(texts.PROBLEMS[flaw]) for flaw in report.flaws]
    return "\n".join(lines)


def remove_keyboard(article_id: str) -> InlineKeyboardMarkup:
    """The buttons under «remove this article?»: confirm or cancel."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.REMOVE_CONFIRM, callback_data=REMOVE + id_key(article_id))],
            [InlineKeyboardButton(texts.REMOVE_CANCEL, callback_data=REMOVE + CANCEL)],
        ]
    )


def _who(update: Update) -> str:
    return str(update.effective_user.id) if update.effective_user else "?"


class Editors:
    """The handlers of publishing: admins' commands and uploads, and the listed channels' posts."""

    def __init__(self, settings: Settings, library: Library) -> None:
        self.settings = settings
        self.library = library
        self._unlisted: set[int] = set()
        """Channels whose posts were ignored (each logged once)."""

    def commands(self, admins: filters.BaseFilter) -> Handlers:
        """Admins' commands; registered before the refusal of admin commands to others."""
        return [
            CommandHandler("add", self.add, filters=(_FRESH | filters.UpdateType.EDITED_MESSAGE) & admins),
            CommandHandler("remove", self.remove, filters=_FRESH & admins),
            CommandHandler("articles", self.articles, filters=_FRESH & admins),
        ]

    def uploads(self, admins: filters.BaseFilter) -> Handlers:
        """Documents in private chats: an admin's is published, anyone else's refused."""
        documents = filters.ChatType.PRIVATE & filters.Document.ALL & _FRESH
        return [MessageHandler(documents & admins, self.upload), MessageHandler(documents, self.refuse_upload)]

    def channels(self) -> Handlers:
        """Posts of the channels in ``PASOKH_CHANNEL_IDS``, new and edited; other channels' are ignored."""
        listed = filters.Chat(chat_id=self.settings.channel_ids, allow_empty=False)
        return [
            MessageHandler(_CHANNEL_POSTS & listed, self.channel_post),
            MessageHandler(_CHANNEL_POSTS, self.unlisted_channel),
        ]

    def buttons(self) -> Handlers:
        return [CallbackQueryHandler(self.confirm_remove, pattern=f"^{REMOVE}")]

    # -- publishing ---------------------------------------------------------------------------------

    async def _publish(self, message: Message, article_id: str, data: bytes, suffix: str) -> None:
        _logger.info(
            "user %s publishes article %s (%d bytes)",
            message.from_user.id if message.from_user else "?",
            article_id,
            len(data),
        )
        report = await self.library.publish(article_id, data, suffix=suffix)
        await reply(message, publish_text(report))

    async def add(self, update: Update, context: Context) -> None:
        """/add and the article (first line the title), dated the day it was sent; editing it corrects it."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        parts = message.text.split(maxsplit=1)
        if len(parts) < 2:
            await reply(message, texts.ADD_USAGE)
            return
        text = added_text(parts[1], message.date.astimezone(IRAN).date())
        await self._publish(message, added_article_id(message.chat.id, message.message_id), text.encode(), ".txt")

    async def upload(self, update: Update, context: Context) -> None:
        """A .txt or .md file from an admin: published as the article named after the file (sent again with
        the same name, it corrects that article)."""
        message = update.effective_message
        document = message.document if message else None
        if message is None or document is None:
            return
        name = document.file_name or ""
        suffix = os.path.splitext(name)[1].lower()
        if suffix not in SEED_SUFFIXES:
            await reply(message, texts.UPLOAD_KIND)
            return
        too_large = texts.UPLOAD_TOO_LARGE.format(fa(MAX_UPLOAD_BYTES // 1000))
        if (document.file_size or 0) > MAX_UPLOAD_BYTES:  # refused before it is downloaded
            await reply(message, too_large)
            return
        try:
            file = await deliver(lambda: context.bot.get_file(document.file_id), what="getFile", idempotent=True)
            data = bytes(await file.download_as_bytearray()) if file is not None else None
        except TelegramError as exc:
            if "too big" in str(exc).lower():
                await reply(message, too_large)
                return
            _logger.warning("could not download a document from user %s: %s", _who(update), exc)
            data = None
        if data is None:
            await reply(message, texts.UPLOAD_FAILED)
            return
        if len(data) > MAX_UPLOAD_BYTES:
            await reply(message, too_large)
            return
        article_id = uploaded_article_id(name) or added_article_id(message.chat.id, message.message_id)
        await self._publish(message, article_id, data, suffix)

    async def refuse_upload(self, update: Update, context: Context) -> None:
        """A document from someone who is no admin: refused, and logged."""
        message = update.effective_message
        chat = update.effective_chat.id if update.effective_chat else "?"
        _logger.warning("refused a document from user %s in chat %s", _who(update), chat)
        if message:
            await reply(message, texts.NOT_ADMIN_UPLOAD)

    async def channel_post(self, update: Update, context: Context) -> None:
        """A listed channel's post (or its edit) becomes the article ``channel-<channel>-<post>``: its text
        or caption, the first line the title, dated the day it was posted, its link the last line."""
        post = update.channel_post or update.edited_channel_post
        if post is None:
            return
        text, chat = post.text or post.caption, post.chat
        article_id = channel_article_id(chat.id, post.message_id)
        if not text:
            _logger.info("post %d of channel %d has no text: no article", post.message_id, chat.id)
            return
        data = channel_article(text, post.date, post_link(chat.id, chat.username, post.message_id), article_id)
        if isinstance(data, Rejected):
            _logger.info("post %d of channel %d is no article (%s)", post.message_id, chat.id, data.reason)
            return
        report = await self.library.publish(article_id, data)
        if not report.ok:
            _logger.warning("post %d of channel %d not published: %s", post.message_id, chat.id, report.outcome.value)

    async def unlisted_channel(self, update: Update, context: Context) -> None:
        """A post of a channel not in ``PASOKH_CHANNEL_IDS``: ignored (logged once per channel)."""
        chat = update.effective_chat
        if chat is not None and chat.id not in self._unlisted:
            self._unlisted.add(chat.id)
            _logger.info(
                "posts of channel %d (%s) are ignored: it is not in PASOKH_CHANNEL_IDS",
                chat.id,
                single_line(chat.title or ""),
            )

    # -- removing and listing -----------------------------------------------------------------------

    async def remove(self, update: Update, context: Context) -> None:
        """/remove ID: asks for confirmation with a button."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        parts = message.text.split(maxsplit=1)
        if len(parts) < 2:
            await reply(message, texts.REMOVE_USAGE)
            return
        article_id = parts[1].strip()
        info = next((a for a in self.library.index.articles if a.id == article_id), None)
        if info is None:
            await reply(message, texts.REMOVE_NOT_FOUND.format(isolated(article_id)))
            return
        ask = texts.REMOVE_ASK.format(single_line(info.display_title), isolated(article_id))
        await reply(message, ask, markup=remove_keyboard(article_id))

    async def confirm_remove(self, update: Update, context: Context) -> None:
        """The buttons under «remove this article?»: an admin's press removes it (or cancels)."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        message = query.message if isinstance(query.message, Message) else None
        if query.from_user.id not in self.settings.admin_ids or message is None:
            _logger.warning("refused a removal confirmation from user %s", query.from_user.id)
            await answer_query(query, texts.NOT_ADMIN)
            return
        await answer_query(query)
        key = query.data.removeprefix(REMOVE)
        article_id = next((a.id for a in self.library.index.articles if id_key(a.id) == key), None)
        if key == CANCEL or article_id is None:
            await edit(
                message,
                message.message_id,
                html.escape(texts.REMOVE_CANCELLED if key == CANCEL else texts.REMOVE_GONE),
                None,
            )
            return
        _logger.info("user %s removes article %s", query.from_user.id, article_id)
        await edit(message, message.message_id, html.escape(texts.REMOVING), None)  # no second press
        report = await self.library.remove(article_id)
        await edit(message, message.message_id, html.escape(publish_text(report)), None)

    async def articles(self, update: Update, context: Context) -> None:
        """/articles: the articles added or corrected last, with their ids."""
        message = update.effective_message
        if message is None:
            return
        recent = await asyncio.to_thread(self.library.recent, LISTED)
        lines = [texts.ARTICLES_HEADER]
        for info, _ in recent:
            date = f" ({format_date(info.date)})" if info.date else ""
            lines.append(f"{RLM}• {isolated(info.id)}: {single_line(info.display_title)[:120]}{date}")
        lines.append(texts.ARTICLES_FOOTER)
        for text in html_messages([("\n".join(lines), PLAIN)]):
            await reply(message, text, html_text=True)
