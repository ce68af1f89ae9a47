"""Several workers behind one load balancer, sharing one Redis (``PASOKH_REDIS_URL``).

What lives in Redis, every key under ``pasokh:``:

=========================  ======  ============================================================
key                        type    what
=========================  ======  ============================================================
``counters``               hash    questions answered and unanswered (``HINCRBY``)
``unanswered``             list    unanswered questions, newest first, ``UNANSWERED_KEPT`` at most
``asked``                  hash    question id -> chat and question, for result buttons; the
                                   newest ``ASKED_KEPT`` (ids from ``asked:id``)
``replies:<chat>:<msg>``    string  the bot's messages that answered message ``msg`` (a JSON list), so
                                   an edit of the question edits them at any worker; expire after
                                   ``REPLIES_SECONDS``
``index:version``          int     bumped by every successful ``/reload``
``index:announced``        float   when it was last bumped (Unix time)
``reload``                 pubsub  ``{"version", "at", "by"}`` after each bump
``workers``                hash    worker -> the version it serves, its last heartbeat, errors
``limits:*``, ``pause``    —       flood limits (``limits``)
=========================  ======  ============================================================

==================  =====================================================================
module              what
==================  =====================================================================
``connection``      ``SharedRedis``: the worker's client, and whether Redis answers now
``records``         ``RedisRecords``: counters, the unanswered log, asked questions, replies
``limits``          ``SharedGuard`` and ``SharedRateLimiter``: flood limits for all workers
``reloads``         ``ReloadSync``: a ``/reload`` at one worker reaches every worker
==================  =====================================================================

A Redis outage never stops answers: calls fail fast, are logged once, and each part falls back (counters
and the unanswered log are not recorded, result buttons expire, flood limits hold per process) until
Redis answers again.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.backend.interfaces import Backend
from bot.backend.shared.connection import SharedRedis
from bot.backend.shared.limits import SharedGuard, SharedRateLimiter
from bot.backend.shared.records import RedisRecords
from bot.backend.shared.reloads import ReloadSync
from bot.library import Library, ReloadReport

__all__ = ["open_shared"]


def open_shared(
    url: str,
    library: Library,
    *,
    questions_per_minute: int,
    lookups_per_minute: int,
    messages_per_second: int,
    rate_limit_retries: int,
    on_reload: Callable[[ReloadReport], None] | None = None,
) -> Backend:
    """Everything in the Redis at ``url``, on one connection pool."""
    shared = SharedRedis(url)
    return Backend(
        records=RedisRecords(shared),
        questions=SharedGuard(shared, "questions", questions_per_minute),
        lookups=SharedGuard(shared, "lookups", lookups_per_minute),
        reloads=ReloadSync(shared, library, on_reload=on_reload),
        rate_limiter=SharedRateLimiter(shared, per_second=messages_per_second, max_retries=rate_limit_retries),
    )
