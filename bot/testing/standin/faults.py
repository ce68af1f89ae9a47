"""Injected faults: their kinds, the queued and random rules choosing them, and the errors they answer.

400 (a refusal, "Bad Request: injected fault"), 429 (with retry_after), 500, 502 (nginx's HTML page)
and "drop" (the connection closed before the call is processed) leave nothing behind; "slow"
processes the call and answers after `delay` (past the client's timeout: the message WAS sent);
"drop_after" processes the call and closes the connection without an answer; "stall" answers nothing
for `delay`, then closes the connection without processing the call.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from bot.testing.standin.protocol import ApiError, bad_request

Fault = Literal[400, 429, 500, 502, "slow", "drop", "drop_after", "stall"]

SEND_METHODS = frozenset({"sendMessage", "editMessageText", "answerCallbackQuery", "answerInlineQuery"})
"""The methods that send something to users: random faults hit these unless told otherwise."""

UNPROCESSED: frozenset[Fault] = frozenset({400, 429, 500, 502, "drop"})
"""Kinds answered at once without processing the call."""

BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)
"""nginx's page, not JSON, as Telegram's front end sends it with a 502."""


@dataclass(frozen=True)
class FaultRule:
    """One fault to inject: its kind, the retry_after of a 429 and the delay of "slow" and "stall"."""

    kind: Fault
    retry_after: int
    delay: float


@dataclass(frozen=True)
class _FaultRate:
    rate: float
    kinds: tuple[Fault, ...]
    methods: frozenset[str]
    retry_after: int
    delay: float
    rng: random.Random


@dataclass
class FaultPlan:
    """Which calls fault: queued rules per method first, then a random share of calls to some methods."""

    _queue: dict[str, list[FaultRule]] = field(default_factory=dict)
    _rate: _FaultRate | None = None

    def fail_next(self, method: str, kind: Fault, count: int, *, retry_after: int, delay: float) -> None:
        """Queue `count` faults for the next calls of `method`."""
        self._queue.setdefault(method, []).extend([FaultRule(kind, retry_after, delay)] * count)

    def set_rate(
        self,
        rate: float,
        kinds: Iterable[Fault],
        seed: int | None,
        *,
        methods: Iterable[str],
        retry_after: int,
        delay: float,
    ) -> None:
        """Fault a random share `rate` of calls to `methods` with one of `kinds` (0 switches off)."""
        args = (rate, tuple(kinds), frozenset(methods), retry_after, delay, random.Random(seed))
        self._rate = _FaultRate(*args) if rate > 0 else None

    def pick(self, method: str) -> FaultRule | None:
        """The queued fault for this call, else a random one when a fault rate applies."""
        if queue := self._queue.get(method):
            return queue.pop(0)
        if (faults := self._rate) and method in faults.methods and faults.rng.random() < faults.rate:
            return FaultRule(faults.rng.choice(faults.kinds), faults.retry_after, faults.delay)
        return None


def injected_error(rule: FaultRule) -> ApiError:
    """The JSON error answer of a 400, 429 or 500 fault."""
    if rule.kind == 429:
        retry = rule.retry_after
        return ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
    if rule.kind == 400:
        return bad_request("injected fault")
    return ApiError(500, "Internal Server Error")
