"""Load on the real bot through the Bot API stand-in: many private chats asking at once, round after round.

``run_load(LoadConfig(...), folder)`` runs it and raises ``LoadError`` on any lost, duplicated, reordered or
wrong reply; ``python -m benchmarks.load`` prints its report, and tests run small loads.

The application is the real one (``bot.testing.harness.running_bot``: concurrent updates, no rate limiter,
the flood limit out of the way) and talks HTTP to ``bot.testing.standin.BotApiStandin`` in the same process.
Each chat is a user who keeps up to ``--window`` questions unanswered: it sends its next question as an
answer arrives. Questions come from a bank: questions about the bundled seed article, one question per
item of a generated bulletin (so that most replies differ from each other), and questions the articles
do not answer.

How a round is checked:

- Before the rounds, a reference chat asks every question of the bank once, one at a time, and keeps
  the reply (the HTML sent). With ``--reloads`` it does so for both versions of the seeds: version B
  changes every article's title and date, so every answered reply tells which index it came from.
- In a round, after its last answer each chat sends /help; the help text arriving proves every earlier
  update of the chat was handled (a chat's updates are handled one at a time, in order).
- Then, per chat, the messages the stand-in stored (all of them, including those the bot saw time out)
  must be exactly the reference replies of the chat's questions, in the order asked, then the help
  text: a lost, duplicated, reordered or wrong reply fails the round. Questions whose replies are equal
  cannot be told apart, so the run reports how many of the bank's replies are distinct.
- With ``--reloads``, an admin sends /reload (alternating the seeds between A and B) spread over the
  first round, and every reply must equal the reference from A or the one from B: wholly one index.

Latency runs from the injection of an update to the arrival at the stand-in of the sendMessage that
answers it; throughput counts answers over the round's duration. Resident memory is read after each
round, once the stand-in's records are dropped and the garbage collected. Prints a Markdown table.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.conversation import texts
from bot.testing.harness import ADMIN_ID, copy_seeds, running_bot
from bot.testing.seed_questions import ANSWERABLE, IN_REPLY, UNANSWERABLE
from bot.testing.standin import SEND_METHODS, BotApiStandin, Call, Fault
from retrieval.answer import to_persian_digits

REFERENCE_CHAT = 1
"""The first of the reference chats, one per question of the bank."""
FIRST_CHAT = 100_001
BULLETIN_ITEMS = 60
CITIES = ("یاسوج", "خرم‌آباد", "بروجرد", "دورود", "الیگودرز", "کوهدشت", "نورآباد", "ازنا", "پلدختر", "الشتر")
EVENTS = (
    "پل تازه‌ای گشایش یافت",
    "نمایشگاه کتاب برپا شد",
    "مسابقهٔ کشتی برگزار شد",
    "بیمارستانی افتتاح شد",
    "جشنوارهٔ فیلم کودک آغاز شد",
    "بارش برف راه‌ها را بست",
)
_HEADER = re.compile(r"^date (\d{4})-(\d{2})-(\d{2}) (.*)$")


class LoadError(AssertionError):
    """A round lost, duplicated, reordered or mixed replies; the message says where."""


@dataclass(frozen=True)
class LoadConfig:
    chats: int = 100
    questions: int = 50
    rounds: int = 10
    window: int = 5
    reloads: int = 0
    fault_rate: float = 0.0
    faults: tuple[Fault, ...] = (429, 500, 502, "slow", "drop")
    fault_methods: frozenset[str] = SEND_METHODS
    read_timeout: float | None = None
    slow_delay: float = 1.0
    seed: int = 5
    timeout: float = 600.0
    """Seconds a round may take before it is declared stuck."""


@dataclass
class RoundResult:
    number: int
    answered: int
    seconds: float
    latencies: list[float]
    rss_mb: float
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    failed_sends: int = 0
    """sendMessage calls to the question chats that failed (each one resent, or given up)."""
    from_index: collections.Counter[str] = field(default_factory=collections.Counter)
    """Replies that tell their index apart, by version (A, B); with reloads only."""
    reloads: int = 0
    reloads_while_asking: int = 0

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0

    def summary(self) -> str:
        """One line for the progress log."""
        return (
            f"round {self.number}: {self.answered} answers in {self.seconds:.2f} s ({self.throughput:.0f}/s), "
            f"p50 {1000 * self.percentile(50):.0f} ms, p99 {1000 * self.percentile(99):.0f} ms, "
            f"RSS {self.rss_mb:.1f} MB"
        )


@dataclass
class LoadReport:
    config: LoadConfig
    bank: int
    distinct_replies: int
    rounds: list[RoundResult]


# -- seeds and questions ------------------------------------------------------------------------------


def write_seeds(folder: Path, version: str = "A") -> Path:
    """The bundled seeds plus a generated bulletin; version B shifts every article's date and title."""
    if folder.exists():
        shutil.rmtree(folder)
    copy_seeds(folder)
    lines = ["date 2025-12-01 خبرهای کوتاه استان"]
    for n in range(1, BULLETIN_ITEMS + 1):
        city, event = CITIES[n % len(CITIES)], EVENTS[n % len(EVENTS)]
        lines.append(f"در خبر کوتاه شمارهٔ {to_persian_digits(str(n))} آمده است که در شهر {city} {event}.")
    (folder / "900_bulletin.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if version == "B":
        for path in folder.iterdir():
            head, _, body = path.read_text(encoding="utf-8").partition("\n")
            match = _HEADER.match(head.lstrip("\ufeff").strip())
            assert match, f"{path.name} has no date header"
            head = f"date {match[1]}-{match[2]}-{int(match[3]) % 28 + 1:02d} {match[4]} (ویرایش دوم)"
            path.write_text(f"{head}\n{body}", encoding="utf-8")
    return folder


def question_bank() -> list[str]:
    """Questions about the seed article, about each bulletin item, and ones the articles do not answer."""
    bulletin = [f"در خبر شمارهٔ {to_persian_digits(str(n))} چه آمده است؟" for n in range(1, BULLETIN_ITEMS + 1)]
    return [q for q, _ in ANSWERABLE] + [q for q, _ in IN_REPLY] + bulletin + list(UNANSWERABLE)


def chat_questions(bank: Sequence[str], chats: int, questions: int, seed: int) -> dict[int, list[str]]:
    """Each chat's questions: the bank in its own shuffled order (repeated when more are asked)."""
    plan = {}
    for i in range(chats):
        rng = random.Random(seed * 1_000_003 + i)
        order: list[str] = []
        while len(order) < questions:
            order += rng.sample(list(bank), len(bank))
        plan[FIRST_CHAT + i] = order[:questions]
    return plan


# -- driving ------------------------------------------------------------------------------------------


def _text(call: Call) -> str:
    return str(call.params.get("text", ""))


def _is_sent(call: Call) -> bool:
    return call.method == "sendMessage" and call.status == 200


def _help_in(chat: int) -> Any:
    return lambda call: _is_sent(call) and int(call.params["chat_id"]) == chat and _text(call) == texts.HELP


class _Reloads:
    """The admin's /reloads, each after the previous report, alternating the seeds between A and B."""

    def __init__(self, api: BotApiStandin, seeds: Path, count: int) -> None:
        self.api, self.seeds, self.count = api, seeds, count
        self.sent = self.done = 0
        self.version = "A"
        self.running = False
        self.reports: list[str] = []

    def maybe_start(self) -> None:
        if self.running or self.sent >= self.count:
            return
        self.version = "B" if self.version == "A" else "A"
        write_seeds(self.seeds, self.version)
        self.running = True
        self.sent += 1
        self.api.private_message("/reload", user_id=ADMIN_ID)

    def on_reply(self, call: Call) -> None:
        text = _text(call)
        if text == texts.RELOADING:
            return
        self.reports.append(text)
        self.running = False
        self.done += 1


class _Round:
    """Injects each chat's questions (up to ``window`` unanswered) and records when answers arrive."""

    def __init__(self, api: BotApiStandin, plan: dict[int, list[str]], window: int, reloads: _Reloads | None) -> None:
        self.api, self.plan, self.window, self.reloads = api, plan, window, reloads
        self.total = sum(len(q) for q in plan.values())
        self.next = dict.fromkeys(plan, 0)
        self.injected: dict[int, list[float]] = {chat: [] for chat in plan}
        self.received: dict[int, list[float]] = {chat: [] for chat in plan}
        self.answered = 0
        self.sentinels = 0
        self.reloads_while_asking = 0
        self.all_answered = asyncio.Event()
        self.all_sentinels = asyncio.Event()
        self.reloads_done = asyncio.Event()
        self.started = self.finished = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for chat in self.plan:
            for _ in range(self.window):
                self._ask(chat)
        self._pace_reloads()

    def _ask(self, chat: int) -> None:
        i = self.next[chat]
        if i < len(self.plan[chat]):
            self.next[chat] = i + 1
            self.injected[chat].append(time.monotonic())
            self.api.private_message(self.plan[chat][i], user_id=chat)

    def _pace_reloads(self) -> None:
        """Spread the reloads over the first half of the round: the k-th once (k-1)/2n of the answers are in."""
        reloads = self.reloads
        if reloads is None:
            return
        if self.all_answered.is_set() or self.answered * 2 * reloads.count >= reloads.sent * self.total:
            reloads.maybe_start()
        if reloads.done >= reloads.count:
            self.reloads_done.set()

    def listener(self, call: Call) -> None:
        if not _is_sent(call):
            return
        chat = int(call.params["chat_id"])
        if self.reloads is not None and chat == ADMIN_ID:
            done = self.reloads.done
            self.reloads.on_reply(call)
            if self.reloads.done > done and not self.all_answered.is_set():
                self.reloads_while_asking += 1  # the new index was swapped in while questions were pending
            self._pace_reloads()
            return
        if chat not in self.plan:
            return
        if self.all_answered.is_set() and _text(call) == texts.HELP:
            self.sentinels += 1
            if self.sentinels == len(self.plan):
                self.all_sentinels.set()
            return
        self.received[chat].append(call.received)
        self.answered += 1
        self._ask(chat)
        if self.answered >= self.total and not self.all_answered.is_set():
            self.finished = time.monotonic()
            self.all_answered.set()
        self._pace_reloads()

    def send_sentinels(self) -> None:
        for chat in self.plan:
            self.api.private_message("/help", user_id=chat)


async def _wait(event: asyncio.Event, seconds: float, what: str, progress: Any) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        raise LoadError(f"timed out after {seconds:.0f} s waiting for {what}: {progress()}") from None


async def reference_replies(api: BotApiStandin, bank: Sequence[str], seconds: float) -> dict[str, list[str]]:
    """Ask every question once, each in a reference chat of its own; return each one's reply messages."""
    chats = {REFERENCE_CHAT + i: question for i, question in enumerate(bank)}
    for chat, question in chats.items():
        api.private_message(question, user_id=chat)
        api.private_message("/help", user_id=chat)  # its reply marks the end of the question's reply
    await api.wait_for(
        lambda c: _is_sent(c) and int(c.params["chat_id"]) in chats and _text(c) == texts.HELP, len(chats), seconds
    )
    replies = {}
    for chat, question in chats.items():
        sent = [s.text for s in api.sent_messages(chat)]
        assert sent[-1] == texts.HELP, sent
        replies[question] = sent[:-1]
    api.forget()
    return replies


async def _reload(api: BotApiStandin, seeds: Path, version: str, seconds: float) -> None:
    write_seeds(seeds, version)
    api.private_message("/reload", user_id=ADMIN_ID)
    admin = [c for c in api.calls() if _is_sent(c) and int(c.params["chat_id"]) == ADMIN_ID]
    assert not admin, "forget() before a reload"
    [*_, report] = await api.wait_for(lambda c: _is_sent(c) and int(c.params["chat_id"]) == ADMIN_ID, 2, seconds)
    if not _text(report).startswith("✅"):
        raise LoadError(f"reload to version {version} failed: {_text(report)}")
    api.forget()


def _check(
    api: BotApiStandin, plan: dict[int, list[str]], references: dict[str, dict[str, list[str]]]
) -> collections.Counter[str]:
    """Every chat got exactly its replies, in order, each wholly from one index; count the versions."""
    versions: collections.Counter[str] = collections.Counter()
    for chat, questions in plan.items():
        sent = [s.text for s in api.sent_messages(chat)]
        if len(sent) != len(questions) + 1 or sent[-1] != texts.HELP:
            raise LoadError(f"chat {chat}: {len(sent) - 1} replies to {len(questions)} questions")
        for i, (question, reply) in enumerate(zip(questions, sent, strict=False)):
            matches = [v for v, refs in references.items() if refs[question] == [reply]]
            if not matches:
                raise LoadError(f"chat {chat}, question {i + 1} ({question!r}): reply {reply[:200]!r} is not its reply")
            if len(matches) == 1:
                versions[matches[0]] += 1
    return versions


def resident_mb() -> float:
    """This process's resident memory in MB (psutil when installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return float(psutil.Process().memory_info().rss) / 2**20


async def run_load(config: LoadConfig, workdir: Path) -> LoadReport:
    """Run the rounds; raise ``LoadError`` at the first round that loses, duplicates or mixes a reply."""
    bank = question_bank()
    seeds = write_seeds(workdir / "seeds", "A")
    results: list[RoundResult] = []
    async with (
        BotApiStandin() as api,
        running_bot(api, workdir, seeds=seeds, questions_per_minute=10**9, read_timeout=config.read_timeout) as bot,
    ):
        references = {"A": await reference_replies(api, bank, config.timeout)}
        if config.reloads:
            await _reload(api, seeds, "B", config.timeout)
            references["B"] = await reference_replies(api, bank, config.timeout)
            await _reload(api, seeds, "A", config.timeout)
        distinct = len({tuple(r) for r in references["A"].values()})
        plan = chat_questions(bank, config.chats, config.questions, config.seed)
        for number in range(1, config.rounds + 1):
            reloads = _Reloads(api, seeds, config.reloads) if config.reloads and number == 1 else None
            one = _Round(api, plan, config.window, reloads)
            if config.fault_rate:
                api.set_fault_rate(
                    config.fault_rate,
                    config.faults,
                    seed=config.seed + number,
                    methods=config.fault_methods,
                    delay=config.slow_delay,
                )
            api.add_listener(one.listener)
            try:
                one.start()
                await _wait(one.all_answered, config.timeout, "the answers", lambda o=one: f"{o.answered}/{o.total}")
                one.send_sentinels()
                await _wait(one.all_sentinels, config.timeout, "the /help replies", lambda o=one: o.sentinels)
                if reloads is not None:
                    await _wait(one.reloads_done, config.timeout, "the reloads", lambda r=reloads: r.done)
            finally:
                api.remove_listener(one.listener)
                api.set_fault_rate(0)
            versions = _check(api, plan, references)
            if reloads is not None and any(not r.startswith("✅") for r in reloads.reports):
                raise LoadError(f"a reload failed: {[r for r in reloads.reports if not r.startswith('✅')]}")
            calls = [c for c in api.calls() if c.method == "sendMessage" and int(c.params["chat_id"]) in plan]
            result = RoundResult(
                number=number,
                answered=one.answered,
                seconds=one.finished - one.started,
                latencies=[
                    received - injected
                    for chat in plan
                    for injected, received in zip(one.injected[chat], one.received[chat], strict=True)
                ],
                rss_mb=0.0,
                faults=collections.Counter(str(c.fault) for c in api.calls() if c.fault is not None),
                failed_sends=len([c for c in calls if c.status != 200]),
                from_index=versions,
                reloads=reloads.done if reloads else 0,
                reloads_while_asking=one.reloads_while_asking,
            )
            api.forget()
            del one, calls
            gc.collect()
            result.rss_mb = resident_mb()
            results.append(result)
            print(result.summary(), file=sys.stderr, flush=True)
        assert bot.app.running
    return LoadReport(config, len(bank), distinct, results)
