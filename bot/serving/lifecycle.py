"""Running the bot until a signal: connect, receive updates (long polling or webhook), stop cleanly.

One path for both modes, in place of PTB's ``run_polling`` / ``run_webhook`` (whose webhook server
cannot also serve ``/healthz`` and ``/metrics``):

1. start ``bot.serving.web.WebServer`` (webhook mode; polling mode only when a port is given): ``/healthz``
   answers 503 until the bot is up;
2. load the index, unless the library is open already (in a thread);
3. ``initialize`` the application (``getMe``), again and again with backoff until the Bot API answers;
   ``post_init``, ``start`` the application;
4. ``setWebhook`` (retried as in 3), or start long polling (PTB retries its own start-up calls);
5. wait for the stop event (SIGINT or SIGTERM), then stop the server and the poller, drop the updates
   still waiting (those being handled get ``STOP_GRACE`` seconds), stop the application, and
   ``post_shutdown``. The webhook stays set: other workers may still be receiving on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application

from bot.library import Library, Stopping
from bot.sending import Failure, classify, retry_seconds
from bot.serving.metrics import Metrics
from bot.serving.updates import PerChatUpdateProcessor
from bot.serving.web import WebServer
from retrieval import SeedsError
from retrieval.errors import ClusterError

__all__ = ["DEFAULT_WEBHOOK_PORT", "Serving", "StartError", "Stopped", "lifecycle", "run_until_signal", "serve"]

_logger = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
DEFAULT_WEBHOOK_PORT = 8443
FIRST_WAIT = 1.0
"""Seconds before asking an unanswering Bot API again; 1.5 times longer each time, up to ``MAX_WAIT``."""
MAX_WAIT = 30.0
STOP_GRACE = 30.0
"""Seconds the updates being handled at shutdown may take before they are cancelled; those still waiting
are dropped at once. Well inside the 75 s that deploy/ gives the bot to stop."""


class StartError(Exception):
    """The bot cannot start (its port is taken, the Bot API refuses the webhook); one line, no token."""


@dataclass(frozen=True, slots=True)
class Serving:
    """How updates arrive and what HTTP is served.

    ``webhook_url`` None means long polling; then the server (health and metrics only) runs only when
    ``port`` is given. With a webhook the port defaults to ``DEFAULT_WEBHOOK_PORT``.
    """

    webhook_url: str | None = None
    secret: str | None = None
    listen: str = "127.0.0.1"
    port: int | None = None

    def web_server(self, application: App, metrics: Metrics) -> WebServer | None:
        if self.webhook_url is None:
            if self.port is None:
                return None
            return WebServer(application, metrics, listen=self.listen, port=self.port)
        return WebServer(
            application,
            metrics,
            listen=self.listen,
            port=DEFAULT_WEBHOOK_PORT if self.port is None else self.port,
            webhook_path=urlsplit(self.webhook_url).path,
            secret=self.secret,
        )


async def _first(action: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await ``action`` unless ``stop`` is set first (then cancel it); True when the action finished."""
    task = asyncio.ensure_future(action)
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopping):
        if pending not in done:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task in done:
        task.result()  # its exception, if any
        return True
    return False


async def until_answered(call: Callable[[], Awaitable[Any]], what: str, stop: asyncio.Event) -> bool:
    """Make a repeatable Bot API call until it succeeds; False when ``stop`` was set first.

    Network failures, 5xx and 429 are retried forever with backoff (1 s, 1.5 times longer each time, up
    to 30 s; 429's own wait); a refusal (a bad token, a bad webhook URL) is raised at once.
    """
    backoff = FIRST_WAIT
    attempt = 1
    while True:
        try:
            return await _first(call(), stop)
        except TelegramError as error:
            if classify(error) is Failure.REFUSED:
                raise
            wait = retry_seconds(error) if isinstance(error, RetryAfter) else backoff
            _logger.warning(
                "the Bot API did not answer %s (attempt %d: %s); trying again in %.1f s", what, attempt, error, wait
            )
        if await _first(asyncio.sleep(wait), stop) is False:
            return False
        backoff = min(backoff * 1.5, MAX_WAIT)
        attempt += 1


