"""``pasokh run``: read the settings, open the library, build the application and serve until a signal."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import sys

from telegram.error import InvalidToken

from bot.library import Library
from bot.serving.application import build_application
from bot.serving.lifecycle import Serving, StartError, run_until_signal
from bot.serving.logs import configure_logging
from bot.serving.metrics import Metrics
from bot.settings import Settings, SettingsError

__all__ = ["run"]

_logger = logging.getLogger(__name__)


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
    if settings.webhook_secret is None:  # one per start; the webhook and the outgoing guard use it
        settings = dataclasses.replace(settings, webhook_secret=secrets.token_urlsafe(32))
    secret = settings.webhook_secret or ""
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


def _library(settings: Settings) -> Library:
    """The index the bot answers from: here, or sharded over a Ray cluster (imported only then)."""
    if settings.cluster is None:
        return Library(settings.seeds_dir, settings.index_dir)
    from bot.sharded import ShardedLibrary

    assert settings.index_dir is not None  # the settings require it with a cluster
    return ShardedLibrary(settings.seeds_dir, settings.index_dir, settings.cluster)


def _run(settings: Settings, serving: Serving) -> int:
    library = _library(settings)  # opened by the lifecycle, /healthz up first
    metrics = Metrics(library)
    application = build_application(settings, library, metrics=metrics)
    # Until the Bot API answers, the bot asks again (1 s, then 1.5 times longer each time, up to 30 s).
    _logger.info("connecting to the Bot API at %s", settings.api_base_url)
    asyncio.run(run_until_signal(application, metrics, serving))
    _logger.info("stopped")
    return 0
