"""A Telegram Bot API stand-in for tests and benchmarks: an aiohttp server on 127.0.0.1 reached over real HTTP.

    async with BotApiStandin() as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()

It is strict like Telegram (HTML entities, 4096 characters, "message is not modified", 64-byte
callback data, 409 for getUpdates while a webhook is set), records every call (`calls`, `wait_for`),
builds and injects realistic updates, and injects faults (`fail_next`, `set_fault_rate`; the kinds
are described in `faults`). `release()` ends every pending "slow" or "stall" wait at once. Long runs
call `forget()` between rounds to drop what was recorded, and `add_listener` to see each call as it
settles. It answers only the methods the bot calls: getMe, getUpdates, setWebhook, deleteWebhook,
sendMessage, editMessageText, answerCallbackQuery, answerInlineQuery, setMyCommands (`commands()`
shows what setMyCommands stored) and getFile; any other method is a 404, like an unknown one. Files
users sent (`document_message`) are downloaded at `/file/bot<token>/<file_path>` once getFile gave the
path, as from Telegram (recorded as calls of "download").

Setup a test needs: run the stand-in and the application on the same event loop; bypass proxies for
loopback (`monkeypatch.setenv` each item of `no_proxy_env()` before building the application); set
PTB_TIMEDELTA=1 when warnings are errors and a test injects 429s (PTB 22.x warns while building every
RetryAfter otherwise); stop the application before the stand-in (stopping wakes pending long polls).
Injected updates are queued for getUpdates while no webhook is set; in webhook mode, deliver them with
`post_to_webhook`. MarkdownV2 text is not validated.

Modules: `protocol` (constants, error answers, records), `html` (entities and the HTML parse mode),
`faults`, `wire` (HTTP bodies and loopback helpers), `state`, `methods`, `delivery` (polling and
webhooks), `updates` (building incoming updates) and `server` (`BotApiStandin`).
"""

from bot.testing.standin.faults import SEND_METHODS, Fault
from bot.testing.standin.html import parse_html, text_entities, utf16_len
from bot.testing.standin.protocol import (
    CHANNEL_ID,
    DEFAULT_TOKEN,
    FIRST_NAME,
    GROUP_ID,
    JSON,
    MAX_INLINE_RESULTS,
    MAX_TEXT,
    SECRET_HEADER,
    USER_ID,
    ApiError,
    Call,
    Injected,
    SentMessage,
    bad_request,
)
from bot.testing.standin.server import BotApiStandin
from bot.testing.standin.wire import UploadedFile, free_port, no_proxy_env

__all__ = [
    "CHANNEL_ID",
    "DEFAULT_TOKEN",
    "FIRST_NAME",
    "GROUP_ID",
    "JSON",
    "MAX_INLINE_RESULTS",
    "MAX_TEXT",
    "SECRET_HEADER",
    "SEND_METHODS",
    "USER_ID",
    "ApiError",
    "BotApiStandin",
    "Call",
    "Fault",
    "Injected",
    "SentMessage",
    "UploadedFile",
    "bad_request",
    "free_port",
    "no_proxy_env",
    "parse_html",
    "text_entities",
    "utf16_len",
]
