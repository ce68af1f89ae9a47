"""Where the project is, and how to start ``pasokh`` processes for tests and benchmarks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.testing.standin import no_proxy_env

__all__ = [
    "PASOKH",
    "PASOKH_COMMAND",
    "PROJECT_VARIABLES",
    "ROOT",
    "SEEDS",
    "bot_environment",
    "pasokh_environment",
]

ROOT = Path(__file__).resolve().parent.parent.parent
"""The project's folder (where ``pyproject.toml`` is)."""
SEEDS = ROOT / "seeds"
"""The bundled seed articles."""
PASOKH = Path(sys.executable).parent / "pasokh"
"""The installed ``pasokh`` command."""
PASOKH_COMMAND = [str(PASOKH)] if PASOKH.exists() else [sys.executable, "-m", "bot.cli"]
"""How to run it (through the module when the script is not installed)."""
PROJECT_VARIABLES = ("PASOKH_", "TELEGRAM_")
"""Prefixes of the project's settings in the environment."""


def pasokh_environment(**settings: str) -> dict[str, str]:
    """The environment of a ``pasokh`` process: this one's without the project's settings, loopback
    calls kept from any proxy, then ``settings`` (e.g. ``TELEGRAM_BOT_TOKEN=...``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
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
