"""Flood limits for several workers: Telegram's on what the bot sends, ours on what each user asks.

``SharedRateLimiter`` and ``SharedGuard`` keep moving windows in Redis with the ``limits`` library, so the
limits hold for the bot as a whole, whichever worker sends or is asked (one process uses PTB's
``AIORateLimiter`` and ``bot.backend.local.LocalGuard``). While Redis is down both fall back to the same
windows in this process's memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.backend.interfaces import Verdict
from bot.backend.local import LocalGuard
from bot.backend.shared.connection import REDIS_ERRORS, TIMEOUT, SharedRedis
from bot.sending import retry_seconds

__all__ = ["GROUP_WINDOW", "SharedGuard", "SharedRateLimiter"]

_logger = logging.getLogger(__name__)

GROUP_MESSAGES = 20
GROUP_WINDOW = 61
"""Seconds of the per-group window: Telegram's minute and one second for the way to Telegram (a slot is
taken just before the request leaves; Telegram counts when it arrives)."""
_JSON = bool | dict[str, Any] | list[dict[str, Any]]


def _windows(shared: SharedRedis) -> MovingWindowRateLimiter:
    """Moving windows in Redis through ``limits``, on the worker's own Redis connection pool."""
    scheme, rest = shared.url.split("://", 1)
    storage = RedisStorage(
        f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}",
        implementation="redispy",
        connection_pool=shared.client.connection_pool,  # type: ignore[arg-type]  # passed on to redis-py
        key_prefix=shared.key("limits"),
    )
    return MovingWindowRateLimiter(storage)


class _Windows:
    """Moving windows in Redis, or in this process's memory while Redis is down."""

    def __init__(self, shared: SharedRedis) -> None:
        self.shared = shared
        self._shared = _windows(shared)
        self._local = MovingWindowRateLimiter(MemoryStorage())

    async def _pick[T](self, use: Callable[[MovingWindowRateLimiter], Coroutine[Any, Any, T]]) -> T:
        if self.shared.available:
            try:
                async with asyncio.timeout(TIMEOUT):
                    result = await use(self._shared)
            except REDIS_ERRORS as error:
                self.shared.failed("flood limits", error)
            else:
                self.shared.succeeded()
                return result
        return await use(self._local)

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        """Take a slot if one is free."""
        return await self._pick(lambda windows: windows.hit(item, *ids))

    async def free_in(self, item: RateLimitItem, *ids: str) -> float:
        """Seconds until a slot is free (0 when one is)."""

        async def wait(windows: MovingWindowRateLimiter) -> float:
            stats = await windows.get_window_stats(item, *ids)
            return 0.0 if stats.remaining > 0 else max(0.0, stats.reset_time - time.time())

        return await self._pick(wait)

    async def take(self, item: RateLimitItem, *ids: str) -> None:
        """Wait for a slot and take it."""
        while not await self.hit(item, *ids):  # noqa: ASYNC110 (the window is in Redis: no event to wait on)
            await asyncio.sleep(min(max(await self.free_in(item, *ids), 0.01), item.get_expiry()))


class SharedGuard:
    """``LocalGuard`` across workers: a moving window per user in Redis, the warning once a minute."""

    def __init__(self, shared: SharedRedis, name: str, per_minute: int) -> None:
        self.shared = shared
        self.name = name
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._windows = _Windows(shared)
        self._local = LocalGuard(per_minute)

    async def verdict(self, user_id: int) -> Verdict:
        if not self.shared.available:
            return self._local.check(user_id)
        if await self._windows.hit(self._item, self.name, str(user_id)):
            return Verdict.OK
        warned = self.shared.key("flood", self.name, "warned", user_id)

        async def first_warning() -> bool:
            return bool(await self.shared.client.set(warned, 1, nx=True, ex=60))

        return Verdict.WARN if await self.shared.attempt("flood limits", first_warning, True) else Verdict.QUIET


class SharedRateLimiter(BaseRateLimiter[int]):
    """Telegram's flood limits for every worker together, like PTB's ``AIORateLimiter`` for one process.

    At most ``per_second`` requests that name a chat a second, and 20 a minute per group (a negative
    chat id or an @username), counted in moving windows in Redis. A request waits until its windows
    allow it, never fails for them. A ``RetryAfter`` from Telegram pauses every worker for the time it
    asks, and the request is retried up to ``max_retries`` times.
    """

    def __init__(self, shared: SharedRedis, *, per_second: int = 30, max_retries: int = 0) -> None:
        self.shared = shared
        self.max_retries = max_retries
        self._overall = RateLimitItemPerSecond(per_second)
        self._group = RateLimitItemPerSecond(GROUP_MESSAGES, GROUP_WINDOW)
        self._windows = _Windows(shared)
        self._pause_key = shared.key("pause")
        self._paused_until = 0.0  # time.monotonic(): a pause ordered here (also while Redis is down)
        self._queue = asyncio.Lock()  # while the window is full, this worker's requests wait in turn

    async def initialize(self) -> None:
        """Nothing to set up: the windows live in Redis."""

    async def shutdown(self) -> None:
        """Nothing to release: the Redis connection belongs to the worker."""

    async def _wait_for_pause(self) -> None:
        """Sleep out a ``RetryAfter`` pause ordered by this or any other worker."""
        local = self._paused_until - time.monotonic()
        if local > 0:
            await asyncio.sleep(local)
        shared = await self.shared.attempt("flood pause", lambda: self.shared.client.pttl(self._pause_key), -2)
        if shared > 0:
            await asyncio.sleep(shared / 1000)

    async def _pause(self, seconds: float) -> None:
        self._paused_until = time.monotonic() + seconds
        milliseconds = int(seconds * 1000)
        await self.shared.attempt(
            "flood pause", lambda: self.shared.client.set(self._pause_key, 1, px=milliseconds), None
        )

    async def _slot(self, chat: bool, group: str | None) -> None:
        """Wait until the windows allow a request, and take its slots.

        The group's slot is taken last, right before the request leaves, so its timestamp is the send
        time; when another worker took the free slot meanwhile, wait again (the overall slot is lost).
        """
        while True:
            if group is not None:
                while (wait := await self._windows.free_in(self._group, "group", group)) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(max(wait, 0.01))
            # A free slot is taken at once; when there is none, requests queue (first come, first served:
            # waiters racing for each freed slot left some waiting for long) for the next ones.
            if chat and (self._queue.locked() or not await self._windows.hit(self._overall, "all")):
                async with self._queue:
                    await self._windows.take(self._overall, "all")
            if group is None or await self._windows.hit(self._group, "group", group):
                return

    async def process_request(  # noqa: PLR0917 (BaseRateLimiter's signature)
        self,
        callback: Callable[..., Coroutine[Any, Any, _JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> _JSON:
        """Pace the request with the shared windows; on ``RetryAfter`` pause every worker and retry."""
        max_retries = rate_limit_args or self.max_retries
        chat_id = data.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)  # PTB accepts an integer chat id as a string too
        # As AIORateLimiter: a negative id or an @username is a group or a channel.
        group = str(chat_id) if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str) else None
        for attempt in range(max_retries + 1):
            await self._wait_for_pause()
            await self._slot(chat_id is not None, group)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == max_retries:
                    _logger.warning("%s: rate limit hit after %d retries", endpoint, max_retries)
                    raise
                seconds = retry_seconds(error) + 0.1
                _logger.info("%s: rate limit hit; every worker waits %.1f s", endpoint, seconds)
                await self._pause(seconds)
        raise AssertionError("unreachable")  # the last attempt returns or raises
