"""Building the Telegram application and running it (long polling or webhook)."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import secrets
import sys
from collections.abc import Awaitable
from functools import partial
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseRateLimiter, BaseUpdateProcessor

from bot import texts
from bot.cluster import RedisStore, ReloadSync, SharedRedis
from bot.flood import FloodGuard, Guard, SharedFloodGuard, SharedRateLimiter
from bot.handlers import LOOKUPS_PER_QUESTION, Pasokh
from bot.library import Library
from bot.lifecycle import Serving, StartError, run_until_signal
from bot.metrics import Metrics
from bot.sending import deliver
from bot.settings import Settings, SettingsError
from bot.state import SqliteStore, State, Store
from retrieval import SeedsError

__all__ = ["PerChatUpdateProcessor", "build_application", "configure_logging", "run"]

_logger = logging.getLogger(__name__)

MAX_CONCURRENT_UPDATES = 256
MAX_WAITING_UPDATES = 1_000_000
"""PTB's own bound, taken before ours: high, so updates queued behind their chat hold no slot."""
RATE_LIMIT_RETRIES = 3


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one at a time, in order.

    An update first waits for its chat, then for one of ``max_concurrent_updates`` slots. (PTB's
    semaphore, taken before ``do_process_update``, would let a chat with hundreds of queued updates
    hold every slot while they wait for their turn, and stall all other chats; it is set very high.)
    So a busy group never delays a private chat, and answers in a chat come in the order asked.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(MAX_WAITING_UPDATES)
        self._running = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: collections.Counter[int] = collections.Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._running:
                await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] += 1
        try:
            async with lock, self._running:
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
    """Register the commands per scope; admins see theirs only in their own chats.

    A failure is logged, never fatal: the menu is a convenience, and the bot must start.
    """
    bot = application.bot
    scopes: list[tuple[str, list[BotCommand], Any]] = [
        ("private chats", _commands("start", "help", "ask"), BotCommandScopeAllPrivateChats()),
        ("groups", _commands("ask", "help"), BotCommandScopeAllGroupChats()),
    ]
    admin_commands = _commands("start", "help", "ask", "reload", "stats", "unanswered")
    scopes += [(f"admin {admin}", admin_commands, BotCommandScopeChat(admin)) for admin in sorted(admin_ids)]
    for name, commands, scope in scopes:
        try:
            await deliver(partial(bot.set_my_commands, commands, scope=scope), what="command menu", idempotent=True)
        except TelegramError as exc:  # e.g. an admin who has not started a chat with the bot yet
            _logger.warning("could not set the command menu for %s: %s", name, exc)


