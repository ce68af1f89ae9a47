"""The stand-in's state: the bot's identity, chats, stored messages, queued updates, stored commands,
files users sent, and the signal that wakes waiters when calls or updates change.

`StandinState` is the base of the stand-in's mixins (Bot API methods, update delivery, incoming
updates, the server); it holds all their state and the few operations more than one of them needs.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from bot.testing.standin.protocol import JSON, Injected, SentMessage, bad_request


class StandinState:
    """The state of one stand-in Bot API server for one bot token."""

    def __init__(
        self,
        token: str,
        *,
        username: str,
        first_name: str,
        bot_id: int | None,
        can_read_all_group_messages: bool,
        supports_inline_queries: bool,
        last_update_id: int,
    ) -> None:
        self.token = token
        self.bot_user: JSON = {
            "id": bot_id if bot_id is not None else int(token.split(":", maxsplit=1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.me: JSON = self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": can_read_all_group_messages,
            "supports_inline_queries": supports_inline_queries,
        }
        self.webhook: JSON | None = None  # the parameters of the active setWebhook
        self._updates: list[JSON] = []  # queued for getUpdates
        self._update_id = last_update_id  # a restarted Bot API continues the numbering
        self._allowed_updates: set[str] = set()
        self._poll_generation = 0  # a newer getUpdates ends the pending one with 409
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}  # every message, by (chat id, message id)
        self._sent: dict[tuple[int, int], SentMessage] = {}  # the bot's messages
        self._last_message_id: dict[int, int] = {}
        self._open_queries: set[str] = set()  # callback and inline query ids not answered yet
        self._serial = 0
        self._commands: dict[tuple[str, str], list[JSON]] = {}  # by (scope JSON, language code)
        self._files: dict[str, tuple[JSON, bytes]] = {}  # files users sent: (File JSON, bytes) by file_id
        self._downloads: dict[str, bytes] = {}  # by the file_path that getFile gave
        self._tick = asyncio.Event()  # set and replaced whenever calls or updates change
        self._closed = asyncio.Event()

    def _notify(self) -> None:
        """Wake everything waiting for a change of calls or updates."""
        self._tick.set()
        self._tick = asyncio.Event()

    def _next_serial(self) -> int:
        """A fresh number for file and query ids."""
        self._serial += 1
        return self._serial

    def _chat(self, chat_id: Any) -> JSON:
        """A known chat by id or @username, or a plausible one for an unknown numeric id."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            found = next((c for c in self._chats.values() if f"@{c.get('username')}" == chat_id), None)
            if found is None:
                raise bad_request("chat not found")
            return found
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if number not in self._chats:
            kind = "private" if number > 0 else "supergroup" if str(number).startswith("-100") else "group"
            self._chats[number] = {"id": number, "type": kind} | (
                {"first_name": "User"} if kind == "private" else {"title": "Chat"}
            )
        return self._chats[number]

    def _new_message(self, chat: JSON, sender: JSON, **content: Any) -> JSON:
        """Store a message with the chat's next id; None or empty content fields are left out."""
        message_id = self._last_message_id[chat["id"]] = self._last_message_id.get(chat["id"], 0) + 1
        message = {"message_id": message_id, "from": sender, "chat": chat, "date": int(time.time())}
        message |= {k: v for k, v in content.items() if v not in (None, [], "")}
        self._messages[chat["id"], message_id] = message
        return message

    def _inject(self, kind: str, payload: JSON) -> Injected:
        """Number an update; queue it for getUpdates unless a webhook is set."""
        self._update_id += 1
        update = {"update_id": self._update_id, kind: copy.deepcopy(payload)}
        if self.webhook is None:
            self._updates.append(update)
        self._notify()
        return Injected(update, self._update_id)
