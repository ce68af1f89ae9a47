"""Sending from handlers: replies, edits of the bot's messages and button answers, each resent as
``bot.sending`` allows."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest

from bot.sending import deliver

__all__ = ["answer_query", "edit", "reply"]


async def reply(
    message: Message,
    text: str,
    *,
    html_text: bool = False,
    markup: InlineKeyboardMarkup | None = None,
    quote: bool | None = None,
) -> Message | None:
    """Reply in the message's chat, quoting it in groups; resent as ``bot.sending`` allows."""
    do_quote = message.chat.type != ChatType.PRIVATE if quote is None else quote
    return await deliver(
        lambda: message.reply_text(
            text, parse_mode=ParseMode.HTML if html_text else None, reply_markup=markup, do_quote=do_quote
        ),
        what=f"reply in chat {message.chat.id}",
    )


async def answer_query(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press (repeatable: resent after any network failure)."""
    await deliver(lambda: query.answer(text, show_alert=text is not None), what="button answer", idempotent=True)


async def edit(in_chat_of: Message, message_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit one of the bot's messages (HTML) in the chat of ``in_chat_of`` (repeatable); an edit that changes
    nothing is fine."""
    bot, chat_id = in_chat_of.get_bot(), in_chat_of.chat.id
    try:
        await deliver(
            lambda: bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=markup
            ),
            what="answer edit",
            idempotent=True,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
