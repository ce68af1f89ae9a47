"""One Redis client per worker, and whether Redis answers: every shared part goes through it.

A Redis outage never stops answers: calls fail fast, are logged once, and each part falls back until
Redis answers again, tried every ``RETRY_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["REDIS_ERRORS", "RETRY_AFTER", "TIMEOUT", "SharedRedis"]

_logger = logging.getLogger(__name__)

PREFIX = "pasokh:"
TIMEOUT = 2.0
"""Seconds for a Redis connection or command: an outage costs a question this much at most, once."""
CONNECTIONS = 8
"""Connections a worker keeps to Redis at most; a command waits for a free one (within ``TIMEOUT``)."""
RETRY_AFTER = 5.0
"""Seconds after a failure during which Redis is not tried (every part uses its fallback)."""
REDIS_ERRORS = (RedisError, OSError, TimeoutError, ValueError, TypeError, KeyError)
"""What a call to Redis raises when Redis is down, slow, or answers what a Redis would not (a wrong type,
garbage): each is taken for an unavailable Redis."""


class SharedRedis:
    """One Redis client for the worker, and whether Redis answers (failures switch it off briefly)."""

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        # One immediate retry covers a connection that died with a restarted Redis; no backoff: during an
        # outage every call should fail at once and let its caller fall back.
        # A bounded pool: a burst of requests waits its turn for a connection instead of opening one each
        # (a hundred connections opened at once can outlast TIMEOUT and switch Redis off for nothing).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=TIMEOUT,
            decode_responses=True,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        self.client: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._down_until = 0.0
        self._down_since: float | None = None

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    @property
    def available(self) -> bool:
        """False for ``RETRY_AFTER`` seconds after a failed call."""
        return time.monotonic() >= self._down_until

    def failed(self, what: str, error: BaseException) -> None:
        """Note a failed call; the first failure of an outage is logged."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            _logger.warning(
                "Redis unavailable (%s: %s): answering on, with per-process fallbacks; retrying every %.0f s",
                what,
                error,
                RETRY_AFTER,
            )
        self._down_until = now + RETRY_AFTER

    def succeeded(self) -> None:
        """Note a call that worked: Redis is used again at once."""
        self._down_until = 0.0
        if self._down_since is not None:
            _logger.info("Redis is back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None

    async def attempt[T](self, what: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """``await call()``, or ``fallback`` when Redis is down or the call fails."""
        if not self.available:
            return fallback
        try:
            async with asyncio.timeout(TIMEOUT):
                result = await call()
        except REDIS_ERRORS as error:
            self.failed(what, error)
            return fallback
        self.succeeded()
        return result

    async def close(self) -> None:
        await self.client.aclose()
