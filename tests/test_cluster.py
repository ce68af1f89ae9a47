"""The Redis parts of several workers, in one process against a real redis-server: the shared store,
flood limits held across workers, reload announcements, and answering on through a Redis outage."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram.error import RetryAfter

import bot.backend.shared.connection
import bot.backend.shared.records
import bot.backend.shared.reloads
from bot.backend.interfaces import Fleet, Verdict, WorkerFailure
from bot.backend.shared.connection import CONNECTIONS, TIMEOUT, SharedRedis
from bot.backend.shared.limits import SharedGuard, SharedRateLimiter
from bot.backend.shared.records import RedisRecords
from bot.backend.shared.reloads import ReloadSync
from bot.conversation import texts
from bot.conversation.handlers import fleet_text
from bot.library import Library
from bot.settings import Settings, SettingsError
from bot.testing.harness import copy_seeds
from bot.testing.processes import PASOKH, ROOT
from bot.testing.standin import BotApiStandin
from bot.testing.workers import NEW_ARTICLE, RedisServer, worker_environment
from retrieval.errors import FolderProblem
from tests.conftest import write_seed


@pytest_asyncio.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest_asyncio.fixture
async def connect(redis_server: RedisServer) -> AsyncIterator[Callable[[], SharedRedis]]:
    """Open connections to the test's Redis, as separate workers would; all closed at the end."""
    opened: list[SharedRedis] = []

    def open_one() -> SharedRedis:
        opened.append(SharedRedis(redis_server.url))
        return opened[-1]

    yield open_one
    for shared in opened:
        await shared.close()


# -- settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://:hunter2secret@cache:6379", "must start with"),
        ("redis://:hunter2secret@cache:port", "not a valid URL"),
        ("redis://:hunter2secret@", "names no Redis server"),
    ],
)
def test_a_bad_redis_url_is_one_line_that_never_shows_its_password(url: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_REDIS_URL": url})
    message = str(raised.value)
    assert fragment in message and "\n" not in message
    assert "hunter2secret" not in message


def test_webhook_workers_sharing_redis_need_one_webhook_secret() -> None:
    shared = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_REDIS_URL": "redis://:pw12345678@cache:6379/0"})
    assert shared.redis_password == "pw12345678"
    assert "pw12345678" not in repr(shared)
    with pytest.raises(SettingsError, match="PASOKH_WEBHOOK_SECRET must be set"):
        shared.require_shared_secret()
    Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).require_shared_secret()  # one process: a random one is fine


# -- the shared store ------------------------------------------------------------------------------------


async def test_the_store_is_shared_and_bounded(connect: Callable[[], SharedRedis], monkeypatch) -> None:
    monkeypatch.setattr(bot.backend.shared.records, "UNANSWERED_KEPT", 5)
    monkeypatch.setattr(bot.backend.shared.records, "ASKED_KEPT", 3)
    one, two = RedisRecords(connect()), RedisRecords(connect())  # two workers
    await one.count("answered")
    await two.count("answered", 2)
    await two.count("unanswered")
    assert await one.counters() == {"answered": 3, "unanswered": 1}
    for n in range(8):
        await (one, two)[n % 2].log_unanswered(f"پرسش {n}", "private")
    assert [u.question for u in await two.unanswered(20)] == [f"پرسش {n}" for n in range(7, 2, -1)]
    ids = [await (one, two)[n % 2].remember_question(-100 - n, f"q{n}") for n in range(5)]
    assert ids == sorted(set(ids))
    found = await two.asked(ids[-1])
    assert found is not None and (found.chat_id, found.question) == (-104, "q4")
    assert [await one.asked(i) is not None for i in ids] == [False, False, True, True, True]  # the newest 3
    assert await one.asked(0) is None
    await one.remember_replies(-100, 7, [8, 9])  # an edit of the question reaching the other worker...
    assert await two.replies(-100, 7) == (8, 9)  # ...edits the reply the first one sent
    assert await two.replies(-100, 8) is None
    ttl = await one.shared.client.ttl(one.shared.key("replies", -100, 7))
    assert 0 < ttl <= bot.backend.shared.records.REPLIES_SECONDS  # let go after two days


