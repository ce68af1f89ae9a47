"""One process: records in SQLite, flood limits in memory, PTB's rate limiter, no one to tell of reloads.

The database runs in WAL mode and commits every record on its own, so a crash (even ``kill -9``)
mid-write leaves a readable file that lacks at most the record being written.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.backend.interfaces import ASKED_KEPT, REPLIES_KEPT, UNANSWERED_KEPT, Asked, Fleet, Unanswered, Verdict
from bot.library import ReloadReport

__all__ = ["LocalGuard", "LocalReloads", "MemoryRecords", "SqliteRecords"]

_logger = logging.getLogger(__name__)

_TABLES = {
    "counters": "name TEXT PRIMARY KEY, value INTEGER NOT NULL",
    "unanswered": "id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_type TEXT NOT NULL, question TEXT NOT NULL",
    "asked": "id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_id INTEGER NOT NULL, question TEXT NOT NULL",
    "feed_items": "key TEXT PRIMARY KEY, at REAL NOT NULL",
    "replies": "key TEXT PRIMARY KEY, at REAL NOT NULL, messages TEXT NOT NULL",
}
_DEFAULTS = {"chat_type": "'unknown'", "at": "0"}
"""Values for columns an older schema lacked."""
SCHEMA_VERSION = 3
"""``PRAGMA user_version`` of the current schema; older files are migrated when opened."""
OPEN_TIMEOUT = 2.0
"""Seconds to wait for a database locked by another process before working without it."""
_FAILURES = (sqlite3.Error, OSError)


class MemoryRecords:
    """``Records`` in this process's memory: what the bot keeps while its database cannot be used."""

    saving = False

    def __init__(self) -> None:
        self._counters: collections.Counter[str] = collections.Counter()
        self._unanswered: collections.deque[Unanswered] = collections.deque(maxlen=UNANSWERED_KEPT)
        self._asked: collections.OrderedDict[int, Asked] = collections.OrderedDict()
        self._next_id = 1
        self._replies: collections.OrderedDict[tuple[int, int], tuple[int, ...]] = collections.OrderedDict()
        self._published: set[str] = set()

    async def count(self, name: str, by: int = 1) -> None:
        self._counters[name] += by

    async def counters(self) -> dict[str, int]:
        return dict(self._counters)

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        self._unanswered.append(Unanswered(time.time(), chat_type, question))

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        return list(reversed(self._unanswered))[:limit]

    async def remember_question(self, chat_id: int, question: str) -> int:
        question_id, self._next_id = self._next_id, self._next_id + 1
        self._asked[question_id] = Asked(question_id, chat_id, question)
        while len(self._asked) > ASKED_KEPT:
            self._asked.popitem(last=False)
        return question_id

    async def asked(self, question_id: int) -> Asked | None:
        return self._asked.get(question_id)

    async def remember_replies(self, chat_id: int, message_id: int, replies: Sequence[int]) -> None:
        self._replies[chat_id, message_id] = tuple(replies)
        self._replies.move_to_end((chat_id, message_id))
        while len(self._replies) > REPLIES_KEPT:
            self._replies.popitem(last=False)

    async def replies(self, chat_id: int, message_id: int) -> tuple[int, ...] | None:
        return self._replies.get((chat_id, message_id))

    async def published(self, keys: Sequence[str]) -> set[str]:
        return self._published.intersection(keys)

    async def mark_published(self, key: str) -> None:
        self._published.add(key)

    async def close(self) -> None:
        """Nothing to release."""


