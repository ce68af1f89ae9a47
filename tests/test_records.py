"""Statistics never stop answers: a database that is damaged, missing, locked, full or old is moved aside,
migrated, or replaced by memory, and the bot answers on."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import bot.backend.local
from bot.backend.local import SqliteRecords
from bot.conversation import texts
from bot.testing.harness import ADMIN_ID, RunningBot, running_bot, sent_to
from bot.testing.seed_questions import COMMANDER, QUESTION
from bot.testing.standin import USER_ID, BotApiStandin


async def _works(records: SqliteRecords) -> None:
    """Every kind of record can be written and read back."""
    await records.count("answered", 2)
    await records.log_unanswered("پرسش بی‌پاسخ", "private")
    question_id = await records.remember_question(5, "پرسش")
    assert (await records.counters())["answered"] >= 2
    assert (await records.unanswered(1))[0].question == "پرسش بی‌پاسخ"
    asked = await records.asked(question_id)
    assert asked is not None and asked.question == "پرسش"
    await records.remember_replies(-100, 7, [8, 9])
    assert await records.replies(-100, 7) == (8, 9)
    assert await records.replies(-100, 8) is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(os.urandom(8192)), id="random bytes"),
        pytest.param(
            lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + os.urandom(4000)), id="bad pages"
        ),
    ],
)
async def test_a_damaged_database_is_moved_aside_and_a_new_one_started(tmp_path: Path, damage) -> None:
    path = tmp_path / "pasokh.sqlite3"
    damage(path)
    original = path.read_bytes()
    records = SqliteRecords(tmp_path)
    try:
        await _works(records)
        assert records.saving
    finally:
        await records.close()
    [aside] = tmp_path.glob("pasokh.sqlite3.corrupt-*")
    assert aside.read_bytes() == original  # kept as it was, never deleted


async def test_a_truncated_database_is_moved_aside(tmp_path: Path) -> None:
    records = SqliteRecords(tmp_path)
    for n in range(300):
        await records.log_unanswered(f"پرسش {n} " * 20, "private")
    await records.close()
    path = tmp_path / "pasokh.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    records = SqliteRecords(tmp_path)
    try:
        await _works(records)
    finally:
        await records.close()
    assert list(tmp_path.glob("pasokh.sqlite3.corrupt-*"))


@pytest.mark.parametrize("obstacle", ["database is a folder", "state folder is a file"])
async def test_an_unusable_place_keeps_records_in_memory(tmp_path: Path, obstacle: str, caplog) -> None:
    folder = tmp_path / "state"
    if obstacle == "database is a folder":
        (folder / "pasokh.sqlite3").mkdir(parents=True)
    else:
        folder.write_text("not a folder")
    records = SqliteRecords(folder)
    await _works(records)
    await _works(records)
    assert not records.saving
    assert sum("cannot be saved" in r.message for r in caplog.records) == 1  # one clear warning


_CHILD = """
import asyncio, resource, signal, sys
from pathlib import Path
from bot.backend.local import SqliteRecords
if sys.argv[2] == "disk full":  # every write that would grow a file fails (EFBIG), as on a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
async def main():
    records = SqliteRecords(Path(sys.argv[1]))
    await records.count("answered")
    await records.log_unanswered("پرسش", "private")
    print(records.saving, (await records.counters())["answered"], len(await records.unanswered()))
    await records.close()
