"""Several workers behind one load balancer, sharing one Redis (``PASOKH_REDIS_URL``).

What lives in Redis, every key under ``pasokh:``:

=========================  ======  ============================================================
key                        type    what
=========================  ======  ============================================================
``counters``               hash    questions answered and unanswered (``HINCRBY``)
``unanswered``             list    unanswered questions, newest first, ``UNANSWERED_KEPT`` at most
``asked``                  hash    question id -> chat and question, for result buttons; the
                                   newest ``ASKED_KEPT`` (ids from ``asked:id``)
``index:version``          int     bumped by every successful ``/reload``
``index:announced``        float   when it was last bumped (Unix time)
``reload``                 pubsub  ``{"version", "at", "by"}`` after each bump
``workers``                hash    worker -> the version it serves, its last heartbeat, errors
``limits:*``, ``pause``    —       flood limits (``bot.flood``)
=========================  ======  ============================================================

A ``/reload`` at any worker rebuilds there, bumps the version and publishes it; every worker listens
and rebuilds from the seeds folder (a shared volume) when it sees a version newer than its own. A worker
checks the version key every ``CHECK_EVERY`` seconds as well, which covers a message missed while Redis
restarted; a worker started later takes the current version as its own (it read the same seeds).

A Redis outage never stops answers: calls fail fast, are logged once, and each part falls back (counters
and the unanswered log are not recorded, result buttons expire, flood limits hold per process) until
Redis answers again, tried every ``RETRY_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.library import Library, ReloadReport
from bot.state import ASKED_KEPT, UNANSWERED_KEPT, Asked, Unanswered

__all__ = ["CHECK_EVERY", "REDIS_ERRORS", "Fleet", "RedisStore", "ReloadSync", "SharedRedis"]

_logger = logging.getLogger(__name__)

PREFIX = "pasokh:"
TIMEOUT = 2.0
"""Seconds for a Redis connection or command: an outage costs a question this much at most, once."""
RETRY_AFTER = 5.0
"""Seconds after a failure during which Redis is not tried (every part uses its fallback)."""
CHECK_EVERY = 20.0
"""Seconds between checks of the version key (and heartbeats): a missed reload message waits this long."""
LIVE = 3 * CHECK_EVERY
"""A worker whose heartbeat is older than this is taken for gone."""
REDIS_ERRORS = (RedisError, OSError)
_RAISE_VERSION = """
local stored = tonumber(redis.call('get', KEYS[1]) or '0')
if tonumber(ARGV[1]) > stored then redis.call('set', KEYS[1], ARGV[1]) end
"""


class SharedRedis:
    """One Redis client for the worker, and whether Redis answers (failures switch it off briefly)."""

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        # One immediate retry covers a connection that died with a restarted Redis; no backoff: during an
        # outage every call should fail at once and let its caller fall back.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
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
            result = await call()
        except REDIS_ERRORS as error:
            self.failed(what, error)
            return fallback
        self.succeeded()
        return result

    async def close(self) -> None:
        await self.client.aclose()


class RedisStore:
    """``bot.state.Store`` in Redis, shared by every worker.

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

    async def count(self, name: str, by: int = 1) -> None:
        await self.shared.attempt("count", lambda: self.shared.client.hincrby(self._counters, name, by), 0)

    async def counters(self) -> dict[str, int]:
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

    async def close(self) -> None:
        await self.shared.close()


@dataclass(frozen=True, slots=True)
class Fleet:
    """Where the live workers are after a reload was announced: how many serve it, who failed and why."""

    version: int
    live: int
    current: int
    failures: tuple[str, ...] = ()
    announced: bool = True

    @property
    def complete(self) -> bool:
        return self.announced and self.current >= self.live


