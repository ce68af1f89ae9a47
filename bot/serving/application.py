"""The Telegram application: the handlers, how updates are processed, and what happens at start and stop."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

from bot.backend import open_backend
from bot.backend.interfaces import Backend
from bot.conversation import texts
from bot.conversation.handlers import Pasokh
from bot.feeds import FeedPoller
from bot.library import Library
from bot.sending import RedactingRequest, deliver
from bot.serving.metrics import Metrics
from bot.serving.updates import PerChatUpdateProcessor
from bot.settings import Settings

__all__ = ["build_application", "set_commands"]

_logger = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
CONNECTIONS = 256
"""Connections to the Bot API for what the bot sends (PTB's default; getUpdates has its own)."""


def build_application(
    settings: Settings,
    library: Library,
    backend: Backend | None = None,
    *,
    rate_limiter: bool = True,
    read_timeout: float | None = None,
    metrics: Metrics | None = None,
) -> App:
    """The bot's application over ``library``: handlers, per-chat ordered concurrency, rate limiting.

    ``backend`` holds the records, flood limits and reloads (``bot.backend.open_backend(settings)`` when
    None); it is started after the application and closed after it. ``read_timeout`` (seconds; PTB's
    default is 5) bounds the wait for the Bot API's answer to a call. ``metrics`` receives what the
    handlers count (for ``/metrics``; a private set when not given).
    """
    metrics = metrics or Metrics(library)
    backend = backend or open_backend(settings, library, on_reload=metrics.reloaded)

    feeds = FeedPoller(settings.feeds, library, backend.records, every=settings.feed_minutes * 60.0)

    async def post_init(application: App) -> None:
        log_start(application, settings, library)
        await set_commands(application, settings.admin_ids)
        await backend.start()
        feeds.start()  # a background task, cancelled at shutdown

    async def post_shutdown(application: App) -> None:
        await feeds.stop()
        await backend.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)  # editors' uploads are downloaded from there
        # A reply still goes out when its question was deleted meanwhile (cleaner bots delete /commands).
        .defaults(Defaults(allow_sending_without_reply=True))
        .concurrent_updates(PerChatUpdateProcessor(on_drop=metrics.dropped))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    hidden = (settings.token, settings.webhook_secret, settings.redis_password)
    timeouts = {} if read_timeout is None else {"read_timeout": read_timeout}
    builder = builder.request(RedactingRequest(hidden, connection_pool_size=CONNECTIONS, **timeouts))
    builder = builder.get_updates_request(RedactingRequest(hidden, connection_pool_size=1))  # PTB's default size
    if rate_limiter:
        builder = builder.rate_limiter(backend.rate_limiter)
    application: App = builder.build()
    Pasokh(settings, library, backend, metrics, feeds=feeds).register(application)
    return application


def log_start(application: App, settings: Settings, library: Library) -> None:
    """Say what the bot serves, which seed files it skipped, and what privacy mode lets it see."""
    me = application.bot.bot
    index = library.index
    _logger.info("serving %d articles, %d sentences as @%s", len(index.articles), len(index), me.username)
    for rejected in library.rejected:
        _logger.warning("skipped seed file %s: %s", rejected.name, rejected.reason)
    for flawed in library.flawed:
        _logger.warning("seed file %s loaded with a flaw: %s", flawed.name, flawed.reason)
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
        _logger.warning("PASOKH_ADMIN_IDS is empty: nobody can publish, /reload, /stats or /unanswered")
    if settings.channel_ids:
        channels = ", ".join(map(str, sorted(settings.channel_ids)))
        _logger.info("posts of channels %s become articles (the bot must be an admin there)", channels)


def _commands(*names: str) -> list[BotCommand]:
    return [BotCommand(name, texts.COMMANDS[name]) for name in names]


async def set_commands(application: App, admin_ids: frozenset[int]) -> None:
    """Register the commands per scope; admins see theirs only in their own chats.

    A failure is logged, never fatal: the menu is a convenience, and the bot must start.
    """
    bot = application.bot
    scopes: list[tuple[str, list[BotCommand], Any]] = [
        ("private chats", _commands("start", "help", "ask"), BotCommandScopeAllPrivateChats()),
        ("groups", _commands("ask", "help"), BotCommandScopeAllGroupChats()),
    ]
    admin_commands = _commands("start", "help", "ask", "add", "articles", "remove", "reload", "stats", "unanswered")
    scopes += [(f"admin {admin}", admin_commands, BotCommandScopeChat(admin)) for admin in sorted(admin_ids)]
    for name, commands, scope in scopes:
        try:
            await deliver(partial(bot.set_my_commands, commands, scope=scope), what="command menu", idempotent=True)
        except TelegramError as exc:  # e.g. an admin who has not started a chat with the bot yet
            _logger.warning("could not set the command menu for %s: %s", name, exc)