asyncio.run(main())
"""


def _start_in_a_child(state: Path, obstacle: str, *prefix: str) -> tuple[str, str]:
    """Open the records in a fresh process (its own limits and privileges), count and log once; what it
    printed (saving? answered, unanswered) and logged."""
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _CHILD, str(state), obstacle],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
        check=True,
    )
    return done.stdout.strip(), done.stderr


async def _database_with_rows(state: Path) -> None:
    records = SqliteRecords(state)
    await records.count("answered", 41)
    await records.close()


@pytest.mark.parametrize("existing", [False, True], ids=["no database yet", "a database with rows"])
async def test_a_disk_full_before_start_keeps_records_in_memory_and_the_file_as_it_was(
    tmp_path: Path, existing: bool
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    if existing:
        await _database_with_rows(state)
    printed, logged = _start_in_a_child(state, "disk full")
    assert printed == "False 1 1"  # answers go on: counted and logged in memory
    assert logged.count("cannot be saved") == 1
    assert not list(state.glob("*.corrupt-*"))  # a full disk is no damage: nothing moved aside
    if existing:
        records = SqliteRecords(state)
        assert (await records.counters())["answered"] == 41 and records.saving
        await records.close()


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root without setpriv: no read-only")
async def test_a_read_only_state_folder_keeps_records_in_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await _database_with_rows(state)
    for path in state.iterdir():
        path.chmod(0o400)
    state.chmod(0o500)
    # root writes to read-only folders anyway: without the capabilities that let it, it cannot
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        printed, logged = _start_in_a_child(state, "read-only", *prefix)
    finally:
        state.chmod(0o700)
    assert printed == "False 1 1"
    assert logged.count("cannot be saved") == 1
    records = SqliteRecords(state)
    assert (await records.counters())["answered"] == 41  # untouched
    await records.close()


async def test_a_database_locked_by_another_process_keeps_records_in_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bot.backend.local, "OPEN_TIMEOUT", 0.2)
    with sqlite3.connect(tmp_path / "pasokh.sqlite3", isolation_level=None) as other:
        other.execute("BEGIN EXCLUSIVE")
        records = SqliteRecords(tmp_path)
        await _works(records)
        assert not records.saving
        other.execute("ROLLBACK")


async def test_a_disk_that_fills_up_after_start_loses_no_answer(tmp_path: Path, caplog) -> None:
    records = SqliteRecords(tmp_path)
    await records.count("answered")
    assert records._db is not None
    (pages,) = records._db.execute("PRAGMA page_count").fetchone()
    records._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's "database or disk is full" from now on
    for n in range(200):
        await records.log_unanswered(f"پرسش {n} " * 50, "group")
    assert not records.saving
    assert (await records.unanswered(1))[0].question.startswith("پرسش 199")
    assert sum("cannot be saved" in r.message for r in caplog.records) == 1
    await records.close()


async def test_a_database_of_an_older_schema_is_migrated(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "pasokh.sqlite3") as db:
        db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        db.execute("CREATE TABLE unanswered (id INTEGER PRIMARY KEY, at REAL NOT NULL, question TEXT NOT NULL)")
        db.execute("INSERT INTO counters VALUES ('answered', 41)")
        db.execute("INSERT INTO unanswered (at, question) VALUES (1.0, 'پرسش قدیمی')")
    records = SqliteRecords(tmp_path)
    try:
        assert (await records.counters())["answered"] == 41
        [old] = await records.unanswered(5)
        assert (old.question, old.chat_type) == ("پرسش قدیمی", "unknown")
        await _works(records)
        assert records.saving
    finally:
        await records.close()
    with sqlite3.connect(tmp_path / "pasokh.sqlite3") as db:  # the old rows are kept aside too
        aside = f"unanswered_before_v{bot.backend.local.SCHEMA_VERSION}"
        assert db.execute(f"SELECT question FROM {aside}").fetchall() == [("پرسش قدیمی",)]


async def test_a_version_1_database_gains_the_feed_items_and_keeps_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "pasokh.sqlite3") as db:
        for table, columns in bot.backend.local._TABLES.items():
            if table != "feed_items":
                db.execute(f"CREATE TABLE {table} ({columns})")
        db.execute("INSERT INTO counters VALUES ('answered', 41)")
        db.execute("PRAGMA user_version = 1")
    records = SqliteRecords(tmp_path)
    try:
        assert (await records.counters())["answered"] == 41
        await records.mark_published("item")
        assert await records.published(["item", "other"]) == {"item"}
        assert records.saving
    finally:
        await records.close()


async def test_the_replies_to_questions_outlast_a_restart_and_the_newest_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bot.backend.local, "REPLIES_KEPT", 1500)
    records = SqliteRecords(tmp_path)
    for n in range(2000):
        await records.remember_replies(5, n, [10_000 + n])
    await records.remember_replies(5, 1999, [1, 2])  # answered again (an edit whose reply was gone)
    await records.close()
    records = SqliteRecords(tmp_path)  # a restart
    try:
        assert await records.replies(5, 1999) == (1, 2)
        assert await records.replies(5, 1000) == (11_000,)
        assert await records.replies(5, 0) is None  # the oldest are let go
        assert records.saving
    finally:
        await records.close()


async def test_a_version_2_database_gains_the_replies_and_keeps_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "pasokh.sqlite3") as db:
        for table, columns in bot.backend.local._TABLES.items():
            if table != "replies":
                db.execute(f"CREATE TABLE {table} ({columns})")
        db.execute("INSERT INTO counters VALUES ('answered', 41)")
        db.execute("PRAGMA user_version = 2")
    records = SqliteRecords(tmp_path)
    try:
        assert (await records.counters())["answered"] == 41
        await records.remember_replies(5, 6, [7])
        assert await records.replies(5, 6) == (7,)
        assert records.saving
    finally:
        await records.close()


async def test_the_bot_answers_and_says_statistics_are_not_saved(api: BotApiStandin, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "pasokh.sqlite3").mkdir(parents=True)
    async with running_bot(api, tmp_path, state_dir=state) as running:
        assert isinstance(running, RunningBot)
        api.private_message(QUESTION)
        [answer] = await api.wait_for(sent_to(USER_ID))
        assert COMMANDER in answer.params["text"]
        api.private_message("/stats", user_id=ADMIN_ID)
        [stats] = await api.wait_for(sent_to(ADMIN_ID))
    assert texts.STATS_NOT_SAVED in stats.params["text"]
    assert "پرسش‌های پاسخ‌داده: ۱" in stats.params["text"]