class SqliteRecords:
    """``Records`` in a SQLite file ``pasokh.sqlite3`` in ``folder``; thread-safe, each call well under a
    millisecond, so calls run inline.

    Statistics never stop answers. When the file cannot be opened (a folder that is a file or read-only,
    a database locked by another process, a full disk) or stops working later (the disk fills up), the
    records go on in memory (``MemoryRecords``), with one warning, and ``saving`` turns False (``/stats``
    says so). A file that is not a database, or a damaged one, is moved aside (``.corrupt-<time>``), never
    deleted, and a new one is started. A file of an older schema is migrated.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / "pasokh.sqlite3"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._memory: MemoryRecords | None = None
        try:
            self._db = self._open(folder)
        except _FAILURES as exc:
            self._fall_back(exc)

    @property
    def saving(self) -> bool:
        """Whether records reach the database (False while they are kept in memory only)."""
        return self._memory is None

    def _open(self, folder: Path) -> sqlite3.Connection:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            _logger.warning("statistics database %s is damaged (%s): moved aside to %s", self.path, exc, aside.name)
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.rename(aside.with_name(aside.name + suffix))
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=OPEN_TIMEOUT)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _migrate(db)
            db.execute("PRAGMA quick_check").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _fall_back(self, error: BaseException) -> MemoryRecords:
        """Keep records in memory from now on; warn once."""
        if self._memory is None:
            _logger.warning(
                "statistics cannot be saved to %s (%s): answering on, keeping statistics in memory until restart",
                self.path,
                error,
            )
            self._memory = MemoryRecords()
            if self._db is not None:
                with contextlib.suppress(*_FAILURES):
                    self._db.close()
                self._db = None
        return self._memory

    def _run[T](self, work: Callable[[sqlite3.Connection], T]) -> T | MemoryRecords:
        """``work`` on the database, or the memory records to use instead."""
        if self._db is None or self._memory is not None:
            return self._memory or self._fall_back(RuntimeError("no database"))
        try:
            with self._lock:
                return work(self._db)
        except _FAILURES as exc:
            return self._fall_back(exc)

    async def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(*_FAILURES):
                    self._db.close()
                self._db = None

    async def count(self, name: str, by: int = 1) -> None:
        sql = "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?"
        done = self._run(lambda db: db.execute(sql, (name, by, by)))
        if isinstance(done, MemoryRecords):
            await done.count(name, by)

    async def counters(self) -> dict[str, int]:
        rows = self._run(lambda db: db.execute("SELECT name, value FROM counters").fetchall())
        return await rows.counters() if isinstance(rows, MemoryRecords) else dict(rows)

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            sql = "INSERT INTO unanswered (at, chat_type, question) VALUES (?, ?, ?)"
            row = int(db.execute(sql, (time.time(), chat_type, question)).lastrowid or 0)
            if row % 100 == 0:
                db.execute("DELETE FROM unanswered WHERE id <= ?", (row - UNANSWERED_KEPT,))

        done = self._run(write)
        if isinstance(done, MemoryRecords):
            await done.log_unanswered(question, chat_type)

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        sql = "SELECT at, chat_type, question FROM unanswered ORDER BY id DESC LIMIT ?"
        rows = self._run(lambda db: db.execute(sql, (limit,)).fetchall())
        return await rows.unanswered(limit) if isinstance(rows, MemoryRecords) else [Unanswered(*r) for r in rows]

    async def remember_question(self, chat_id: int, question: str) -> int:
        def write(db: sqlite3.Connection) -> int:
            sql = "INSERT INTO asked (at, chat_id, question) VALUES (?, ?, ?)"
            row = int(db.execute(sql, (time.time(), chat_id, question)).lastrowid or 0)
            if row % 1000 == 0:
                db.execute("DELETE FROM asked WHERE id <= ?", (row - ASKED_KEPT,))
            return row

        row = self._run(write)
        return await row.remember_question(chat_id, question) if isinstance(row, MemoryRecords) else row

    async def asked(self, question_id: int) -> Asked | None:
        sql = "SELECT id, chat_id, question FROM asked WHERE id = ?"
        row = self._run(lambda db: db.execute(sql, (question_id,)).fetchone())
        if isinstance(row, MemoryRecords):
            return await row.asked(question_id)
        return Asked(*row) if row else None

    async def remember_replies(self, chat_id: int, message_id: int, replies: Sequence[int]) -> None:
        def write(db: sqlite3.Connection) -> None:
            sql = "INSERT OR REPLACE INTO replies (key, at, messages) VALUES (?, ?, ?)"
            values = (f"{chat_id}:{message_id}", time.time(), json.dumps(list(replies)))
            row = int(db.execute(sql, values).lastrowid or 0)
            if row % 1000 == 0:
                db.execute("DELETE FROM replies WHERE rowid <= ?", (row - REPLIES_KEPT,))

        done = self._run(write)
        if isinstance(done, MemoryRecords):
            await done.remember_replies(chat_id, message_id, replies)

    async def replies(self, chat_id: int, message_id: int) -> tuple[int, ...] | None:
        sql = "SELECT messages FROM replies WHERE key = ?"
        row = self._run(lambda db: db.execute(sql, (f"{chat_id}:{message_id}",)).fetchone())
        if isinstance(row, MemoryRecords):
            return await row.replies(chat_id, message_id)
        return tuple(int(m) for m in json.loads(row[0])) if row else None

    async def published(self, keys: Sequence[str]) -> set[str]:
        def read(db: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), 500):  # well under SQLite's limit of variables
                batch = list(keys[start : start + 500])
                marks = ", ".join("?" * len(batch))
                sql = f"SELECT key FROM feed_items WHERE key IN ({marks})"  # noqa: S608 (only ? marks)
                found.update(row[0] for row in db.execute(sql, batch))
            return found

        rows = self._run(read)
        return await rows.published(keys) if isinstance(rows, MemoryRecords) else rows

    async def mark_published(self, key: str) -> None:
        sql = "INSERT OR IGNORE INTO feed_items (key, at) VALUES (?, ?)"
        done = self._run(lambda db: db.execute(sql, (key, time.time())))
        if isinstance(done, MemoryRecords):
            await done.mark_published(key)


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a (healthy) database, rather than busy or unwritable."""
    text = str(error).lower()
    return any(sign in text for sign in ("not a database", "malformed", "corrupt", "file is encrypted"))


