"""Shared fixtures: a clean environment for every test, and the index over the bundled seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.processes import PROJECT_VARIABLES, ROOT, SEEDS
from bot.testing.standin import no_proxy_env
from retrieval import Index, build_index, load_seeds

pytest_plugins = ["tests.bot_fixtures"]

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test without the project's settings from the developer's shell, and with no proxy."""
    for name in list(os.environ):
        if name.startswith(PROJECT_VARIABLES):
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