class ReloadSync:
    """Keeps this worker's index at the version announced in Redis; announces this worker's reloads."""

    def __init__(
        self,
        shared: SharedRedis,
        library: Library,
        *,
        check_every: float = CHECK_EVERY,
        on_reload: Callable[[ReloadReport], None] | None = None,
    ) -> None:
        """``on_reload`` is told of every reload that follows another worker's (for metrics)."""
        self.shared = shared
        self.library = library
        self.check_every = check_every
        self.on_reload = on_reload
        self.version = 0
        """The index version this worker serves."""
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._version_key = shared.key("index", "version")
        self._announced_key = shared.key("index", "announced")
        self._workers_key = shared.key("workers")
        self._channel = shared.key("reload")
        self._raise = shared.client.register_script(_RAISE_VERSION)
        self._unannounced = False  # a reload here whose announcement failed: retried at each check
        self._error: tuple[int, str] | None = None  # the version whose reload failed here, and why
        self._delay: float | None = None  # seconds from the last followed announcement to the swap
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the announced version as this worker's, then follow announcements in the background.

        Subscribes first, then reads the version: an announcement in between is heard, not missed.
        """
        pubsub = None
        try:
            pubsub = await self._subscribe()
            version, announced = await self._announced()
        except REDIS_ERRORS as error:
            self.shared.failed("index version", error)
        else:
            self.version = version
            if version and announced >= self.library.loaded_at:
                # Announced after this worker read its seeds: it may have read the files before the change.
                _logger.info("index version %d was announced while this worker started: reloading", version)
                await self._follow(version, announced or None, "start-up")
            else:
                _logger.info("serving index version %d (worker %s)", version, self.worker)
            await self._heartbeat()
        self._task = asyncio.create_task(self._watch(pubsub), name="pasokh-reload-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.shared.attempt("worker list", lambda: self.shared.client.hdel(self._workers_key, self.worker), 0)

    # -- announcing -----------------------------------------------------------------------------------

    async def announce(self) -> int | None:
        """After a successful reload here: bump the version and tell every worker. None if Redis failed."""
        try:
            version = await self._publish()
        except REDIS_ERRORS as error:
            self.shared.failed("reload announcement", error)
            self._unannounced = True
            return None
        self.shared.succeeded()
        return version

    async def _publish(self) -> int:
        at = time.time()
        await self._raise(keys=[self._version_key], args=[self.version])  # past every version served here
        version = int(await self.shared.client.incr(self._version_key))
        await self.shared.client.set(self._announced_key, repr(at))
        self.version, self._error, self._unannounced = version, None, False
        await self._heartbeat()
        payload = json.dumps({"version": version, "at": at, "by": self.worker})
        receivers = await self.shared.client.publish(self._channel, payload)
        _logger.info("announced index version %d to %d listening worker(s)", version, receivers)
        return version

    async def fleet(self, version: int | None, wait: float) -> Fleet:
        """Wait up to ``wait`` seconds for every live worker to serve ``version`` or fail it; report."""
        if version is None:
            return Fleet(0, 0, 0, announced=False)
        deadline = time.monotonic() + wait
        while True:
            fleet = await self.shared.attempt("worker list", lambda: self._fleet(version), None)
            if fleet is None:
                return Fleet(version, 0, 0, announced=False)
            if fleet.complete or len(fleet.failures) + fleet.current >= fleet.live or time.monotonic() >= deadline:
                return fleet
            await asyncio.sleep(0.1)

    async def _fleet(self, version: int) -> Fleet:
        live, current, failures = 0, 0, []
        for worker, beat in (await self._workers()).items():
            live += 1
            if int(beat.get("version", 0)) >= version:
                current += 1
            elif beat.get("failed") == version:
                failures.append(f"{worker}: {beat.get('error')}")
        return Fleet(version, live, current, tuple(failures))

    async def _workers(self) -> dict[str, dict[str, Any]]:
        """Live workers' heartbeats; the entries of workers gone quiet are removed."""
        entries = cast(dict[str, str], await self.shared.client.hgetall(self._workers_key))
        beats = {worker: json.loads(raw) for worker, raw in entries.items()}
        gone = [worker for worker, beat in beats.items() if beat.get("seen", 0) < time.time() - LIVE]
        if gone:
            await self.shared.client.hdel(self._workers_key, *gone)
        return {worker: beat for worker, beat in beats.items() if worker not in gone}

    async def delays(self) -> dict[str, float]:
        """Each live worker's seconds from the last announcement it followed to its swap (measurements)."""
        return {w: float(b["delay"]) for w, b in (await self._workers()).items() if b.get("delay") is not None}

    # -- following ------------------------------------------------------------------------------------

    async def _announced(self) -> tuple[int, float]:
        """The announced version and when (0 and 0 for none); never below the version served here.

        A Redis restarted without its data has lost the version: the workers put back the highest they
        serve, so that the next announcement is newer than all of them.
        """
        await self._raise(keys=[self._version_key], args=[self.version])
        version, announced = await self.shared.client.mget(self._version_key, self._announced_key)
        return int(version or 0), float(announced or 0)

    async def _heartbeat(self) -> None:
        beat: dict[str, Any] = {"version": self.version, "seen": time.time(), "delay": self._delay}
        if self._error is not None:
            beat |= {"failed": self._error[0], "error": self._error[1]}
        await self.shared.client.hset(self._workers_key, self.worker, json.dumps(beat, ensure_ascii=False))

    async def _subscribe(self) -> aioredis.client.PubSub:
        pubsub = self.shared.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        return pubsub

    async def _watch(self, pubsub: aioredis.client.PubSub | None) -> None:
        """Listen for announcements; check the version key every ``check_every`` s; survive outages."""
        checked = time.monotonic() if pubsub is not None else 0.0  # start() has just checked
        while True:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    checked = 0.0  # subscribed again: catch up on what was missed meanwhile
                if time.monotonic() - checked >= self.check_every:
                    await self._check()
                    checked = time.monotonic()
                message = await pubsub.get_message(timeout=self.check_every)
                if message is not None and message.get("type") == "message":
                    announced = json.loads(message["data"])
                    if int(announced["version"]) > self.version:
                        await self._follow(int(announced["version"]), float(announced["at"]), str(announced["by"]))
                self.shared.succeeded()
            except asyncio.CancelledError:
                if pubsub is not None:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except REDIS_ERRORS as error:
                self.shared.failed("reload announcements", error)
                if pubsub is not None:
                    with contextlib.suppress(*REDIS_ERRORS):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                pubsub = None
                await asyncio.sleep(min(RETRY_AFTER, self.check_every))
            except Exception:  # a malformed message, say: never let the listener die
                _logger.exception("error while following reload announcements")
                await asyncio.sleep(1.0)

    async def _check(self) -> None:
        """Announce a reload whose announcement failed; follow a version missed; send a heartbeat."""
        if self._unannounced:
            await self._publish()
        version, announced = await self._announced()
        if version > self.version:
            _logger.info("index version %d found by the periodic check (serving %d)", version, self.version)
            await self._follow(version, announced or None, "the periodic check")
        await self._heartbeat()

    async def _follow(self, version: int, published: float | None, by: str) -> None:
        """Reload from the seeds folder for an announced version; a failure keeps the index and is retried."""
        # An admin's /reload runs here: wait for it, then build again (the announcement may be newer).
        while (report := await self.library.reload()).already_running:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if self.on_reload is not None:
            self.on_reload(report)
        if report.ok:
            self._delay = time.time() - published if published is not None else None
            self.version, self._error = max(self.version, version), None
            _logger.info(
                "index version %d from %s: swapped in %s after the announcement (%d articles, %d sentences)",
                version,
                by,
                f"{self._delay:.3f} s" if self._delay is not None else "(time unknown)",
                report.articles_after,
                report.sentences_after,
            )
        else:
            self._error = (version, report.error or "unknown error")
            _logger.error(
                "index version %d announced by %s could not be loaded here; the previous index stays, "
                "retrying every %.0f s: %s",
                version,
                by,
                self.check_every,
                report.error,
            )
        await self._heartbeat()
