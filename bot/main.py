"""Building the Telegram application and running it (long polling or webhook)."""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import sys
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseUpdateProcessor

from bot import texts
from bot.handlers import Pasokh
from bot.library import Library
from bot.settings import Settings, SettingsError
from bot.state import State
from retrieval import SeedsError

__all__ = ["PerChatUpdateProcessor", "build_application", "configure_logging", "run"]

_logger = logging.getLogger(__name__)

MAX_CONCURRENT_UPDATES = 256
RATE_LIMIT_RETRIES = 3


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one at a time, in order.

    So a busy group never delays a private chat, and answers in a chat come in the order asked.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: collections.Counter[int] = collections.Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _commands(*names: str) -> list[BotCommand]:
    return [BotCommand(name, texts.COMMANDS[name]) for name in names]


async def set_commands(application: Application[Any, Any, Any, Any, Any, Any], admin_ids: frozenset[int]) -> None:
    """Register the commands per scope; admins see theirs only in their own chats."""
    bot = application.bot
    await bot.set_my_commands(_commands("start", "help", "ask"), scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(_commands("ask", "help"), scope=BotCommandScopeAllGroupChats())
    for admin in sorted(admin_ids):
        try:
            await bot.set_my_commands(
                _commands("start", "help", "ask", "reload", "stats", "unanswered"),
                scope=BotCommandScopeChat(chat_id=admin),
            )
        except TelegramError as exc:  # the admin has not started a chat with the bot yet
            _logger.warning("could not set the admin commands for user %s: %s", admin, exc)


def build_application(
    settings: Settings,
    library: Library,
    state: State,
    *,
    rate_limiter: bool = True,
    concurrent: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the application: handlers, per-chat ordered concurrency, rate limiting, start-up checks."""
    pasokh = Pasokh(settings, library, state)

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        me = application.bot.bot
        index = library.index
        _logger.info("serving %d articles, %d sentences as @%s", len(index.articles), len(index), me.username)
        for rejected in library.rejected:
            _logger.warning("skipped seed file %s: %s", rejected.name, rejected.reason)
        if me.can_read_all_group_messages:
            _logger.info("privacy mode is off: in groups the bot reads every message and answers mentions")
        else:
            _logger.warning(
                "privacy mode is on: in groups the bot only receives /ask@%s commands and replies to its "
                "messages, not plain @mentions; turn it off with BotFather's /setprivacy (then re-add the "
                "bot to the group) to answer mentions",
                me.username,
            )
        if not settings.admin_ids:
            _logger.warning("PASOKH_ADMIN_IDS is empty: nobody can /reload, /stats or /unanswered")
        await set_commands(application, settings.admin_ids)

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        state.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .concurrent_updates(PerChatUpdateProcessor() if concurrent else False)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    application: Application[Any, Any, Any, Any, Any, Any] = (
        builder.rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES)).build()
        if rate_limiter
        else builder.build()
    )
    pasokh.register(application)
    return application


class _RedactingFormatter(logging.Formatter):
    """Replaces the bot token wherever it would appear in a log line, tracebacks included."""

    def __init__(self, secrets_: list[str], fmt: str) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets_ if s]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure_logging(*hidden: str, level: int = logging.INFO) -> None:
    """Log to stderr with the given secrets redacted; keep httpx quiet (its URLs hold the token)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(list(hidden), "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def run(*, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int = 8443) -> int:
    """Run the bot until SIGINT or SIGTERM; return the process exit code."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"pasokh: error: {exc}", file=sys.stderr)
        return 2
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    configure_logging(settings.token, secret)
    library = Library(settings.seeds_dir, settings.index_dir)
    try:
        library.open()
    except SeedsError as exc:
        _logger.error("cannot start: %s", exc)
        return 2
    application = build_application(settings, library, State(settings.state_dir))
    if webhook_url is None:
        application.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
    else:
        path = urlsplit(webhook_url).path.strip("/")
        application.run_webhook(
            listen=listen,
            port=port,
            url_path=path,
            webhook_url=webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
        )
    _logger.info("stopped")
    return 0
