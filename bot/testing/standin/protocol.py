"""The Bot API vocabulary every part of the stand-in shares: constants, error answers and records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bot.testing.standin.faults import Fault

JSON = dict[str, Any]
Handler = Callable[[JSON], object]
"""A synchronous Bot API method: its parameters in, its result out (or ApiError raised)."""

DEFAULT_TOKEN = "123456789:AAStandin-token_for_tests_0123456789"  # noqa: S105 (a made-up token)
USER_ID = 1001
FIRST_NAME = "Sara"
GROUP_ID = -1001234567890
CHANNEL_ID = -1009876543210
MAX_DOWNLOAD = 20 * 1024 * 1024
"""The largest file the Bot API lets a bot download (getFile answers «file is too big» above it)."""
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_TEXT = 4096
MAX_INLINE_RESULTS = 50


class ApiError(Exception):
    """An error answer: HTTP status, Telegram's description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> JSON:
        """The JSON body Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        return body | {"parameters": self.parameters} if self.parameters else body


def bad_request(description: str) -> ApiError:
    """A 400 answer with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {description}")


class Injected(NamedTuple):
    """An injected update and its id."""

    update: JSON
    update_id: int


@dataclass
class Call:
    """One recorded request; `status` stays None while pending and when never answered."""

    method: str
    params: JSON
    received: float  # time.monotonic()
    fault: Fault | None = None
    status: int | None = None
    response: JSON | None = None  # the answered JSON body (None for a dropped call or the 502 HTML page)


@dataclass
class SentMessage:
    """A message the bot sent, kept to validate later edits and to build replies and callbacks."""

    chat_id: int
    message_id: int
    text: str  # as sent: HTML source when parse_mode is HTML
    parse_mode: str | None
    reply_markup: JSON | None
    reply_to_message_id: int | None
    message: JSON  # the Message JSON, updated in place by edits
