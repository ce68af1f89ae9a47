"""The bot's SQLite state survives a crash: a writer killed with SIGKILL mid-write leaves a readable
file that lacks at most the record being written."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.backend.local import SqliteRecords
from bot.testing.processes import ROOT

pytestmark = pytest.mark.slow  # starts pasokh or Python processes

# One record: a counter step, then an unanswered question (a large one: writes span several pages).
# Each record's number is printed once both are committed.
_WRITER = textwrap.dedent(
    """
    import asyncio
    import sys
    from pathlib import Path
    from bot.backend.local import SqliteRecords

    async def write():
        records = SqliteRecords(Path(sys.argv[1]))
        number = int(sys.argv[2])
        while True:
            await records.count("answered")
            await records.log_unanswered(f"{number}:" + "پرسش " * 400, "private")
            print(number, flush=True)
            number += 1

    asyncio.run(write())
    """
)


def _write_until_killed(folder: Path, first: int, rng: random.Random) -> int:
    """Run a writer from record ``first``, SIGKILL it after some records; return the last one it confirmed."""
    confirmed = first - 1
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder), str(first)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        try:
            for _ in range(rng.randint(30, 400)):  # that many confirmed records, then the kill, at once
                confirmed = int(writer.stdout.readline())
            writer.send_signal(signal.SIGKILL)
            confirmed = max([confirmed, *map(int, writer.stdout.read().split())])  # confirmed before it landed
        finally:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    return confirmed


def _numbers(folder: Path) -> list[int]:
    """The record numbers in the unanswered log, after SQLite's own integrity check."""
    with contextlib.closing(sqlite3.connect(folder / "pasokh.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT question FROM unanswered ORDER BY id").fetchall()
    return [int(question.split(":", 1)[0]) for (question,) in rows]


async def test_a_writer_killed_mid_write_loses_at_most_its_last_record(tmp_path: Path) -> None:
    rng = random.Random(20251126)
    last, counted = 0, 0
    for _ in range(10):  # about a third of the kills land between a record's two commits
        confirmed = _write_until_killed(tmp_path, last + 1, rng)
        numbers = _numbers(tmp_path)
        # Every confirmed record is there, in order, without a gap; beyond them at most the one in flight.
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert numbers[-1] in (confirmed, confirmed + 1)
        records = SqliteRecords(tmp_path)  # the bot opens it as it would after a restart
        try:
            # A record's counter step is a commit of its own, just before its question.
            answered = (await records.counters())["answered"]
            assert answered - counted in (numbers[-1] - last, numbers[-1] - last + 1)
            counted = answered
            [newest] = await records.unanswered(1)
            assert newest.question.startswith(f"{numbers[-1]}:")
        finally:
            await records.close()
        last = numbers[-1]
    assert last > 100
