"""Shared fixtures: a clean environment for every test, and the index over the bundled seeds."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.standin import no_proxy_env
from retrieval import Index, build_index, load_seeds

pytest_plugins = ["tests.bot_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"
SEED_ARTICLE = "000_9ca2ac7c38fe4584"
PASOKH = Path(sys.executable).parent / "pasokh"
"""The installed ``pasokh`` command."""
PASOKH_COMMAND = [str(PASOKH)] if PASOKH.exists() else [sys.executable, "-m", "bot.cli"]
"""How to run it (through the module when the script is not installed)."""

_PROJECT_VARIABLES = ("PASOKH_", "TELEGRAM_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test without the project's settings from the developer's shell, and with no proxy."""
    for name in list(os.environ):
        if name.startswith(_PROJECT_VARIABLES):
            monkeypatch.delenv(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in no_proxy_env().items():  # loopback calls never go through a proxy
        monkeypatch.setenv(name, value)
    # PTB 22 warns on every RetryAfter unless durations are timedeltas; warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    return


@pytest.fixture(scope="session")
def seed_index() -> Index:
    """The index over the bundled seeds folder (built once: indexes are immutable)."""
    return build_index(load_seeds(SEEDS))


def write_seed(folder: Path, name: str, text: str | bytes) -> Path:
    """Write a seed file (text as UTF-8) and return its path."""
    path = folder / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def pasokh_environment(**settings: str) -> dict[str, str]:
    """The environment of a ``pasokh`` process: this one's without the project's settings, loopback
    calls kept from any proxy, then ``settings`` (e.g. ``TELEGRAM_BOT_TOKEN=...``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PROJECT_VARIABLES)}
    return env | no_proxy_env() | settings


def bot_environment(api_base_url: str, token: str, seeds: Path, state: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``pasokh run`` against a Bot API (the stand-in), then ``settings``."""
    return pasokh_environment(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_BASE_URL=api_base_url,
        PASOKH_SEEDS_DIR=str(seeds),
        PASOKH_STATE_DIR=str(state),
        **settings,
    )
