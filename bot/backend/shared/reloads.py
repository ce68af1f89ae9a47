"""Reloads across workers: a ``/reload`` at any worker reaches all of them through Redis.

A ``/reload`` at any worker rebuilds there, bumps the version and publishes it; every worker listens
and rebuilds from the seeds folder (a shared volume) when it sees a version newer than its own. A worker
checks the version key every ``CHECK_EVERY`` seconds as well, which covers a message missed while Redis
restarted; a worker started later takes the current version as its own (it read the same seeds).

One article published or removed at a worker (``Library.publish``/``remove``) is announced on a second
channel with its id only: the file is in the shared seeds folder already, and each worker that hears it
reads that one file and changes its delta (``Library.follow``), in well under a second. Through the
folder, not Redis, because the folder is the one source of truth every worker already reads (a message
carrying the text could disagree with it). A message missed while Redis was away is caught up when the
worker subscribes again: it reconciles its collection with the whole folder (``Library.catch_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, cast

import redis.asyncio as aioredis

from bot.backend.interfaces import Fleet, WorkerFailure
from bot.backend.shared.connection import REDIS_ERRORS, RETRY_AFTER, TIMEOUT, SharedRedis
from bot.library import Library, ReloadReport
from retrieval.errors import FolderProblem

__all__ = ["CHECK_EVERY", "FLEET_WAIT", "ReloadSync"]

_logger = logging.getLogger(__name__)

CHECK_EVERY = 20.0
"""Seconds between checks of the version key (and heartbeats): a missed reload message waits this long."""
LIVE = 3 * CHECK_EVERY
"""A worker whose heartbeat is older than this is taken for gone."""
FLEET_WAIT = 15.0
"""Seconds at least that an admin's /reload waits for the other workers to follow, before replying."""


def _problem(value: object) -> FolderProblem | None:
    """A worker's reported problem code (None when missing or from another version of the bot)."""
    try:
        return FolderProblem(value)
    except ValueError:
        return None


_RAISE_VERSION = """
local stored = tonumber(redis.call('get', KEYS[1]) or '0')
if tonumber(ARGV[1]) > stored then redis.call('set', KEYS[1], ARGV[1]) end
"""


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
        self._article_channel = shared.key("article")
        library.on_change = self.announce_article
        self._raise = shared.client.register_script(_RAISE_VERSION)
        self._unannounced = False  # a reload here whose announcement failed: retried at each check
        self._error: tuple[int, ReloadReport] | None = None  # the version whose reload failed here, and why
        self._delay: float | None = None  # seconds from the last followed announcement to the swap
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the announced version as this worker's, then follow announcements in the background.

        Subscribes first, then reads the version: an announcement in between is heard, not missed.
        """
        pubsub = None
        try:
            async with asyncio.timeout(2 * TIMEOUT):
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

    async def announce_article(self, article_id: str) -> None:
        """After an article was published or removed here: tell the other workers (a failure is logged)."""
        payload = json.dumps({"id": article_id, "at": time.time(), "by": self.worker}, ensure_ascii=False)
        try:
            receivers = await self.shared.client.publish(self._article_channel, payload)
        except REDIS_ERRORS as error:
            self.shared.failed("article announcement", error)
            return
        self.shared.succeeded()
        _logger.info("announced article %s to %d listening worker(s)", article_id, receivers)

    async def _follow_article(self, announced: dict[str, Any]) -> None:
        """Serve the article another worker announced as the shared folder now holds it."""
        if announced.get("by") == self.worker:
            return
        article_id, at = str(announced["id"]), float(announced["at"])
        changed = await self.library.follow(article_id)
        _logger.info(
            "article %s from %s: %s %.3f s after the announcement",
            article_id,
            announced.get("by"),
            "swapped in" if changed else "already served",
            time.time() - at,
        )

    async def spread(self, report: ReloadReport) -> Fleet:
        """After a successful reload here: announce it, and wait a while for the other workers to follow."""
        version = await self.announce()
        return await self.fleet(version, wait=max(FLEET_WAIT, 3 * report.seconds))

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
                failures.append(WorkerFailure(worker, _problem(beat.get("problem")), str(beat.get("error"))))
        return Fleet(version, live, current, tuple(failures), retry_every=self.check_every)

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
            version, report = self._error
            problem = report.problem.value if report.problem else None
            beat |= {"failed": version, "error": report.error or "unknown error", "problem": problem}
        await self.shared.client.hset(self._workers_key, self.worker, json.dumps(beat, ensure_ascii=False))

    async def _subscribe(self) -> aioredis.client.PubSub:
        pubsub = self.shared.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel, self._article_channel)
        return pubsub

    async def _watch(self, pubsub: aioredis.client.PubSub | None) -> None:
        """Listen for announcements; check the version key every ``check_every`` s; survive outages."""
        checked = time.monotonic() if pubsub is not None else 0.0  # start() has just checked
        while True:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    checked = 0.0  # subscribed again: catch up on what was missed meanwhile
                    await self.library.catch_up()
                if time.monotonic() - checked >= self.check_every:
                    async with asyncio.timeout(2 * TIMEOUT):
                        await self._check()
                    checked = time.monotonic()
                message = await pubsub.get_message(timeout=self.check_every)
                if message is not None and message.get("type") == "message" and self._is_article(message):
                    await self._follow_article(json.loads(message["data"]))
                elif message is not None and message.get("type") == "message":
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

    def _is_article(self, message: dict[str, Any]) -> bool:
        channel = message.get("channel")
        return (channel.decode() if isinstance(channel, bytes) else channel) == self._article_channel

    async def _check(self) -> None:
        """Announce a reload whose announcement failed; follow a version missed; send a heartbeat."""
        async with asyncio.timeout(2 * TIMEOUT):  # Redis only: the reload below takes as long as it takes
            if self._unannounced:
                await self._publish()
            version, announced = await self._announced()
        if version > self.version:
            _logger.info("index version %d found by the periodic check (serving %d)", version, self.version)
            await self._follow(version, announced or None, "the periodic check")
        async with asyncio.timeout(TIMEOUT):
            await self._heartbeat()

    async def _follow(self, version: int, published: float | None, by: str) -> None:
        """Reload from the seeds folder for an announced version; a failure keeps the index and is retried."""
        # An admin's /reload runs here: wait for it, then build again (the announcement may be newer). A
        # smaller collection was confirmed by the admin where the reload was made: no second confirmation.
        while (report := await self.library.reload(allow_shrink=True)).already_running:  # noqa: ASYNC110
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
            self._error = (version, report)
            _logger.error(
                "index version %d announced by %s could not be loaded here; the previous index stays, "
                "retrying every %.0f s: %s",
                version,
                by,
                self.check_every,
                report.error,
            )
        await self._heartbeat()