async def test_a_redis_outage_loses_records_but_never_a_question(
    redis_server: RedisServer, connect: Callable[[], SharedRedis], monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="bot.backend.shared.connection")
    monkeypatch.setattr(bot.backend.shared.connection, "RETRY_AFTER", 0.2)
    shared = connect()
    store, guard = RedisRecords(shared), SharedGuard(shared, "questions", 2)
    await store.count("answered")
    await redis_server.stop()
    started = time.monotonic()
    await store.count("answered")  # lost, not raised
    await store.log_unanswered("؟", "private")
    assert await store.remember_question(1, "q") == 0  # its buttons will say they expired
    assert await store.asked(1) is None
    await store.remember_replies(1, 2, [3])
    assert await store.replies(1, 2) is None  # an edited question is answered once more
    assert [await guard.verdict(7) for _ in range(4)] == [
        Verdict.OK,
        Verdict.OK,
        Verdict.WARN,
        Verdict.QUIET,
    ]  # per process meanwhile
    assert time.monotonic() - started < 3 * TIMEOUT
    assert sum("Redis unavailable" in r.message for r in caplog.records) == 1  # logged once per outage
    await redis_server.start()  # an empty Redis on the same port
    await _until(lambda: shared.available)  # RETRY_AFTER after the last failure, Redis is tried again
    await store.count("answered")
    assert await store.counters() == {"answered": 1}
    assert any("Redis is back" in r.message for r in caplog.records)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (a plain attribute: nothing to wait on)
            await asyncio.sleep(0.02)


