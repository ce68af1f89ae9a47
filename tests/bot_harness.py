"""Running the real bot against the Bot API stand-in, by hand (``run_polling`` needs its own loop)."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.library import Library
from bot.main import build_application
from bot.metrics import Metrics
from bot.settings import Settings
from bot.state import State
from bot.testing.standin import BotApiStandin, Call, SentMessage, parse_html
from bot.web import WebServer
from tests.conftest import SEEDS

ADMIN_ID = 4242
BOT_USERNAME = "pasokh_test_bot"
App = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class RunningBot:
    """The stand-in, the application polling it, and what the bot holds."""

    api: BotApiStandin
    app: App
    library: Library
    state: State
    seeds: Path
    state_dir: Path
    metrics: Metrics
    web: WebServer | None = None


def copy_seeds(folder: Path) -> Path:
    """A private copy of the bundled seeds that a test may change."""
    shutil.copytree(SEEDS, folder)
    return folder


@asynccontextmanager
async def running_bot(
    api: BotApiStandin,
    tmp_path: Path,
    *,
    seeds: Path | None = None,
    state_dir: Path | None = None,
    rate_limiter: bool = False,
    webhook: dict[str, Any] | None = None,
    questions_per_minute: int = 1000,
    read_timeout: float | None = None,
) -> AsyncIterator[RunningBot]:
    """Start the real application against ``api`` (polling, or a webhook with the given arguments).

    ``webhook`` takes ``start_webhook``'s arguments (listen, port, url_path, webhook_url, secret_token); the
    bot's own server (``bot.web``) serves it, with /healthz and /metrics.

    ``read_timeout`` shortens the wait for the Bot API's answers (for "slow" faults past the timeout).
    """
    seeds = seeds or copy_seeds(tmp_path / "seeds")
    state_dir = state_dir or tmp_path / "state"
    settings = Settings(
        token=api.token,
        admin_ids=frozenset({ADMIN_ID}),
        seeds_dir=seeds,
        state_dir=state_dir,
        api_base_url=api.base_url,
        questions_per_minute=questions_per_minute,
    )
    library = Library(settings.seeds_dir)
    library.open()
    state = State(settings.state_dir)
    metrics = Metrics(library)
    app = build_application(
        settings, library, state, rate_limiter=rate_limiter, read_timeout=read_timeout, metrics=metrics
    )
    try:
        await app.initialize()
    except BaseException:
        await app.bot.shutdown()
        state.close()
        raise
    assert app.post_init is not None
    await app.post_init(app)  # run_* would call it; we drive the application by hand
    await app.start()
    assert app.updater is not None
    web = None
    try:
        if webhook is None:
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        else:
            web = WebServer(
                app,
                metrics,
                listen=webhook["listen"],
                port=webhook["port"],
                webhook_path=webhook["url_path"],
                secret=webhook["secret_token"],
            )
            await web.start()
            await app.bot.set_webhook(
                webhook["webhook_url"], secret_token=webhook["secret_token"], allowed_updates=Update.ALL_TYPES
            )
        yield RunningBot(api, app, library, state, seeds, state_dir, metrics, web)
    finally:
        if web is not None:
            await web.stop()
        if app.updater.running:
            await app.updater.stop()
        await app.stop()
        await app.shutdown()
        state.close()


async def finish(process: asyncio.subprocess.Process) -> str:
    """SIGTERM (if still running), then everything the process wrote to stdout and stderr."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return out.decode("utf-8", errors="replace") + err.decode("utf-8", errors="replace")


def replies_to(message_id: int, chat_id: int) -> Any:
    """A predicate: a sendMessage in ``chat_id`` quoting message ``message_id``."""

    def match(call: Call) -> bool:
        reply = call.params.get("reply_parameters") or {}
        return (
            call.method == "sendMessage"
            and call.status == 200
            and int(call.params.get("chat_id", 0)) == chat_id
            and reply.get("message_id") == message_id
        )

    return match


def sent_to(chat_id: int) -> Any:
    """A predicate: a successful sendMessage to ``chat_id``."""
    return lambda call: call.method == "sendMessage" and call.status == 200 and int(call.params["chat_id"]) == chat_id


def messages_in(api: BotApiStandin, chat_id: int) -> list[SentMessage]:
    return api.sent_messages(chat_id)


def plain(html_text: str) -> str:
    """The text of an HTML message, without its markup."""
    return parse_html(html_text)[0]
