"""Running the real bot against the Bot API stand-in, in the test's event loop, through its own lifecycle."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.backend import open_backend
from bot.backend.interfaces import Records
from bot.library import Library
from bot.serving.application import build_application
from bot.serving.lifecycle import Serving, lifecycle
from bot.serving.metrics import Metrics
from bot.serving.web import WebServer
from bot.settings import Settings
from bot.testing.processes import SEEDS
from bot.testing.standin import BotApiStandin, Call, SentMessage, parse_html

ADMIN_ID = 4242
BOT_USERNAME = "pasokh_test_bot"
App = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class RunningBot:
    """The stand-in, the application receiving from it, and what the bot holds."""

    api: BotApiStandin
    app: App
    library: Library
    records: Records
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
    webhook: Serving | None = None,
    questions_per_minute: int = 1000,
    read_timeout: float | None = None,
    channel_ids: frozenset[int] = frozenset(),
    feeds: tuple[str, ...] = (),
) -> AsyncIterator[RunningBot]:
    """The real application against ``api``, started and stopped by the bot's own ``lifecycle``.

    Long polling, or the webhook ``webhook`` describes (served by the bot's own server, with /healthz and
    /metrics). ``read_timeout`` shortens the wait for the Bot API's answers (for "slow" faults past it).
    ``channel_ids``: the channels whose posts become articles (``PASOKH_CHANNEL_IDS``); ``feeds``: the
    RSS or Atom feeds whose items do (``PASOKH_FEEDS``, first polled as the bot starts).
    """
    seeds = seeds or copy_seeds(tmp_path / "seeds")
    settings = Settings(
        token=api.token,
        admin_ids=frozenset({ADMIN_ID}),
        seeds_dir=seeds,
        state_dir=state_dir or tmp_path / "state",
        api_base_url=api.base_url,
        questions_per_minute=questions_per_minute,
        webhook_secret=webhook.secret if webhook is not None else None,  # as `pasokh run` sets it
        channel_ids=channel_ids,
        feeds=feeds,
    )
    library = Library(settings.seeds_dir)
    library.open()
    metrics = Metrics(library)
    backend = open_backend(settings, library, on_reload=metrics.reloaded)
    app = build_application(
        settings, library, backend, rate_limiter=rate_limiter, read_timeout=read_timeout, metrics=metrics
    )
    async with lifecycle(app, metrics, webhook or Serving()) as web:
        yield RunningBot(api, app, library, backend.records, seeds, settings.state_dir, metrics, web)


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
