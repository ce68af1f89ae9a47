"""What the bot remembers across restarts, in SQLite: counters, unanswered questions, asked questions.

The database runs in WAL mode and commits every record on its own, so a crash (even ``kill -9``)
mid-write leaves a readable file that lacks at most the record being written.

Handlers see the state through ``Store``, which both ``SqliteStore`` (one process, this file) and
``bot.cluster.RedisStore`` (several workers sharing Redis) provide.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["ASKED_KEPT", "UNANSWERED_KEPT", "Asked", "SqliteStore", "State", "Store", "Unanswered"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_type TEXT NOT NULL, question TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS asked (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, chat_id INTEGER NOT NULL, question TEXT NOT NULL
);
"""
# Questions kept for paging their results; older buttons then say the results have expired.
ASKED_KEPT = 50_000
UNANSWERED_KEPT = 1_000


@dataclass(frozen=True, slots=True)
class Unanswered:
    at: float
    chat_type: str
    question: str


@dataclass(frozen=True, slots=True)
class Asked:
    id: int
    chat_id: int
    question: str


class State:
    """The bot's SQLite state. Methods are quick and thread-safe; call them from any thread."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "pasokh.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, *params: object) -> int:
        with self._lock:
            cursor = self._db.execute(sql, params)
            return int(cursor.lastrowid or 0)

    def count(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the counter ``name``."""
        self._write(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            name,
            by,
            by,
        )

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT name, value FROM counters").fetchall())

    def log_unanswered(self, question: str, chat_type: str) -> None:
        """Remember a question that got no answer (the newest ``UNANSWERED_KEPT`` are kept)."""
        row = self._write(
            "INSERT INTO unanswered (at, chat_type, question) VALUES (?, ?, ?)", time.time(), chat_type, question
        )
        if row % 100 == 0:
            self._write("DELETE FROM unanswered WHERE id <= ?", row - UNANSWERED_KEPT)

    def unanswered(self, limit: int = 20) -> list[Unanswered]:
        """The last ``limit`` unanswered questions, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, chat_type, question FROM unanswered ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Unanswered(*row) for row in rows]

    def remember_question(self, chat_id: int, question: str) -> int:
        """Store a question so its result buttons can find it again; return its id."""
        row = self._write("INSERT INTO asked (at, chat_id, question) VALUES (?, ?, ?)", time.time(), chat_id, question)
        if row % 1000 == 0:
            self._write("DELETE FROM asked WHERE id <= ?", row - ASKED_KEPT)
        return row

    def asked(self, question_id: int) -> Asked | None:
        with self._lock:
            row = self._db.execute("SELECT id, chat_id, question FROM asked WHERE id = ?", (question_id,)).fetchone()
        return Asked(*row) if row else None


class Store(Protocol):
    """The state handlers use: counters, the unanswered log, asked questions (for result buttons)."""

    async def count(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the counter ``name``."""

    async def counters(self) -> dict[str, int]:
        """Every counter."""

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        """Remember a question that got no answer (the newest ``UNANSWERED_KEPT`` are kept)."""

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        """The last ``limit`` unanswered questions, newest first."""

    async def remember_question(self, chat_id: int, question: str) -> int:
        """Store a question so its result buttons can find it again (the newest ``ASKED_KEPT``); its id."""

    async def asked(self, question_id: int) -> Asked | None:
        """A remembered question, or None when unknown or expired."""

    async def close(self) -> None:
        """Release the connection."""


class SqliteStore:
    """``Store`` over the SQLite ``State``: its calls take well under a millisecond, so they run inline."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def count(self, name: str, by: int = 1) -> None:
        self.state.count(name, by)

    async def counters(self) -> dict[str, int]:
        return self.state.counters()

    async def log_unanswered(self, question: str, chat_type: str) -> None:
        self.state.log_unanswered(question, chat_type)

    async def unanswered(self, limit: int = 20) -> list[Unanswered]:
        return self.state.unanswered(limit)

    async def remember_question(self, chat_id: int, question: str) -> int:
        return self.state.remember_question(chat_id, question)

    async def asked(self, question_id: int) -> Asked | None:
        return self.state.asked(question_id)

    async def close(self) -> None:
        self.state.close()
