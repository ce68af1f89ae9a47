"""State, flood limits and reloads: one process, or several workers sharing Redis.

The handlers see only the interfaces (``bot.backend.interfaces``); ``open_backend`` picks the
implementation from the settings, in this one place:

==============================  ===============================  ===================================
interface                       one process (``local``)          several workers (``shared``)
==============================  ===============================  ===================================
``Records``: counters, the      ``SqliteRecords``: a SQLite      ``RedisRecords``
unanswered log, asked           file in ``PASOKH_STATE_DIR``
questions
``Guard``: a user's requests    ``LocalGuard``: in memory        ``SharedGuard``: moving windows in
a minute                                                         Redis
``Reloads``: other workers      ``LocalReloads``: nobody to      ``ReloadSync``: announce and follow
follow a ``/reload``            tell                             through Redis
rate limiter (Telegram's        PTB's ``AIORateLimiter``         ``SharedRateLimiter``
flood limits)
==============================  ===============================  ===================================
"""

from __future__ import annotations

from collections.abc import Callable

from telegram.ext import AIORateLimiter

from bot.backend.interfaces import Backend
from bot.backend.local import LocalGuard, LocalReloads, SqliteRecords
from bot.library import Library, ReloadReport
from bot.settings import Settings

__all__ = ["LOOKUPS_PER_QUESTION", "RATE_LIMIT_RETRIES", "open_backend"]

LOOKUPS_PER_QUESTION = 3
"""Inline queries and button presses a user may make a minute, per question allowed a minute.

Inline mode asks again at every pause in typing, so it gets a larger allowance than questions."""
RATE_LIMIT_RETRIES = 3
"""Times a request refused with 429 is sent again by the rate limiter."""


def open_backend(
    settings: Settings, library: Library, *, on_reload: Callable[[ReloadReport], None] | None = None
) -> Backend:
    """Redis when ``settings.redis_url`` is set, else SQLite in ``settings.state_dir`` and memory.

    ``on_reload`` is told of every reload that follows another worker's (for metrics).
    """
    per_minute = settings.questions_per_minute
    if settings.redis_url is not None:
        from bot.backend.shared import open_shared

        return open_shared(
            settings.redis_url,
            library,
            questions_per_minute=per_minute,
            lookups_per_minute=per_minute * LOOKUPS_PER_QUESTION,
            messages_per_second=settings.messages_per_second,
            rate_limit_retries=RATE_LIMIT_RETRIES,
            on_reload=on_reload,
        )
    return Backend(
        records=SqliteRecords(settings.state_dir),
        questions=LocalGuard(per_minute),
        lookups=LocalGuard(per_minute * LOOKUPS_PER_QUESTION),
        reloads=LocalReloads(),
        rate_limiter=AIORateLimiter(max_retries=RATE_LIMIT_RETRIES),
    )
