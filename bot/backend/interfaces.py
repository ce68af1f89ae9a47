"""What the handlers need from state, limits and reloads, whether one process or several workers serve.

``bot.backend.local`` implements these for one process (SQLite, memory); ``bot.backend.shared`` for
several workers sharing Redis. ``bot.backend.open_backend`` picks one from the settings.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.errors import FolderProblem

if TYPE_CHECKING:
    from telegram.ext import BaseRateLimiter

    from bot.library import ReloadReport

__all__ = [
    "ASKED_KEPT",
    "REPLIES_KEPT",
    "REPLIES_SECONDS",
    "UNANSWERED_KEPT",
    "Asked",
    "Backend",
    "Fleet",
    "Guard",
    "Records",
    "Reloads",
    "Unanswered",
    "Verdict",
    "WorkerFailure",
]

ASKED_KEPT = 50_000
"""Questions kept for paging their results; older buttons then say the results have expired."""
UNANSWERED_KEPT = 1_000
"""Unanswered questions kept for ``/unanswered``."""
REPLIES_KEPT = 10_000
"""Questions whose replies are remembered (one process), so that an edited question edits its reply."""
REPLIES_SECONDS = 2 * 86400
"""How long several workers remember the replies to a question (a Redis key each, expiring)."""


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


class Records(Protocol):
    """What the bot records: counters, the unanswered log, asked questions (for result buttons), the
    replies each question got (for edited questions), the feed items published.

    Recording never fails a question: an implementation that cannot store keeps going in memory or
    drops the record, and says so through ``saving``.
    """

    @property
    def saving(self) -> bool:
        """Whether records are being kept where they last (False: in memory only, or dropped)."""
        ...

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

    async def remember_replies(self, chat_id: int, message_id: int, replies: Sequence[int]) -> None:
        """Remember the bot's messages ``replies`` that answered message ``message_id`` of ``chat_id`` (the
        newest ``REPLIES_KEPT``, or for ``REPLIES_SECONDS``), so that an edit of the question edits them,
        whichever worker it reaches."""

    async def replies(self, chat_id: int, message_id: int) -> tuple[int, ...] | None:
        """The bot's messages that answered message ``message_id`` of ``chat_id``; None when unknown
        (never answered, forgotten, or the store cannot be reached)."""

    async def published(self, keys: Sequence[str]) -> set[str]:
        """Of ``keys`` (feed items, see ``bot.feeds.item_key``), those marked as published."""
        ...

    async def mark_published(self, key: str) -> None:
        """Remember that the feed item ``key`` was published (or is no article): it is never published again."""

    async def close(self) -> None:
        """Release the database or connection."""


class Verdict(enum.Enum):
    """A flood guard's answer for one request."""

    OK = "ok"
    """Within the limit: go on."""
    WARN = "warn"
    """Over the limit for the first time this minute: say so once, do nothing else."""
    QUIET = "quiet"
    """Over the limit, already said: stay silent."""


class Guard(Protocol):
    """A per-user limit of requests a minute."""

    per_minute: int

    async def verdict(self, user_id: int) -> Verdict:
        """Count one request of ``user_id`` and say whether it may go on."""
        ...


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """A worker that could not load an announced index version."""

    worker: str
    """Its host and process id."""
    problem: FolderProblem | None
    error: str
    """In English, for logs."""


@dataclass(frozen=True, slots=True)
class Fleet:
    """How far an announced index version has spread over the workers."""

    version: int
    live: int
    """Workers seen recently."""
    current: int
    """Of those, serving ``version`` or newer."""
    failures: tuple[WorkerFailure, ...] = ()
    """The workers that could not load ``version``."""
    announced: bool = True
    """False when Redis could not be reached to announce or to ask."""
    retry_every: float = 0.0
    """Seconds between the failed workers' retries."""

    @property
    def complete(self) -> bool:
        return self.announced and self.current >= self.live


class Reloads(Protocol):
    """Reloads across workers: the other workers follow one made here."""

    async def start(self) -> None:
        """Begin following reloads made elsewhere."""

    async def stop(self) -> None:
        """Stop following."""

    async def spread(self, report: ReloadReport) -> Fleet | None:
        """After a successful reload here: have every worker follow, and say how far it got (None: alone)."""


@dataclass(frozen=True, slots=True)
class Backend:
    """State, limits and reloads for the handlers, and the rate limiter for what the bot sends."""

    records: Records
    questions: Guard
    """The limit on questions a user asks."""
    lookups: Guard
    """The limit on a user's inline queries and button presses (a multiple of ``questions``)."""
    reloads: Reloads
    rate_limiter: BaseRateLimiter[Any]
    """Telegram's flood limits on what the bot sends."""

    async def start(self) -> None:
        await self.reloads.start()

    async def close(self) -> None:
        await self.reloads.stop()
        await self.records.close()
