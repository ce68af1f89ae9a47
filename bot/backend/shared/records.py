"""The bot's records (``bot.backend.interfaces.Records``) in Redis, shared by every worker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import cast

from bot.backend.interfaces import ASKED_KEPT, REPLIES_SECONDS, UNANSWERED_KEPT, Asked, Unanswered
from bot.backend.shared.connection import TIMEOUT, SharedRedis

__all__ = ["RedisRecords"]


class RedisRecords:
    """``Records`` in Redis, shared by every worker.

    Writes never fail a question: during an outage they are dropped (logged once), a question gets
    id 0 (its buttons then say they expired) and a button finds nothing. ``counters`` and
    ``unanswered`` raise ``RedisError``: an admin then gets the error apology rather than zeros.
    """

    def __init__(self, shared: SharedRedis) -> None:
        self.shared = shared
        self._counters = shared.key("counters")
        self._unanswered = shared.key("unanswered")
        self._asked = shared.key("asked")
        self._asked_id = shared.key("asked", "id")
        self._feed_items = shared.key("feed_items")

    @property
    def saving(self) -> bool:
        return self.shared.available

    async def count(self, name: str, by: int = 1) -> None:
        await self.shared.attempt("count", lambda: self.shared.client.hincrby(self._counters, name, by), 0)

    async def counters(self) -> dict[str, int]:
        async with asyncio.timeout(TIMEOUT):
            values = cast(dict[str, str], await self.shared.client.hgetall(self._counters))
        return {name: int(value) for name, value in values.items()}

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        record = json.dumps({"at": time.time(), "chat_type": chat_type, "question": question}, ensure_ascii=False)

        async def push() -> None:
            async with self.shared.client.pipeline(transaction=True) as pipe:
                pipe.lpush(self._unanswered, record)  # queued: a pipeline runs its commands at execute()
                pipe.ltrim(self._unanswered, 0, UNANSWERED_KEPT - 1)
                await pipe.execute()

        await self.shared.attempt("unanswered log", push, None)

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        async with asyncio.timeout(TIMEOUT):
            rows = await self.shared.client.lrange(self._unanswered, 0, limit - 1)
        return [Unanswered(**json.loads(row)) for row in rows]

    async def remember_question(self, chat_id: int, question: str) -> int:
        async def remember() -> int:
            question_id = int(await self.shared.client.incr(self._asked_id))
            record = json.dumps({"chat_id": chat_id, "question": question}, ensure_ascii=False)
            async with self.shared.client.pipeline(transaction=True) as pipe:
                pipe.hset(self._asked, str(question_id), record)
                pipe.hdel(self._asked, str(question_id - ASKED_KEPT))
                await pipe.execute()
            return question_id

        return await self.shared.attempt("asked question", remember, 0)

    async def asked(self, question_id: int) -> Asked | None:
        if question_id <= 0:
            return None

        async def find() -> str | None:
            return cast(str | None, await self.shared.client.hget(self._asked, str(question_id)))

        raw = await self.shared.attempt("asked question", find, None)
        if raw is None:
            return None
        record = json.loads(raw)
        return Asked(question_id, int(record["chat_id"]), str(record["question"]))

    async def remember_replies(self, chat_id: int, message_id: int, replies: Sequence[int]) -> None:
        key, value = self.shared.key("replies", chat_id, message_id), json.dumps(list(replies))
        await self.shared.attempt("replies", lambda: self.shared.client.set(key, value, ex=REPLIES_SECONDS), None)

    async def replies(self, chat_id: int, message_id: int) -> tuple[int, ...] | None:
        """During an outage: None (an edited question is then answered once more)."""

        async def find() -> tuple[int, ...] | None:
            raw = await self.shared.client.get(self.shared.key("replies", chat_id, message_id))
            return None if raw is None else tuple(int(m) for m in json.loads(raw))

        return await self.shared.attempt("replies", find, None)

    async def published(self, keys: Sequence[str]) -> set[str]:
        """During an outage: none (an item published again replaces its own article, see ``bot.feeds``)."""
        if not keys:
            return set()

        async def find() -> set[str]:
            found = await self.shared.client.smismember(self._feed_items, list(keys))
            return {key for key, there in zip(keys, found, strict=True) if there}

        return await self.shared.attempt("feed items", find, set())

    async def mark_published(self, key: str) -> None:
        await self.shared.attempt("feed items", lambda: self.shared.client.sadd(self._feed_items, key), 0)

    async def close(self) -> None:
        await self.shared.close()
