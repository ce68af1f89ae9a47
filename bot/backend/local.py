"""One process: records in SQLite, flood limits in memory, PTB's rate limiter, no one to tell of reloads.

The database runs in WAL mode and commits every record on its own, so a crash (even ``kill -9``)
mid-write leaves a readable file that lacks at most the record being written.
"""

from __future__ import annotations

import collections
import sqlite3
import threading
import time
from pathlib import Path

from bot.backend.interfaces import ASKED_KEPT, UNANSWERED_KEPT, Asked, Fleet, Unanswered, Verdict
from bot.library import ReloadReport

__all__ = ["LocalGuard", "LocalReloads", "SqliteRecords"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_type TEXT NOT NULL, question TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS asked (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_id INTEGER NOT NULL, question TEXT NOT NULL
);
"""


class SqliteRecords:
    """``Records`` in a SQLite file. Each call takes well under a millisecond, so it runs inline; the
    methods are thread-safe."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "pasokh.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, *params: object) -> int:
        with self._lock:
            cursor = self._db.execute(sql, params)
            return int(cursor.lastrowid or 0)

    async def count(self, name: str, by: int = 1) -> None:
        self._write(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            name,
            by,
            by,
        )

    async def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT name, value FROM counters").fetchall())

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        row = self._write(
            "INSERT INTO unanswered (at, chat_type, question) VALUES (?, ?, ?)", time.time(), chat_type, question
        )
        if row % 100 == 0:
            self._write("DELETE FROM unanswered WHERE id <= ?", row - UNANSWERED_KEPT)

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, chat_type, question FROM unanswered ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Unanswered(*row) for row in rows]

    async def remember_question(self, chat_id: int, question: str) -> int:
        row = self._write("INSERT INTO asked (at, chat_id, question) VALUES (?, ?, ?)", time.time(), chat_id, question)
        if row % 1000 == 0:
            self._write("DELETE FROM asked WHERE id <= ?", row - ASKED_KEPT)
        return row

    async def asked(self, question_id: int) -> Asked | None:
        with self._lock:
            row = self._db.execute("SELECT id, chat_id, question FROM asked WHERE id = ?", (question_id,)).fetchone()
        return Asked(*row) if row else None


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
