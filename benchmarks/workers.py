"""Several webhook workers sharing Redis against one: answers a second, and how fast a /reload spreads.

    uv run python -m benchmarks.workers [--workers 1,3] [--chats 60] [--window 2] [--warmup 5] [--seconds 20]
                                        [--messages-per-second 30] [--reloads 5] [--news 0] [--baseline]

Run by hand, not in CI; prefix ``nice -n 19`` on a shared machine. Each configuration starts a
redis-server, the Bot API stand-in (in this process) and N real ``pasokh run --webhook-url`` workers
(``bot.testing.workers``), all sharing Redis and one seeds folder, as in production behind a load
balancer.

Throughput: ``--chats`` private chats each keep ``--window`` questions in flight (the next one goes out as
an answer arrives), round-robin over the workers; answers (sendMessage calls the stand-in records) are
counted for ``--seconds`` after ``--warmup``. Latency runs from posting the update to the stand-in
receiving its answer. The per-user question limit is lifted for the run (each chat asks hundreds). The
CPU each process used meanwhile is reported as a share of one core (100 = one core busy). ``--baseline``
first measures one worker without Redis (SQLite and PTB's AIORateLimiter), as before several workers.

Telegram allows a bot about 30 messages a second, all workers together, and the bot enforces it: with
``--messages-per-second 30`` (as shipped) every configuration is capped at 30 answers a second. To see
what the workers themselves can do, pass a high value (e.g. 100000): it sets PASOKH_MESSAGES_PER_SECOND
for the workers of this run only.

Reload spread (configurations of more than one worker, ``--reloads`` times): an article file is added to
(or removed from) the seeds folder and an admin sends /reload to worker 0. Reported: the leader's own
reload (its report), the time from its announcement to each follower's swap (the followers log it), the
sum of the two (the admin's /reload received to the last worker answering from the new articles), and
the admin's wait for the report, which waits for every worker to confirm. ``--news N`` adds the first N
articles of ``../shared/data/news/articles.jsonl`` to the seeds, for a bigger index.

The stand-in and this load generator share one process (one core at most); the machine's other work
counts too: report the machine and its load with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from benchmarks.quality import DATA as SHARED_DATA
from bot.testing.harness import ADMIN_ID, copy_seeds
from bot.testing.seed_questions import ANSWERABLE
from bot.testing.standin import SECRET_HEADER, BotApiStandin, Call
from bot.testing.workers import NEW_ARTICLE, SECRET, RedisServer, Workers

FIRST_USER = 100_000
PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٫", "0123456789.")


def add_news(seeds: Path, count: int) -> int:
    """Write the first ``count`` news articles as seed files; return how many were written."""
    written = 0
    with (SHARED_DATA / "news" / "articles.jsonl").open(encoding="utf-8") as lines:
        for line in itertools.islice(lines, count):
            article = json.loads(line)
            body = "\n".join(p for p in article["text"].splitlines() if p.strip())
            if not body:
                continue
            name = re.sub(r"[^A-Za-z0-9_-]", "_", article["id"])
            (seeds / f"news_{name}.txt").write_text(f"{article['title']}\n{body}\n", encoding="utf-8")
            written += 1
    return written


class Load:
    """Private chats asking round-robin over the workers, each with ``window`` questions in flight."""

    def __init__(self, api: BotApiStandin, workers: Workers, chats: int, window: int) -> None:
        self.api, self.workers, self.chats, self.window = api, workers, chats, window
        self.questions = itertools.cycle(q for q, _ in ANSWERABLE)
        self.turn = itertools.count()
        self.pending: dict[int, collections.deque[float]] = {FIRST_USER + c: collections.deque() for c in range(chats)}
        self.answers: list[tuple[float, float]] = []  # (arrival, latency)
        self.errors = 0
        self.running = True
        self.tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None

    async def ask(self, user: int) -> None:
        assert self.session is not None
        update = self.api.private_message(next(self.questions), user_id=user).update
        worker = next(self.turn) % self.workers.count
        self.pending[user].append(time.monotonic())
        headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
        try:
            async with self.session.post(self.workers.url(worker), data=json.dumps(update), headers=headers) as r:
                if r.status != 200:
                    self.errors += 1
        except aiohttp.ClientError:
            self.errors += 1

    def spawn(self, user: int) -> None:
        task = asyncio.get_running_loop().create_task(self.ask(user))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_call(self, call: Call) -> None:
        if call.method != "sendMessage" or call.status != 200:
            return
        user = int(call.params["chat_id"])
        if user not in self.pending or not self.pending[user]:
            return
        asked = self.pending[user].popleft()
        self.answers.append((call.received, call.received - asked))
        if self.running:
            self.spawn(user)

    async def run(self, warmup: float, seconds: float, redis_pid: int | None) -> dict[str, float]:
        self.api.add_listener(self.on_call)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as self.session:
            for user in self.pending:
                for _ in range(self.window):
                    self.spawn(user)
            await asyncio.sleep(warmup)
            processes = {
                "this process (stand-in and load)": [psutil.Process()],
                "workers": [psutil.Process(p.pid) for p in self.workers.processes],
                "redis": [psutil.Process(redis_pid)] if redis_pid else [],
            }
            cpu_before = {name: sum(_cpu(p) for p in group) for name, group in processes.items()}
            start = time.monotonic()
            await asyncio.sleep(seconds)
            end = time.monotonic()
            cpu = {name: sum(_cpu(p) for p in group) - cpu_before[name] for name, group in processes.items()}
            self.running = False
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.api.remove_listener(self.on_call)
        measured = [latency for at, latency in self.answers if start <= at < end]
        quantiles = statistics.quantiles(measured, n=20) if len(measured) > 1 else [0.0] * 19
        return {
            "answers/s": len(measured) / (end - start),
            "p50 ms": 1000 * statistics.median(measured) if measured else 0.0,
            "p95 ms": 1000 * quantiles[18],
            "errors": self.errors,
        } | {f"CPU % {name}": 100 * used / (end - start) for name, used in cpu.items()}


def _cpu(process: psutil.Process) -> float:
    """CPU seconds a process has used, threads included."""
    times = process.cpu_times()
    return float(times.user + times.system)


async def reload_spread(api: BotApiStandin, workers: Workers, seeds: Path, runs: int) -> list[dict[str, float]]:
    """``runs`` reloads at worker 0, alternately adding and removing an article; their timings."""
    results = []
    extra = seeds / "zz_benchmark_observatory.txt"
    for run in range(runs):
        if run % 2 == 0:
            extra.write_text(NEW_ARTICLE, encoding="utf-8")
        else:
            extra.unlink()
        delays_before = len(workers.swap_delays())
        admin = [c for c in api.calls("sendMessage") if int(c.params["chat_id"]) == ADMIN_ID]
        posted = time.monotonic()
        await workers.post(0, api.private_message("/reload", user_id=ADMIN_ID).update)
        replies = await api.wait_for(
            lambda c: c.method == "sendMessage" and int(c.params["chat_id"]) == ADMIN_ID,
            count=len(admin) + 2,
            timeout=600,
        )
        report = str(replies[-1].params["text"])
        answered = replies[-1].received - posted
        seconds = re.search(r"\(([۰-۹٫.]+) ثانیه\)", report)
        leader = float(seconds[1].translate(PERSIAN_DIGITS)) if seconds else float("nan")
        while len(workers.swap_delays()) < delays_before + workers.count - 1:  # noqa: ASYNC110 (a log file)
            await asyncio.sleep(0.05)
        delays = workers.swap_delays()[delays_before:]
        results.append(
            {
                "leader reload s": leader,
                "announcement to last swap s": max(delays),
                "/reload to last swap s": leader + max(delays),
                "admin's report after s": answered,
            }
        )
    return results


async def measure(args: argparse.Namespace, count: int, folder: Path, *, redis_used: bool = True) -> None:
    seeds = copy_seeds(folder / "seeds")
    articles = 1 + (add_news(seeds, args.news) if args.news else 0)
    env = {"PASOKH_QUESTIONS_PER_MINUTE": "1000000", "PASOKH_MESSAGES_PER_SECOND": str(args.messages_per_second)}
    async with (
        RedisServer(folder / "redis") as redis_server,
        BotApiStandin() as api,
        Workers(
            api, redis_server.url if redis_used else None, seeds, folder, count=count, extra_env=env, start_timeout=900
        ) as workers,
    ):
        limit = f"{args.messages_per_second} messages/s allowed" if redis_used else "no Redis (AIORateLimiter, 30/s)"
        print(f"\n## {count} worker(s), {articles} articles, {limit}")
        if count > 1 and args.reloads:
            runs = await reload_spread(api, workers, seeds, args.reloads)
            for name in runs[0]:
                values = [r[name] for r in runs]
                each = ", ".join(f"{v:.3f}" for v in values)
                print(f"- {name}: median {statistics.median(values):.3f} (runs: {each})")
        redis_pid = redis_server.process.pid if redis_used and redis_server.process else None
        result = await Load(api, workers, args.chats, args.window).run(args.warmup, args.seconds, redis_pid)
        print("- " + ", ".join(f"{k} {v:.1f}" for k, v in result.items() if not k.startswith("CPU")))
        print("- " + ", ".join(f"{k} {v:.0f}" for k, v in result.items() if k.startswith("CPU")))
        print(f"- load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,3", help="worker counts to compare (default 1,3)")
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--window", type=int, default=2, help="questions in flight per chat")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--messages-per-second", type=int, default=30, help="PASOKH_MESSAGES_PER_SECOND")
    parser.add_argument("--reloads", type=int, default=5, help="reload timing runs (several workers only)")
    parser.add_argument("--news", type=int, default=0, help="news articles added to the seeds")
    parser.add_argument("--baseline", action="store_true", help="also one worker without Redis, as before")
    args = parser.parse_args(argv)
    print(f"# Workers benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="pasokh-workers-") as folder:
            await measure(args, 1, Path(folder), redis_used=False)
    for count in (int(n) for n in args.workers.split(",")):
        with tempfile.TemporaryDirectory(prefix="pasokh-workers-") as folder:
            await measure(args, count, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
