"""The order in which updates are handled: chats concurrently, each chat's updates in turn; updates that
waited too long, or that are still waiting at shutdown, are dropped (and counted) instead of answered."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["LATE_AFTER", "MAX_CONCURRENT_UPDATES", "DropReason", "PerChatUpdateProcessor"]

_logger = logging.getLogger(__name__)

MAX_CONCURRENT_UPDATES = 256
MAX_WAITING_UPDATES = 1_000_000
"""PTB's own bound, taken before ours: high, so updates queued behind their chat hold no slot."""
LATE_AFTER = 120.0
"""Seconds an update may wait for its chat before it is dropped: Telegram lets the bot send 20 messages
a minute to a group, so a flooded group would otherwise keep its last askers waiting for an hour."""
DropReason = Literal["late", "shutdown"]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one at a time, in order.

    An update first waits for its chat, then for one of ``max_concurrent_updates`` slots. (PTB's
    semaphore, taken before ``do_process_update``, would let a chat with hundreds of queued updates
    hold every slot while they wait for their turn, and stall all other chats; it is set very high.)
    So a busy group never delays a private chat, and answers in a chat come in the order asked.
    """

    def __init__(
        self,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
        *,
        on_drop: Callable[[DropReason], None] | None = None,
    ) -> None:
        """``on_drop`` is told of every update dropped (for metrics)."""
        super().__init__(MAX_WAITING_UPDATES)
        self.on_drop = on_drop
        self._running = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: collections.Counter[int] = collections.Counter()
        self._active: set[asyncio.Task[Any]] = set()
        self._closing = False

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        arrived = time.monotonic()
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._running:
                await self._handle(coroutine, arrived)
            return
        # A channel's post is an article to publish, not a question whose asker stopped waiting: never late.
        patient = isinstance(update, Update) and (update.channel_post or update.edited_channel_post) is not None
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock, self._running:
                await self._handle(coroutine, arrived, patient=patient)
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id], self._locks[chat.id]

    async def _handle(self, coroutine: Awaitable[Any], arrived: float, *, patient: bool = False) -> None:
        """Handle the update now, unless it waited past ``LATE_AFTER`` (and is not ``patient``) or the bot is
        stopping."""
        reason: DropReason | None = "shutdown" if self._closing else None
        if not patient and time.monotonic() - arrived > LATE_AFTER:
            reason = "late"
        if reason is not None:
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never started: nothing to clean up
            _logger.info("dropped an update (%s: waited %.0f s)", reason, time.monotonic() - arrived)
            if self.on_drop is not None:
                self.on_drop(reason)
            return
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            await coroutine
        finally:
            if task is not None:
                self._active.discard(task)

    async def close(self, grace: float) -> None:
        """At shutdown: drop the updates still waiting; give those being handled ``grace`` seconds, then
        cancel them (a reply held back by Telegram's limits is not sent)."""
        self._closing = True
        if not self._active:
            return
        _, late = await asyncio.wait(set(self._active), timeout=grace)
        if late:
            _logger.warning("stopping: %d update(s) still being handled after %.0f s are cancelled", len(late), grace)
            for task in late:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(late, timeout=1.0)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
