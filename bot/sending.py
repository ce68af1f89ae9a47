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
import functools
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

__all__ = ["ATTEMPTS", "Failure", "RedactingRequest", "classify", "deliver", "retry_seconds", "tls_context"]

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


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (its CA bundle, ``SSL_CERT_FILE`` honoured), made once per process:
    loading the CA bundle takes about 50 ms, and each HTTP client would load it again."""
    return httpx.create_ssl_context()


REDACTED = "[…]"
MIN_SECRET = 8
"""Shorter strings are not treated as secrets (they would match ordinary text)."""


class RedactingRequest(HTTPXRequest):
    """PTB's HTTP transport, with a last guard: no request leaves with a secret in its parameters.

    Article text is served as written, and an article could hold the bot's token or the webhook secret
    (a seed file copied from the wrong place). Every parameter of every Bot API call (texts, captions,
    inline results, keyboards) is checked; a secret found is replaced with ``REDACTED`` and logged,
    without the secret. The URL, which carries the token by design, is left alone.
    """

    def __init__(self, secrets: Iterable[str | None], **options: Any) -> None:
        super().__init__(httpx_kwargs={"verify": tls_context()}, **options)
        secrets = list(secrets)
        halves = [s.split(":", 1)[1] for s in secrets if s and ":" in s]
        found = sorted({s for s in [*secrets, *halves] if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        # The whole token before its half; as shown too: Persian digits, spaces or ZWNJ between characters.
        self._secrets = [_shown_forms(secret) for secret in found]

    async def do_request(  # type: ignore[override]
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        if request_data is not None and self._secrets:
            request_data = self._redacted(url, request_data)
        return await super().do_request(url, method, request_data, **timeouts)

    def _redacted(self, url: str, request_data: RequestData) -> RequestData:
        """The request with every secret replaced (uploads, which this bot never makes, pass as they are).

        PTB calls ``RequestData`` an implementation detail: rebuilt here from its public ``parameters``
        (``tests/test_security.py`` checks the result on the wire).
        """
        if request_data.contains_files:
            return request_data
        given = request_data.parameters
        # setWebhook's secret_token is where the webhook secret belongs: the one place it may go.
        scrubbed = {name: value if name == "secret_token" else self._scrub(value) for name, value in given.items()}
        if scrubbed == given:
            return request_data
        _logger.warning("a secret was removed from an outgoing %s request", url.rsplit("/", 1)[-1])
        return RequestData([RequestParameter(name, value, None) for name, value in scrubbed.items()])

    def _scrub(self, value: object) -> object:
        if isinstance(value, str):
            for secret in self._secrets:
                value = secret.sub(REDACTED, value)
            return value
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        return value


_DIGIT_FORMS = {str(d): f"{d}{chr(0x06F0 + d)}{chr(0x0660 + d)}" for d in range(10)}


def _shown_forms(secret: str) -> re.Pattern[str]:
    """``secret`` however display may have written it: any digit shape, spaces or ZWNJ in between."""
    parts = [f"[{_DIGIT_FORMS[c]}]" if c in _DIGIT_FORMS else re.escape(c) for c in secret]
    return re.compile("[\\s\u200c\u200f\u200e]*".join(parts))