async def _receive(application: App, serving: Serving, stop: asyncio.Event) -> bool:
    """Set the webhook or start polling; False when stopped before that was done."""
    if serving.webhook_url is None:
        if application.updater is None:
            raise StartError("long polling needs an application built with an updater")
        polling = application.updater.start_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
        started = await _first(polling, stop)
        if started:
            _logger.info("receiving updates by long polling")
        return started
    set_webhook = partial(
        application.bot.set_webhook, serving.webhook_url, secret_token=serving.secret, allowed_updates=Update.ALL_TYPES
    )
    try:
        done = await until_answered(set_webhook, "setWebhook", stop)
    except TelegramError as exc:
        raise StartError(f"the Bot API refused the webhook {serving.webhook_url}: {exc}") from None
    if done:
        _logger.info("receiving updates by webhook at %s", serving.webhook_url)
    return done


async def _start_server(server: WebServer) -> None:
    try:
        await server.start()
    except OSError as exc:
        raise StartError(f"cannot listen on {server.listen}:{server.port}: {exc.strerror or exc}") from None


class Stopped(Exception):
    """``stop`` was set before the bot was up (raised by ``lifecycle`` instead of entering)."""


@contextlib.asynccontextmanager
async def lifecycle(
    application: App, metrics: Metrics, serving: Serving, stop: asyncio.Event | None = None
) -> AsyncIterator[WebServer | None]:
    """The bot up and receiving updates inside the block (steps 1-4), stopped cleanly after it (step 5).

    As PTB's ``async with application:``, for this bot: ``async with lifecycle(...) as server:``, where
    ``server`` is the HTTP server (None when there is none). Raises ``Stopped`` when ``stop`` is set
    before the bot is up, and ``StartError`` or PTB's ``InvalidToken`` when the bot cannot start.
    """
    stop = stop or asyncio.Event()
    server = serving.web_server(application, metrics)
    try:
        if server is not None:  # first: /healthz answers (503) while the index loads and the bot connects
            await _start_server(server)
        await _open(metrics.library, stop)
        if not await until_answered(application.initialize, "getMe", stop):
            raise Stopped
        if application.post_init:
            await application.post_init(application)
        await application.start()
        if not await _receive(application, serving, stop):
            raise Stopped
        yield server
    finally:
        _logger.info("stopping")
        metrics.library.close()  # a load or reload under way stops at its next batch
        if server is not None:
            await server.stop()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if isinstance(application.update_processor, PerChatUpdateProcessor):
            await application.update_processor.close(grace=STOP_GRACE)
        if application.running:
            await application.stop()  # handles the updates already received first
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        await application.bot.shutdown()  # closes the connections if initialize() never finished
        if application.post_shutdown:
            await application.post_shutdown(application)


async def _open(library: Library, stop: asyncio.Event) -> None:
    """Load the index (in a thread: the event loop keeps serving /healthz) unless it is loaded already."""
    if library.is_open:
        return
    try:
        if not await _first(asyncio.to_thread(library.open), stop):
            raise Stopped
    except (SeedsError, ClusterError) as exc:
        raise StartError(str(exc)) from None
    except Stopping:
        raise Stopped from None


async def serve(application: App, metrics: Metrics, serving: Serving, stop: asyncio.Event) -> None:
    """Run ``application`` as the module docstring says until ``stop`` is set.

    Raises ``StartError``, or PTB's ``InvalidToken``, when the bot cannot start.
    """
    with contextlib.suppress(Stopped):
        async with lifecycle(application, metrics, serving, stop):
            await stop.wait()


async def run_until_signal(application: App, metrics: Metrics, serving: Serving) -> None:
    """``serve`` until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(application, metrics, serving, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
