"""Incoming updates built like Telegram's and injected for the bot: text messages in private chats
and groups (with detected commands and mentions), replies, edits, button presses, inline queries,
stickers, photos and documents (downloadable through getFile), and channel posts and their edits.
"""

from __future__ import annotations

import time

from bot.testing.standin.html import text_entities
from bot.testing.standin.protocol import CHANNEL_ID, FIRST_NAME, GROUP_ID, JSON, USER_ID, Injected
from bot.testing.standin.state import StandinState


def _user(user_id: int, first_name: str) -> JSON:
    """A (human) Telegram user."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "username": f"user{user_id}",
        "language_code": "fa",
    }


class IncomingUpdates(StandinState):
    """Builders of updates from users; each stores what it makes and queues or numbers the update."""

    def private_message(
        self, text: str, *, user_id: int = USER_ID, first_name: str = FIRST_NAME, entities: list[JSON] | None = None
    ) -> Injected:
        """A text message in the user's private chat (entities detected when None)."""
        return self._text_message(text, None, user_id=user_id, first_name=first_name, title="", entities=entities)

    def group_message(
        self,
        text: str,
        *,
        chat_id: int = GROUP_ID,
        title: str = "Test group",
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        entities: list[JSON] | None = None,
    ) -> Injected:
        """A text message in a group (supergroup for ids starting -100); detects /cmd@bot and @mentions."""
        return self._text_message(text, chat_id, user_id=user_id, first_name=first_name, title=title, entities=entities)

    def reply(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        entities: list[JSON] | None = None,
    ) -> Injected:
        """A user's text reply to a stored message (e.g. the bot's), with reply_to_message filled."""
        target = self._stored(chat_id, message_id)
        reply_to = {k: v for k, v in target.items() if k != "reply_to_message"}
        group = None if target["chat"]["type"] == "private" else chat_id
        title = target["chat"].get("title", "")
        return self._text_message(
            text, group, user_id=user_id, first_name=first_name, title=title, entities=entities, reply_to=reply_to
        )

    def edited_message(
        self, chat_id: int, message_id: int, text: str, *, entities: list[JSON] | None = None
    ) -> Injected:
        """The user's edit of a stored message they sent."""
        message = self._stored(chat_id, message_id)
        message |= {"text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        if found := text_entities(text) if entities is None else entities:
            message["entities"] = found
        return self._inject("edited_message", dict(message))

    def callback_query(
        self, chat_id: int, message_id: int, data: str, *, user_id: int = USER_ID, first_name: str = FIRST_NAME
    ) -> Injected:
        """A press of an inline button with `data` under a stored bot message."""
        message = self._stored(chat_id, message_id)
        payload = {
            "id": self._open_query(user_id),
            "from": _user(user_id, first_name),
            "message": dict(message),
            "chat_instance": str(abs(chat_id) * 7 + 3),
            "data": data,
        }
        return self._inject("callback_query", payload)

    def inline_query(
        self,
        query: str,
        *,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
        offset: str = "",
        chat_type: str = "sender",
    ) -> Injected:
        """An inline query "@bot query" typed by a user."""
        query_id = self._open_query(user_id)
        user = _user(user_id, first_name)
        payload = {"id": query_id, "from": user, "query": query, "offset": offset, "chat_type": chat_type}
        return self._inject("inline_query", payload)

    def sticker_message(
        self, *, chat_id: int | None = None, user_id: int = USER_ID, first_name: str = FIRST_NAME, emoji: str = "👍"
    ) -> Injected:
        """A sticker in the private chat (chat_id None) or a group."""
        serial = self._next_serial()
        sticker = {
            "file_id": f"standin-sticker-{serial}",
            "file_unique_id": f"stk{serial}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        user = _user(user_id, first_name)
        return self._inject(
            "message", self._new_message(self._user_chat(chat_id, user, "Test group"), user, sticker=sticker)
        )

    def photo_message(
        self,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
    ) -> Injected:
        """A photo (two sizes, optional caption) in the private chat (chat_id None) or a group."""
        serial = self._next_serial()
        sizes = [
            {
                "file_id": f"standin-photo-{serial}-{w}",
                "file_unique_id": f"ph{serial}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 40,
            }
            for w in (90, 800)
        ]
        user = _user(user_id, first_name)
        chat = self._user_chat(chat_id, user, "Test group")
        return self._inject("message", self._new_message(chat, user, photo=sizes, caption=caption))

    def document_message(
        self,
        data: bytes,
        file_name: str | None = "article.txt",
        *,
        mime_type: str = "text/plain",
        file_size: int | None = None,
        size_known: bool = True,
        caption: str | None = None,
        chat_id: int | None = None,
        user_id: int = USER_ID,
        first_name: str = FIRST_NAME,
    ) -> Injected:
        """A file sent as a document in the private chat (chat_id None) or a group; the bot gets its bytes
        with getFile and a download. ``file_size`` is what the message says (the real size when None; left out,
        as Telegram may, unless ``size_known``)."""
        serial = self._next_serial()
        extension = (file_name or "").rpartition(".")[2] if "." in (file_name or "") else "bin"
        file: JSON = {
            "file_id": f"standin-document-{serial}",
            "file_unique_id": f"doc{serial}",
            "file_size": len(data),
            "file_path": f"documents/file_{serial}.{extension}",
        }
        self._files[file["file_id"]] = (file, data)
        document = {k: v for k, v in file.items() if k != "file_path"} | {"mime_type": mime_type}
        document["file_size"] = len(data) if file_size is None else file_size
        if not size_known:
            del document["file_size"]
        if file_name is not None:
            document["file_name"] = file_name
        user = _user(user_id, first_name)
        chat = self._user_chat(chat_id, user, "Test group")
        return self._inject("message", self._new_message(chat, user, document=document, caption=caption))

    def channel_post(
        self,
        text: str | None = None,
        *,
        caption: str | None = None,
        photo: bool = False,
        chat_id: int = CHANNEL_ID,
        title: str = "Test channel",
        username: str | None = None,
        date: int | None = None,
    ) -> Injected:
        """A post in a channel (the bot is an admin there): ``text``, or a photo with ``caption``."""
        chat = {"id": chat_id, "type": "channel", "title": title} | ({"username": username} if username else {})
        self._chats[chat_id] = chat
        content: JSON = {"text": text, "entities": text_entities(text) if text else None, "caption": caption}
        if photo:
            serial = self._next_serial()
            content["photo"] = [
                {"file_id": f"standin-photo-{serial}", "file_unique_id": f"ph{serial}", "width": 800, "height": 600}
            ]
        message = self._new_message(chat, self.bot_user, **content)
        del message["from"]  # a channel's posts come from the channel
        message["sender_chat"] = chat
        if date is not None:
            message["date"] = date
        return self._inject("channel_post", dict(message))

    def edited_channel_post(self, chat_id: int, message_id: int, text: str, *, caption: bool = False) -> Injected:
        """An edit of a stored channel post: its new text (or caption)."""
        message = self._stored(chat_id, message_id)
        message |= {"caption" if caption else "text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        if not caption and (found := text_entities(text)):
            message["entities"] = found
        return self._inject("edited_channel_post", dict(message))

    def delete_message(self, injected: Injected) -> None:
        """Delete the injected message, as its sender or another bot (a group's cleaner) would.

        Telegram sends no update for a deletion; replies to the message then fail unless they allow
        sending without it.
        """
        message = next(iter(v for k, v in injected.update.items() if k != "update_id"))
        del self._messages[message["chat"]["id"], message["message_id"]]

    def delete_sent(self, chat_id: int, message_id: int) -> None:
        """Delete one of the bot's messages, as the user may in a private chat (or an admin in a group):
        editing it then fails with "message to edit not found"."""
        del self._messages[chat_id, message_id], self._sent[chat_id, message_id]

    def _open_query(self, user_id: int) -> str:
        """A fresh callback or inline query id, open until the bot answers it."""
        query_id = f"{self._next_serial()}{user_id}"
        self._open_queries.add(query_id)
        return query_id

    def _user_chat(self, chat_id: int | None, user: JSON, title: str) -> JSON:
        """The private chat with `user` when chat_id is None, else the group (supergroup for -100...)."""
        if chat_id is None:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"], "username": user["username"]}
        elif chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group", "title": title}
        else:
            raise ValueError("a group chat id is negative; leave chat_id None for a private chat")
        self._chats[chat["id"]] = chat
        return chat

    def _stored(self, chat_id: int, message_id: int) -> JSON:
        """A stored message; KeyError (a mistake in the test) when there is none."""
        if (chat_id, message_id) not in self._messages:
            raise KeyError(f"no stored message {message_id} in chat {chat_id}")
        return self._messages[chat_id, message_id]

    def _text_message(
        self,
        text: str,
        chat_id: int | None,
        *,
        user_id: int,
        first_name: str,
        title: str,
        entities: list[JSON] | None,
        reply_to: JSON | None = None,
    ) -> Injected:
        """A user's text message in the private chat (chat_id None) or a group."""
        user = _user(user_id, first_name)
        message = self._new_message(
            self._user_chat(chat_id, user, title),
            user,
            reply_to_message=reply_to,
            text=text,
            entities=text_entities(text) if entities is None else entities,
        )
        return self._inject("message", message)