def build_application(
    settings: Settings,
    library: Library,
    state: State | None = None,
    *,
    rate_limiter: bool = True,
    concurrent: bool = True,
    read_timeout: float | None = None,
    metrics: Metrics | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the application: handlers, per-chat ordered concurrency, rate limiting, start-up checks.

    ``read_timeout`` (seconds; PTB's default is 5) bounds the wait for the Bot API's answer to a call.
    ``metrics`` receives what the handlers count (for ``/metrics``; a private set when not given).

    With ``settings.redis_url`` the workers share Redis (``bot.cluster``): stats, the unanswered log and
    asked questions live there, reloads reach every worker, and flood limits hold for all of them
    together; ``state`` must then be None. Without it, ``state`` (opened from ``settings.state_dir`` when
    None) keeps them in SQLite, and the limits hold per process.
    """
    metrics = metrics or Metrics(library)
    per_minute = settings.questions_per_minute
    store: Store
    guards: tuple[Guard, Guard]
    reloads: ReloadSync | None = None
    limiter: BaseRateLimiter[Any] = AIORateLimiter(max_retries=RATE_LIMIT_RETRIES)
    if settings.redis_url is None:
        store = SqliteStore(state or State(settings.state_dir))
        guards = (FloodGuard(per_minute), FloodGuard(per_minute * LOOKUPS_PER_QUESTION))
    else:
        if state is not None:
            raise ValueError("with a Redis URL the state lives in Redis: pass no SQLite state")
        shared = SharedRedis(settings.redis_url)
        store = RedisStore(shared)
        reloads = ReloadSync(shared, library, on_reload=metrics.reloaded)
        limiter = SharedRateLimiter(shared, per_second=settings.messages_per_second, max_retries=RATE_LIMIT_RETRIES)
        guards = (
            SharedFloodGuard(shared, "questions", per_minute),
            SharedFloodGuard(shared, "lookups", per_minute * LOOKUPS_PER_QUESTION),
        )
    pasokh = Pasokh(settings, library, store, metrics, guards=guards, reloads=reloads)

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
        if reloads is not None:
            await reloads.start()

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if reloads is not None:
            await reloads.stop()
        await store.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .concurrent_updates(PerChatUpdateProcessor() if concurrent else False)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if read_timeout is not None:
        builder = builder.read_timeout(read_timeout)
    application: Application[Any, Any, Any, Any, Any, Any] = (
        builder.rate_limiter(limiter).build() if rate_limiter else builder.build()
    )
    pasokh.register(application)
    return application


class _RedactingFormatter(logging.Formatter):
    """Replaces the bot token wherever it would appear in a log line, tracebacks included.

    The token's secret half (after the colon) is redacted on its own too.
    """

    def __init__(self, secrets_: list[str], fmt: str) -> None:
        super().__init__(fmt)
        halves = [s.split(":", 1)[1] for s in secrets_ if ":" in s]
        hidden = {s for s in secrets_ if s} | {h for h in halves if len(h) >= 8}
        self._secrets = sorted(hidden, key=len, reverse=True)  # longest first: a half never splits a token

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure_logging(*hidden: str, level: int = logging.INFO) -> None:
    """Log to stderr with the given secrets redacted; keep httpx quiet (its URLs hold the token).

    Python's warnings go through the same handler, so they are redacted too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(list(hidden), "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def run(
    *, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int | None = None, debug: bool = False
) -> int:
    """Run the bot until SIGINT or SIGTERM; return the process exit code.

    Long polling, or a webhook at ``webhook_url``; the HTTP server (webhook, ``/healthz``, ``/metrics``)
    listens on ``listen``:``port`` (webhook mode: port 8443 unless given; polling mode: only when given).

    Every failure is logged through the redacting handler, never printed as a bare traceback: PTB's
    exceptions can hold the token (``InvalidToken`` quotes it).
    """
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"pasokh: error: {exc}", file=sys.stderr)
        return 2
    if webhook_url is not None:
        try:
            settings.require_shared_secret()  # several workers must all accept Telegram's one secret
        except SettingsError as exc:
            print(f"pasokh: error: {exc}", file=sys.stderr)
            return 2
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    hidden = [settings.token, secret, *filter(None, [settings.redis_password])]
    configure_logging(*hidden, level=logging.DEBUG if debug else logging.INFO)
    # PTB 22's opt-in to timedelta durations: without it every RetryAfter emits a deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    serving = Serving(webhook_url=webhook_url, secret=secret, listen=listen, port=port)
    try:
        return _run(settings, serving)
    except InvalidToken:
        _logger.error("the Bot API at %s rejected TELEGRAM_BOT_TOKEN: check it with @BotFather", settings.api_base_url)
        return 2
    except StartError as exc:
        _logger.error("cannot start: %s", exc)
        return 2
    except Exception:
        _logger.critical("the bot stopped on an unexpected error", exc_info=True)
        return 1


def _run(settings: Settings, serving: Serving) -> int:
    library = Library(settings.seeds_dir, settings.index_dir)
    try:
        library.open()
    except SeedsError as exc:
        _logger.error("cannot start: %s", exc)
        return 2
    metrics = Metrics(library)
    application = build_application(settings, library, metrics=metrics)
    # Until the Bot API answers, the bot asks again (1 s, then 1.5 times longer each time, up to 30 s).
    _logger.info("connecting to the Bot API at %s", settings.api_base_url)
    asyncio.run(run_until_signal(application, metrics, serving))
    _logger.info("stopped")
    return 0
