"""Fixtures of the bot tests (a pytest plugin, see ``conftest.py``): the Bot API stand-in and the bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bot.testing.harness import BOT_USERNAME, RunningBot, running_bot
from bot.testing.standin import BotApiStandin


@pytest_asyncio.fixture
async def api() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(username=BOT_USERNAME) as standin:
        yield standin


@pytest_asyncio.fixture
async def bot(api: BotApiStandin, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(api, tmp_path) as running:
        yield running
