"""The order in which updates are handled: chats concurrently, each chat's updates in turn."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["MAX_CONCURRENT_UPDATES", "PerChatUpdateProcessor"]

MAX_CONCURRENT_UPDATES = 256
MAX_WAITING_UPDATES = 1_000_000
"""PTB's own bound, taken before ours: high, so updates queued behind their chat hold no slot."""


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one at a time, in order.

    An update first waits for its chat, then for one of ``max_concurrent_updates`` slots. (PTB's
    semaphore, taken before ``do_process_update``, would let a chat with hundreds of queued updates
    hold every slot while they wait for their turn, and stall all other chats; it is set very high.)
    So a busy group never delays a private chat, and answers in a chat come in the order asked.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(MAX_WAITING_UPDATES)
        self._running = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: collections.Counter[int] = collections.Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._running:
                await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock, self._running:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
