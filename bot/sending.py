"""Calling the Bot API with retries: resend what surely did not go out, never what may have.

The Bot API has no idempotency key, so a message that may have reached Telegram can be neither resent
(a duplicate) nor given up (a loss) safely. What each failure means, and what ``deliver`` does:

=====================================================  ==========================  =======================
failure                                                anything sent?              ``deliver``
=====================================================  ==========================  =======================
429 Too Many Requests (``RetryAfter``)                 no                          waits, resends
5xx or another non-4xx error status                    no: Telegram said it failed backs off, resends
connection refused; connect, pool or write timeout     no: never wholly sent       backs off, resends
connection closed without an answer                    unknown, usually not        resends: at least once
read timeout (no answer in time)                       unknown, usually yes        gives up: at most once
400, 403 and other refusals                            no, and never will be       raises
=====================================================  ==========================  =======================

A connection closed with no answer is most often a stale keep-alive connection or a proxy reset before
the request reached the Bot API; a read timeout means Telegram has the whole request and is slow, and it
finishes what it received. So a message is resent after the first and not after the second: a rare
duplicate in one case, a rare loss in the other, each logged. Calls that can be repeated harmlessly
(editing a message, answering a button press or an inline query) are resent after any network failure;
a 400 after such a resend means the first attempt went through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
from collections.abc import Awaitable, Callable

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

__all__ = ["ATTEMPTS", "Failure", "classify", "deliver", "retry_seconds"]

_logger = logging.getLogger(__name__)

ATTEMPTS = 5
"""Calls per request at most (the first and four resends)."""
BACKOFF = 0.5
"""Seconds before the first resend after an error; doubled after each further error."""
MAX_BACKOFF = 8.0

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout, httpx.WriteError)
_NO_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError)


class Failure(enum.Enum):
    """What a failed Bot API call tells about whether Telegram acted on it."""

    NOT_SENT = "not sent"
    NO_ANSWER = "connection closed without an answer"
    MAYBE_SENT = "no answer in time"
    REFUSED = "refused"


def classify(error: TelegramError) -> Failure:
    """Read PTB's exception (and the httpx exception it was raised from) as one of the failures above."""
    if isinstance(error, RetryAfter):
        return Failure.NOT_SENT
    if isinstance(error, BadRequest) or not isinstance(error, NetworkError):
        return Failure.REFUSED
    cause = error.__cause__
    if cause is None or isinstance(cause, TelegramError):  # an error status (500; 502's HTML page)
        return Failure.NOT_SENT
    if isinstance(cause, _NEVER_SENT):
        return Failure.NOT_SENT
    if isinstance(cause, _NO_ANSWER):
        return Failure.NO_ANSWER
    return Failure.MAYBE_SENT  # a read timeout, or anything unforeseen: assume it may have gone out


def retry_seconds(error: RetryAfter) -> float:
    """The seconds Telegram asks to wait (``retry_after`` is an int, or a timedelta with PTB_TIMEDELTA)."""
    after = error.retry_after
    return after.total_seconds() if isinstance(after, dt.timedelta) else float(after)


async def deliver[T](
    call: Callable[[], Awaitable[T]],
    *,
    what: str = "message",
    idempotent: bool = False,
    attempts: int = ATTEMPTS,
) -> T | None:
    """Make one Bot API request with ``call()``, resending it as the module's policy says.

    Returns the result; or None when the outcome is unknown and resending could duplicate it (a read
    timeout), or when a resent idempotent call found its work already done. Raises Telegram's refusal
    (4xx) at once, and the last error when every attempt failed. ``what`` names the request in logs:
    never user text.
    """
    backoff = BACKOFF
    maybe_done = False
    attempt = 1
    while True:
        try:
            return await call()
        except TelegramError as error:
            failure = classify(error)
            if failure is Failure.REFUSED:
                if idempotent and maybe_done and isinstance(error, BadRequest):
                    _logger.info("%s was already done by an attempt that got no answer (%s)", what, error)
                    return None
                raise
            if failure is Failure.MAYBE_SENT and not idempotent:
                _logger.warning("%s may not have been delivered (%s); not resent, to avoid a duplicate", what, error)
                return None
            if attempt >= attempts:
                _logger.warning("%s failed %d times; giving up (%s)", what, attempt, error)
                raise
            maybe_done = maybe_done or failure is not Failure.NOT_SENT
            wait = retry_seconds(error) if isinstance(error, RetryAfter) else backoff
            _logger.info("%s: %s (%s); attempt %d in %.1f s", what, failure.value, error, attempt + 1, wait)
            await asyncio.sleep(wait)
            backoff = min(2 * backoff, MAX_BACKOFF)
            attempt += 1
