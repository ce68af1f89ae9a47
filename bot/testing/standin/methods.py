"""The Bot API methods the bot calls that act on chats: getMe, sendMessage, editMessageText,
answerCallbackQuery, answerInlineQuery, setMyCommands and getFile, each validated strictly like Telegram.

(getUpdates, setWebhook and deleteWebhook live with update delivery, in `delivery`.)
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from bot.testing.standin.html import formatted
from bot.testing.standin.protocol import (
    JSON,
    MAX_DOWNLOAD,
    MAX_INLINE_RESULTS,
    MAX_TEXT,
    Handler,
    SentMessage,
    bad_request,
)
from bot.testing.standin.state import StandinState

_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


def _check_markup(markup: Any) -> JSON | None:
    """Validate reply_markup; callback_data must be 1-64 bytes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _shown_markup(markup: JSON | None) -> JSON | None:
    """Telegram shows only inline keyboards in the returned Message."""
    return markup if markup and "inline_keyboard" in markup else None


def _commands_key(scope: JSON | None, language_code: str) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code


class BotApiMethods(StandinState):
    """Message, query and command methods, and what they leave behind (sent messages, commands)."""

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """The bot's messages in sending order (current state, after edits), optionally of one chat."""
        return [s for s in self._sent.values() if chat_id is None or s.chat_id == chat_id]

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The commands setMyCommands stored for a scope (default scope when None) and language."""
        return self._commands.get(_commands_key(scope, language_code), [])

    def _api_methods(self) -> dict[str, Handler]:
        """The methods of this mixin by their Bot API names."""
        return {
            "getMe": lambda _: self.me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "setMyCommands": self._set_my_commands,
            "getFile": self._get_file,
        }

    # Messages

    def _reply_target(self, chat_id: int, params: JSON) -> JSON | None:
        """The stored message a send replies to; 400 when it is missing and that is not allowed."""
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target_chat = self._chat(reply["chat_id"])["id"] if reply.get("chat_id") is not None else chat_id
        target = self._messages.get((target_chat, int(message_id)))
        if target is None and not reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")):
            raise bad_request("message to be replied not found")
        return None if target is None else {k: v for k, v in target.items() if k != "reply_to_message"}

    def _store_sent(self, params: JSON, text: str, message: JSON) -> JSON:
        """Keep the bot's message for later edits, replies and button presses; return it."""
        reply = message.get("reply_to_message")
        self._sent[message["chat"]["id"], message["message_id"]] = SentMessage(
            chat_id=message["chat"]["id"],
            message_id=message["message_id"],
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            reply_to_message_id=reply["message_id"] if reply else None,
            message=message,
        )
        return message

    def _send_message(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        plain, entities = formatted(params.get("text"), params.get("parse_mode"), MAX_TEXT)
        markup = _check_markup(params.get("reply_markup"))
        message = self._new_message(
            chat,
            self.bot_user,
            reply_to_message=self._reply_target(chat["id"], params),
            text=plain,
            entities=entities,
            reply_markup=_shown_markup(markup),
        )
        return self._store_sent(params, str(params["text"]), message)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        plain, entities = formatted(params.get("text"), params.get("parse_mode"), MAX_TEXT)
        markup = _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        key = (self._chat(params.get("chat_id"))["id"], int(params.get("message_id") or 0))
        sent = self._sent.get(key)
        if sent is None:
            raise bad_request("message can't be edited" if key in self._messages else "message to edit not found")
        message = sent.message
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        if (plain, entities, markup) == (message["text"], message.get("entities", []), sent.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        message |= {"text": plain, "entities": entities, "edit_date": int(time.time())}
        if not entities:
            del message["entities"]
        message.pop("reply_markup", None)
        if shown := _shown_markup(markup):
            message["reply_markup"] = shown
        sent.text, sent.parse_mode, sent.reply_markup = str(params["text"]), params.get("parse_mode"), markup
        return message

    # Queries

    def _answer_query(self, query_id: Any) -> None:
        if query_id not in self._open_queries:
            raise bad_request(_QUERY_INVALID)
        self._open_queries.discard(query_id)

    def _answer_callback_query(self, params: JSON) -> bool:
        if len(str(params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._answer_query(params.get("callback_query_id"))
        return True

    def _answer_inline_query(self, params: JSON) -> bool:
        results = params.get("results") or []
        if len(results) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        ids = [r.get("id") for r in results]
        if len(set(ids)) != len(ids):
            raise bad_request("RESULT_ID_DUPLICATE")
        self._answer_query(params.get("inline_query_id"))
        return True

    # Commands

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[_commands_key(params.get("scope"), params.get("language_code") or "")] = commands
        return True

    # Files

    def _get_file(self, params: JSON) -> JSON:
        """A file a user sent, ready to download for an hour (here: until the stand-in stops) at its path."""
        found = self._files.get(str(params.get("file_id") or ""))
        if found is None:
            raise bad_request("invalid file_id")
        file, data = found
        if len(data) > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        self._downloads[file["file_path"]] = data
        return dict(file)