def _tries(sync: ReloadSync) -> list[int]:
    """From now on, count the listener's tries at Redis (subscribing again, the periodic check) as they end,
    failed or not."""
    tries = [0]

    def counted(real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counting(*args: Any, **kwargs: Any) -> Any:
            try:
                return await real(*args, **kwargs)
            finally:
                tries[0] += 1

        return counting

    for name in ("_subscribe", "_check"):
        setattr(sync, name, counted(getattr(sync, name)))
    return tries


# -- flood limits across workers -----------------------------------------------------------------------------


async def test_the_question_limit_holds_across_workers_and_warns_once(connect: Callable[[], SharedRedis]) -> None:
    guards = [SharedGuard(connect(), "questions", 3) for _ in range(3)]
    verdicts = [await guards[n % 3].verdict(42) for n in range(6)]
    assert verdicts == [Verdict.OK] * 3 + [Verdict.WARN, Verdict.QUIET, Verdict.QUIET]
    assert await guards[1].verdict(43) is Verdict.OK  # another user is not held up
    lookups = SharedGuard(guards[0].shared, "lookups", 3)
    assert await lookups.verdict(42) is Verdict.OK  # a separate allowance


async def test_a_burst_of_commands_shares_a_few_connections(
    connect: Callable[[], SharedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    shared = connect()
    counted = await asyncio.gather(*(shared.attempt("test", lambda: shared.client.incr("n"), None) for _ in range(300)))
    assert sorted(counted) == list(range(1, 301))  # every command ran on Redis, none fell back
    clients = await shared.client.client_list()
    assert len(clients) <= CONNECTIONS
    assert not [r for r in caplog.records if "Redis unavailable" in r.message]


def _sender(times: list[float]) -> Callable[..., Coroutine[Any, Any, bool]]:
    async def send(*args: Any, **kwargs: Any) -> bool:
        times.append(time.monotonic())
        return True

    return send


def _most_within(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < seconds) for i, start in enumerate(times))


@pytest.mark.slow
async def test_telegrams_limits_hold_for_all_workers_together(
    connect: Callable[[], SharedRedis], caplog: pytest.LogCaptureFixture
) -> None:
    limiters = [SharedRateLimiter(connect(), per_second=30) for _ in range(3)]
    private: list[float] = []
    group: list[float] = []

    async def request(n: int, chat_id: int | str, times: list[float]) -> None:
        data = {"chat_id": chat_id, "text": "x"}
        await limiters[n % 3].process_request(_sender(times), (), {}, "sendMessage", data, None)

    started = time.monotonic()
    sending = [asyncio.create_task(request(n, 1000 + n, private)) for n in range(75)]
    sending += [asyncio.create_task(request(n, "@some_channel" if n % 2 else -100123, group)) for n in range(50)]
    await asyncio.wait_for(asyncio.gather(*sending[:75]), 30)
    # A failed Redis call puts that worker on windows of its own for a while (30 a second by itself): then
    # the shared windows are not what was measured.
    assert not [r.message for r in caplog.records if "Redis unavailable" in r.message]
    # 75 private messages from three workers: 30 a second at most, so they take two seconds or more. A
    # request leaves after it takes its slot, later when the loop is busy (10 ms here when idle, more on a
    # loaded machine): measured at the callback, the 1-second windows are taken 0.2 s shorter.
    assert _most_within(private, 0.8) <= 30
    assert private[-1] - started >= 1.95
    for _ in range(100):  # 20 for the group and 20 for the channel...
        if len(group) >= 40:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    assert len(group) == 40  # ...and no more: the minute's windows are full
    for task in sending[75:]:
        task.cancel()
    await asyncio.gather(*sending[75:], return_exceptions=True)


async def test_retry_after_pauses_every_worker_and_retries(connect: Callable[[], SharedRedis]) -> None:
    one, two = SharedRateLimiter(connect(), max_retries=3), SharedRateLimiter(connect(), max_retries=3)
    attempts: list[float] = []

    async def flooded(*args: Any, **kwargs: Any) -> bool:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RetryAfter(1)
        return True

    other: list[float] = []
    first = asyncio.create_task(one.process_request(flooded, (), {}, "sendMessage", {"chat_id": 1}, None))
    pause = one.shared.key("pause")
    for _ in range(200):  # until the first attempt got its RetryAfter and ordered every worker to pause
        if await one.shared.client.exists(pause):
            break
        await asyncio.sleep(0.01)
    assert await two.process_request(_sender(other), (), {}, "sendMessage", {"chat_id": 2}, None)
    assert await first is True
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 1.0
    assert other[0] - attempts[0] >= 0.9  # the other worker waited out the pause too

    async def always_flooded(*args: Any, **kwargs: Any) -> bool:
        raise RetryAfter(0)

    with pytest.raises(RetryAfter):
        await one.process_request(always_flooded, (), {}, "sendMessage", {"chat_id": 1}, 1)


# -- reloads reach every worker --------------------------------------------------------------------------------


def _library(seeds: Path) -> Library:
    library = Library(seeds)
    library.open()
    return library


def _knows_the_observatory(library: Library) -> bool:
    return any("رصدخانه" in article.title for article in library.index.articles)


@asynccontextmanager
async def _two_workers(
    connect: Callable[[], SharedRedis], leader_seeds: Path, follower_seeds: Path, check_every: float = 30
) -> AsyncIterator[tuple[ReloadSync, ReloadSync]]:
    """A leader and a follower worker, started (named apart: they share this process)."""
    leader = ReloadSync(connect(), _library(leader_seeds), check_every=check_every)
    follower = ReloadSync(connect(), _library(follower_seeds), check_every=check_every)
    follower.worker, leader.worker = "follower", "leader"
    await leader.start()
    await follower.start()
    try:
        yield leader, follower
    finally:
        await follower.stop()
        await leader.stop()


async def test_an_announced_reload_reaches_running_and_later_workers(
    tmp_path: Path, connect: Callable[[], SharedRedis]
) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    async with _two_workers(connect, seeds, seeds) as (leader, follower):
        write_seed(seeds, "zz_observatory.txt", NEW_ARTICLE)
        assert (await leader.library.reload()).ok
        version = await leader.announce()
        fleet = await leader.fleet(version, wait=30)
        assert fleet.complete and (fleet.live, fleet.current) == (2, 2), fleet
        assert _knows_the_observatory(follower.library)  # through pub/sub, well before the 30 s check
        assert follower.version == version == 1
        assert 0 <= (await leader.delays())["follower"] < 30

        late = ReloadSync(connect(), _library(seeds))  # started after the reload: takes the version as its own
        await late.start()
        assert late.version == 1
        await late.stop()


async def test_a_published_article_is_served_by_every_worker_within_two_seconds(
    tmp_path: Path, connect: Callable[[], SharedRedis]
) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    async with _two_workers(connect, seeds, seeds) as (leader, follower):
        main = follower.library.index.main
        started = time.monotonic()
        assert (await leader.library.publish("observatory", NEW_ARTICLE.encode())).ok
        while not _knows_the_observatory(follower.library) and time.monotonic() - started < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert _knows_the_observatory(follower.library)
        assert follower.library.index.main is main  # only the follower's delta was built
        assert follower.version == leader.version == 0  # no reload
        assert (await leader.library.remove("observatory")).outcome.value == "removed"
        started = time.monotonic()
        while _knows_the_observatory(follower.library) and time.monotonic() - started < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert not _knows_the_observatory(follower.library)


async def test_a_missed_article_announcement_is_caught_up_on_subscribing_again(
    tmp_path: Path, connect: Callable[[], SharedRedis]
) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    library = _library(seeds)
    write_seed(seeds, "zz_observatory.txt", NEW_ARTICLE)  # published while this worker did not listen
    await library.catch_up()
    assert _knows_the_observatory(library) and library.index.delta is not None


async def test_a_missed_announcement_is_caught_by_the_periodic_check(
    tmp_path: Path, connect: Callable[[], SharedRedis]
) -> None:
    seeds = copy_seeds(tmp_path / "seeds")
    library = _library(seeds)
    follower = ReloadSync(connect(), library, check_every=0.3)
    await follower.start()
    try:
        write_seed(seeds, "zz_observatory.txt", NEW_ARTICLE)
        shared = connect()  # a reload announced by bumping the key only, as if the message were lost
        await shared.client.incr(shared.key("index", "version"))
        for _ in range(100):
            if _knows_the_observatory(library):
                break
            await asyncio.sleep(0.1)
        assert _knows_the_observatory(library)
        assert follower.version == 1
    finally:
        await follower.stop()


async def test_a_follower_that_cannot_reload_keeps_its_index_and_the_admin_hears_it(
    tmp_path: Path, connect: Callable[[], SharedRedis]
) -> None:
    seeds, other = copy_seeds(tmp_path / "seeds"), copy_seeds(tmp_path / "other")
    async with _two_workers(connect, seeds, other) as (leader, follower):
        index = follower.library.index
        for path in other.iterdir():  # its seeds folder is gone (an unmounted volume, say)
            path.unlink()
        other.rmdir()
        assert (await leader.library.reload()).ok
        fleet = await leader.fleet(await leader.announce(), wait=30)
        assert (fleet.live, fleet.current) == (2, 1) and not fleet.complete
        [failure] = fleet.failures
        assert (failure.worker, failure.problem) == ("follower", FolderProblem.MISSING)
        assert "seeds folder not found" in failure.error
        assert follower.library.index is index  # still answering from the old one
        assert follower.version == 0


async def test_reloads_still_reach_every_worker_after_redis_lost_its_data(
    tmp_path: Path, redis_server: RedisServer, connect: Callable[[], SharedRedis], monkeypatch
) -> None:
    monkeypatch.setattr(bot.backend.shared.connection, "RETRY_AFTER", 0.2)
    monkeypatch.setattr(bot.backend.shared.reloads, "RETRY_AFTER", 0.2)
    seeds = copy_seeds(tmp_path / "seeds")
    async with _two_workers(connect, seeds, seeds, check_every=0.5) as (leader, follower):
        write_seed(seeds, "zz_observatory.txt", NEW_ARTICLE)
        assert (await leader.library.reload()).ok
        assert (await leader.fleet(await leader.announce(), wait=30)).complete
        assert follower.version == 1
        await redis_server.stop()
        await redis_server.start()  # empty: the version key is gone
        probe = connect()
        for _ in range(200):  # the workers reconnect and put their version back
            if await probe.attempt("probe", lambda: probe.client.get(probe.key("index", "version")), None) == "1":
                break
            await asyncio.sleep(0.05)
        (seeds / "zz_observatory.txt").unlink()
        assert (await leader.library.reload()).ok
        version = await leader.announce()
        assert version == 2  # newer than what the follower serves, though Redis had forgotten it
        assert (await leader.fleet(version, wait=30)).complete
        assert not _knows_the_observatory(follower.library)


@pytest.mark.slow
async def test_webhook_workers_with_redis_and_no_secret_refuse_to_start(tmp_path: Path) -> None:
    async with BotApiStandin() as api:
        env = worker_environment(api, "redis://:hunter2secret@127.0.0.1:1/0", tmp_path, tmp_path / "state")
        del env["PASOKH_WEBHOOK_SECRET"]
        process = await asyncio.create_subprocess_exec(
            str(PASOKH),
            *("run", "--webhook-url", "https://bot.example.org/hook"),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    [line] = err.decode().strip().splitlines()
    assert "PASOKH_WEBHOOK_SECRET must be set" in line
    assert "hunter2secret" not in line and out == b""
    assert not api.calls()  # it stopped before talking to the Bot API


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        (Fleet(3, 3, 3), [texts.RELOAD_SHARED.format("۳")]),
        (Fleet(3, 1, 1), []),  # one worker: nothing to add to its report
        (Fleet(0, 0, 0, announced=False), [texts.RELOAD_NOT_SHARED]),
        (Fleet(3, 3, 2), [texts.RELOAD_PARTLY_SHARED.format("۲", "۳")]),  # one still building
        (
            Fleet(
                3,
                3,
                2,
                (
                    WorkerFailure("host:12", FolderProblem.MISSING, "seeds folder not found: /x"),
                    WorkerFailure("host:13", None, "something new"),
                ),
                retry_every=20.0,
            ),
            [
                texts.RELOAD_PARTLY_SHARED.format("۲", "۳"),
                texts.RELOAD_FAILED_ELSEWHERE.format("۲۰"),
                "\u200f• \u2068host:12\u2069: پوشهٔ خبرها پیدا نشد",
                f"\u200f• \u2068host:13\u2069: {texts.UNKNOWN_PROBLEM}",
            ],
        ),
    ],
)
def test_what_the_admin_hears_about_the_other_workers(fleet: Fleet, expected: list[str]) -> None:
    assert fleet_text(fleet).splitlines() == expected


# -- a Redis that answers garbage ----------------------------------------------------------------------------


@asynccontextmanager
async def _garbage_redis(reply: bytes) -> AsyncIterator[str]:
    """A server on 127.0.0.1 that answers ``reply`` to every command, as a broken proxy might."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(4096):
                writer.write(reply)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()


@pytest.mark.slow
# redis-py leaves the sockets of commands cut short by the timeout to the garbage collector: collected
# here (below), their ResourceWarnings are this test's, not the next one's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("reply", [b"+OK\r\n", b":1\r\n", b"$3\r\nabc\r\n", b"-ERR no\r\n", b"garbage\r\n"])
async def test_a_redis_that_answers_garbage_is_treated_as_unavailable(tmp_path: Path, reply: bytes) -> None:
    async with _garbage_redis(reply) as url:
        shared = SharedRedis(url)
        records = RedisRecords(shared)
        guard = SharedGuard(shared, "questions", 2)
        library = Library(copy_seeds(tmp_path / "seeds"))
        library.open()
        sync = ReloadSync(shared, library, check_every=0.2)
        started = time.monotonic()
        try:
            async with asyncio.timeout(20):
                await sync.start()  # the bot starts...
                await records.count("answered")  # ...records are dropped, never raised...
                assert await records.remember_question(1, "q") in (0, 1)
                await records.log_unanswered("؟", "private")
                verdicts = [await guard.verdict(9) for _ in range(3)]  # ...limits hold per process
                assert verdicts[:2] == [Verdict.OK, Verdict.OK] and verdicts[2] is not Verdict.OK
                # The periodic check (every 0.2 s) runs meanwhile and survives. Not waited for: a try against a
                # server that answers "+OK" to everything ends at its socket timeout (2 s, more when it
                # subscribes again), which would take this test to the edge of its 15 s.
                await asyncio.sleep(0.5)
                assert sync._task is not None and not sync._task.done()
        finally:
            await sync.stop()
            await shared.close()
        assert time.monotonic() - started < 15
    gc.collect()


@pytest.mark.slow
async def test_keys_of_the_wrong_type_in_redis_never_stop_a_worker(
    tmp_path: Path, redis_server: RedisServer, connect: Callable[[], SharedRedis]
) -> None:
    probe = connect()
    await probe.client.set(probe.key("index", "version"), "not a number")
    await probe.client.set(probe.key("index", "announced"), "yesterday")
    await probe.client.set(probe.key("workers"), "a string, not a hash")
    await probe.client.set(probe.key("counters"), "a string, not a hash")
    library = Library(copy_seeds(tmp_path / "seeds"))
    library.open()
    shared = connect()
    sync = ReloadSync(shared, library, check_every=0.2)
    await sync.start()  # the worker starts on its own index...
    try:
        records = RedisRecords(shared)
        await records.count("answered")  # ...and answering never fails on its records
        assert sync.version == 0
        tries = _tries(sync)
        await _until(lambda: tries[0] >= 2)  # the periodic check failed, and the listener tried again
        assert sync._task is not None and not sync._task.done()
        await probe.client.delete(probe.key("index", "version"), probe.key("index", "announced"))
        await probe.client.delete(probe.key("workers"))
        fleet = await sync.fleet(await sync.announce(), wait=5)  # repaired: sharing works again
        assert fleet.announced and fleet.current >= 1
    finally:
        await sync.stop()
