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

__all__ = [
    "ATTEMPTS",
    "Failure",
    "RedactingRequest",
    "SecretFinder",
    "classify",
    "deliver",
    "retry_seconds",
    "tls_context",
]

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
    without the secret. The URL, which carries the token by design, is left alone. What counts as a
    secret shown: see ``SecretFinder``.
    """

    def __init__(self, secrets: Iterable[str | None], **options: Any) -> None:
        super().__init__(httpx_kwargs={"verify": tls_context()}, **options)
        secrets = list(secrets)
        halves = [s.split(":", 1)[1] for s in secrets if s and ":" in s]
        self._finder = SecretFinder([*secrets, *halves])

    async def do_request(  # type: ignore[override]
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        if request_data is not None and self._finder:
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
            return self._finder.redact(value)
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        return value


_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|tg-spoiler|code|pre|blockquote)>")
"""The tags display writes (bold, underline, quotes; Telegram's others without attributes, to be safe).
Anything else between ``<`` and ``>`` is text that is shown (plain-text parameters are not HTML) and
searched like the rest."""
_TAG_NAME = re.compile(r"</?([\w-]*)")
_EMPTY_TAGS = re.compile(r"<([\w-]+)></\1>")
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_INVISIBLES = re.compile(f"[{_INVISIBLE}]+")
_HIDDEN = f"(?:{_TAG.pattern}|[\\s{_INVISIBLE}])+"
"""What display may put between two characters of a secret without hiding them: HTML tags (a question's
words in bold), spaces, invisible marks."""
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'"}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))
_SHOWN = re.compile(f"(?P<hidden>{_HIDDEN})|{_ENTITY.pattern}|.", re.DOTALL)
"""One character as shown per match (an entity is one), or a stretch of what hides nothing."""
_DIGIT_SHAPES = ("0123456789", "۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩")
_ASCII_DIGITS = str.maketrans("".join(_DIGIT_SHAPES[1:]), _DIGIT_SHAPES[0] * 2)


class SecretFinder:
    """Finds secrets in outgoing text however display may have written them: in Persian or Arabic-Indic
    digits, with ``&amp;`` for ``&``, with spaces, invisible marks or HTML tags in between (a question's
    words set in bold: ``AAx-<b>token</b>_y`` shows the whole token), and cut (an inline description, a
    message's end): any run of more than half of a secret's characters counts (at least ``MIN_SECRET``;
    shorter secrets are not looked for, they would match ordinary text).

    Linear in the text: a first pass in C finds nothing in ordinary text; only text holding
    ``MIN_SECRET`` characters of a secret in a row is looked at closely.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = sorted({s.translate(_ASCII_DIGITS) for s in secrets if s and len(s) >= MIN_SECRET})
        grams = {s[i : i + MIN_SECRET] for s in self.secrets for i in range(len(s) - MIN_SECRET + 1)}
        # Each in the three digit shapes (display writes a number in one), as literals: a search for
        # literals skips ordinary text fast, where classes of digits would try every position.
        shaped = {g.translate(str.maketrans(_DIGIT_SHAPES[0], shape)) for g in grams for shape in _DIGIT_SHAPES}
        self._grams = re.compile("|".join(map(re.escape, sorted(shaped)))) if grams else None
        self._ascii_grams = re.compile("|".join(map(re.escape, sorted(grams)))) if grams else None

    def __bool__(self) -> bool:
        return self._grams is not None

    @staticmethod
    def _needed(secret: str) -> int:
        return min(len(secret), max(MIN_SECRET, len(secret) // 2 + 1))

    def redact(self, text: str) -> str:
        """``text`` with every secret shown in it replaced by ``REDACTED``; the HTML tags that were inside
        a secret stay after it, so that tags opened or closed outside it stay balanced."""
        if self._grams is None or self._ascii_grams is None:
            return text
        # First, in C: the text as shown, without spaces, tags and invisible marks. Nothing of a secret there
        # (almost always), nothing to do.
        shown_text = _INVISIBLES.sub("", _TAG.sub("", "".join(text.split())))
        if "&" in shown_text:
            shown_text = _ENTITY.sub(lambda m: _ENTITIES[m.group()], shown_text)
        if self._grams.search(shown_text) is None:
            return text
        shown: list[str] = []
        spans: list[tuple[int, int]] = []  # each character as shown, and where it is written in text
        for found in _SHOWN.finditer(text):
            if found.lastgroup == "hidden":
                continue
            written = found.group()
            shown.append(_ENTITIES.get(written, written).translate(_ASCII_DIGITS))
            spans.append((found.start(), found.end()))
        visible = "".join(shown)
        cuts: list[tuple[int, int]] = []
        at = 0
        while (gram := self._ascii_grams.search(visible, at)) is not None:
            start = gram.start()
            end = max((start + self._run(visible, start, secret) for secret in self.secrets), default=start)
            if end > start:
                cuts.append((spans[start][0], spans[end - 1][1]))
                at = end
            else:
                at = start + 1
        parts: list[str] = []
        done = 0
        for begin, finish in cuts:
            parts += [text[done:begin], _redacted(text[begin:finish])]
            done = finish
        redacted = "".join([*parts, text[done:]])
        while (emptied := _EMPTY_TAGS.sub("", redacted)) != redacted:  # «<b></b>» left where a secret was
            redacted = emptied
        return redacted

    def _run(self, visible: str, start: int, secret: str) -> int:
        """The longest run of ``secret``'s characters at ``visible[start:]``, when it is long enough to
        count; else 0."""
        best, gram = 0, visible[start : start + MIN_SECRET]
        at = secret.find(gram)
        while at >= 0:
            length = MIN_SECRET
            while start + length < len(visible) and at + length < len(secret):
                if visible[start + length] != secret[at + length]:
                    break
                length += 1
            best = max(best, length)
            at = secret.find(gram, at + 1)
        return best if best >= self._needed(secret) else 0


def _name(tag: str) -> str:
    found = _TAG_NAME.match(tag)
    return found.group(1) if found else ""


def _redacted(written: str) -> str:
    """``REDACTED`` in place of a secret as written, followed by the HTML tags that were inside it (a tag
    opened and closed inside is dropped with its text)."""
    kept: list[str] = []
    for tag in _TAG.findall(written):
        if tag.startswith("</") and kept and not kept[-1].startswith("</") and _name(kept[-1]) == _name(tag):
            kept.pop()
        else:
            kept.append(tag)
    return REDACTED + "".join(kept)