def _migrate(db: sqlite3.Connection) -> None:
    """Create the tables, or bring those of an older version up to ``SCHEMA_VERSION``.

    A table missing columns (an older schema) is renamed aside (``<table>_before_v<N>``) and created anew,
    with the rows copied over where their columns match; nothing is deleted.
    """
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    for table, columns in _TABLES.items():
        wanted = [c.split()[0] for c in columns.split(", ")]
        found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if found and found != wanted:
            aside = f"{table}_before_v{SCHEMA_VERSION}"
            db.execute(f"ALTER TABLE {table} RENAME TO {aside}")
            db.execute(f"CREATE TABLE {table} ({columns})")
            if all(c in found or c in _DEFAULTS for c in wanted):  # rows that fit the new table are copied
                values = ", ".join(c if c in found else _DEFAULTS[c] for c in wanted)
                # Identifiers from the constants above, not from input.
                db.execute(f"INSERT INTO {table} ({', '.join(wanted)}) SELECT {values} FROM {aside}")  # noqa: S608
            _logger.warning("statistics table %s was of an older schema: migrated (old rows kept in %s)", table, aside)
        else:
            db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class LocalGuard:
    """Per-user limit on questions a minute; the first refusal in a minute is announced, later ones not.

    Users idle for a minute are forgotten, so memory follows the users of the last minute only.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._asked: dict[int, collections.deque[float]] = {}
        self._warned: dict[int, float] = {}
        self._swept = 0.0

    async def verdict(self, user_id: int) -> Verdict:
        """``check`` now."""
        return self.check(user_id)

    def check(self, user_id: int, now: float | None = None) -> Verdict:
        """Count one request of ``user_id`` at ``now`` (monotonic seconds) and judge it."""
        now = time.monotonic() if now is None else now
        self._sweep(now)
        asked = self._asked.setdefault(user_id, collections.deque())
        while asked and asked[0] <= now - 60:
            asked.popleft()
        if len(asked) < self.per_minute:
            asked.append(now)
            return Verdict.OK
        if now - self._warned.get(user_id, -60.0) >= 60:
            self._warned[user_id] = now
            return Verdict.WARN
        return Verdict.QUIET

    def __len__(self) -> int:
        """Users remembered."""
        return len(self._asked)

    def _sweep(self, now: float) -> None:
        """Once a minute, forget users with nothing in the last minute."""
        if now - self._swept < 60:
            return
        self._swept = now
        for user_id in [u for u, asked in self._asked.items() if not asked or asked[-1] <= now - 60]:
            del self._asked[user_id]
        for user_id in [u for u, at in self._warned.items() if at <= now - 60]:
            del self._warned[user_id]


class LocalReloads:
    """``Reloads`` for one process: there is nobody else to tell."""

    async def start(self) -> None:
        """Nothing to follow."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def spread(self, report: ReloadReport) -> Fleet | None:
        """Nothing to spread: this process alone serves."""
        return None
