"""Settings of the running bot, read once from the environment into a frozen object.

Every variable is documented in the README and in ``deploy/pasokh.env.example``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "BUNDLED_SEEDS",
    "DEFAULT_API_BASE_URL",
    "ClusterSettings",
    "Settings",
    "SettingsError",
    "default_seeds_dir",
    "ray_address",
]

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
BUNDLED_SEEDS = Path(__file__).resolve().parent.parent / "seeds"
"""The seed articles that come with this checkout."""
REDIS_SCHEMES = ("redis", "rediss", "unix")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_WHOLE = re.compile(r"[0-9]{1,18}")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line and never holds the token."""


def _admin_ids(raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(" ", "").split(","):
        if not part:
            continue
        if not _WHOLE.fullmatch(part) or int(part) < 1:  # ASCII digits only: int() refuses "²", isdigit() not
            raise SettingsError(f"PASOKH_ADMIN_IDS must be comma-separated Telegram user ids, not {part!r}")
        ids.add(int(part))
    return frozenset(ids)


_CHANNEL = re.compile(r"-[0-9]{1,18}")


def _channel_ids(raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(" ", "").split(","):
        if not part:
            continue
        if not _CHANNEL.fullmatch(part) or int(part) == 0:  # a channel's chat id is negative: -100…
            raise SettingsError(
                f"PASOKH_CHANNEL_IDS must be comma-separated channel chat ids such as -1001234567890, not {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _feeds(raw: str) -> tuple[str, ...]:
    """The feed URLs, in order, each once; an error quotes the bad entry without what precedes ``@``."""
    urls: list[str] = []
    for part in raw.replace(",", " ").split():
        try:
            parts = urlsplit(part)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            shown = part.rpartition("@")[2][:80]
            raise SettingsError(
                f"PASOKH_FEEDS must be http(s) URLs of RSS or Atom feeds, separated by commas or spaces, not {shown!r}"
            )
        if part not in urls:
            urls.append(part)
    return tuple(urls)


def _redis_url(raw: str) -> str | None:
    """The Redis URL, checked for a usable form; errors never quote it (it may hold a password)."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise SettingsError("PASOKH_REDIS_URL is not a valid URL; use the form redis://host:6379/0") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise SettingsError(
            f"PASOKH_REDIS_URL must start with {', '.join(s + '://' for s in REDIS_SCHEMES)} "
            "(e.g. redis://redis:6379/0)"
        )
    if not (parts.path if parts.scheme == "unix" else parts.hostname):
        raise SettingsError("PASOKH_REDIS_URL names no Redis server; use the form redis://host:6379/0")
    return raw


def default_seeds_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PASOKH_SEEDS_DIR``, else ``./seeds``, else the seeds bundled with this checkout.

    The one reading of the seeds folder, for the bot and the command line alike.
    """
    env = os.environ if environ is None else environ
    configured = env.get("PASOKH_SEEDS_DIR", "").strip()
    if configured:
        return Path(configured)
    here = Path("seeds")
    return here if here.is_dir() or not BUNDLED_SEEDS.is_dir() else BUNDLED_SEEDS


def _api_base_url(raw: str) -> str:
    """The Bot API base that PTB glues the token to: ``.../bot`` (added when missing, as in
    ``https://api.telegram.org`` or a self-hosted ``http://127.0.0.1:8081/``)."""
    if not raw:
        return DEFAULT_API_BASE_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            "TELEGRAM_API_BASE_URL must be an http(s) URL such as https://api.telegram.org/bot "
            "or http://127.0.0.1:8081/bot (the token is added after /bot)"
        )
    base = raw.rstrip("/")
    return base if base.endswith("/bot") else base + "/bot"


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw) or int(raw) < 1:
        raise SettingsError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """The index sharded over a Ray cluster (README, "Past one machine")."""

    address: str
    """The Ray cluster to join: ``auto`` (the one this machine is a node of), ``host:6379``, ``ray://host:10001``."""
    shards: int = 4
    replicas: int = 2
    deadline: float = 1.0
    """Seconds a question waits for a shard before it is answered from the others."""


def ray_address(environ: Mapping[str, str] | None = None) -> str | None:
    """``$PASOKH_RAY_ADDRESS``: the Ray cluster of a sharded index (the bot's and ``pasokh index build``'s)."""
    env = os.environ if environ is None else environ
    return env.get("PASOKH_RAY_ADDRESS", "").strip() or None


def _cluster(env: Mapping[str, str], index_dir: str) -> ClusterSettings | None:
    address = ray_address(env)
    if not address:
        return None
    if not index_dir:
        raise SettingsError(
            "PASOKH_RAY_ADDRESS needs PASOKH_INDEX_DIR: the folder the shards are saved in, at the same path on "
            "every node of the Ray cluster (shared storage)"
        )
    if any(c.isspace() for c in address) or len(address) > 300:
        raise SettingsError("PASOKH_RAY_ADDRESS must be auto, host:port or ray://host:port")
    return ClusterSettings(
        address,
        shards=_positive_int(env, "PASOKH_SHARDS", 4),
        replicas=_positive_int(env, "PASOKH_SHARD_REPLICAS", 2),
        deadline=_positive_int(env, "PASOKH_SHARD_DEADLINE_MS", 1000) / 1000,
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """What the bot needs to run. Build with ``Settings.from_env()``."""

    token: str = field(repr=False)
    admin_ids: frozenset[int] = frozenset()
    seeds_dir: Path = Path("seeds")
    index_dir: Path | None = None
    state_dir: Path = Path("state")
    api_base_url: str = DEFAULT_API_BASE_URL
    webhook_secret: str | None = field(default=None, repr=False)
    questions_per_minute: int = 20
    redis_url: str | None = field(default=None, repr=False)
    """Several workers share Redis here (stats, reloads, flood limits); None: one process, SQLite."""
    messages_per_second: int = 30
    """Messages a second the bot sends in all (every worker together): Telegram allows about 30."""
    channel_ids: frozenset[int] = frozenset()
    """Channels whose posts become articles (the bot must be an admin there)."""
    feeds: tuple[str, ...] = ()
    """RSS or Atom feeds whose new items become articles."""
    feed_minutes: int = 5
    """Minutes between two polls of a feed that works."""
    cluster: ClusterSettings | None = None
    """The index sharded over a Ray cluster; None: the whole index in this process."""

    @property
    def file_base_url(self) -> str:
        """Where files are downloaded from, beside ``api_base_url``: ``https://api.telegram.org/file/bot``."""
        return self.api_base_url.removesuffix("/bot") + "/file/bot"

    @property
    def redis_password(self) -> str | None:
        """The password in the Redis URL, to keep out of logs."""
        return urlsplit(self.redis_url).password if self.redis_url else None

    def require_shared_secret(self) -> None:
        """Several webhook workers must accept one secret: with Redis, a random one per process won't do."""
        if self.redis_url and not self.webhook_secret:
            raise SettingsError(
                "PASOKH_WEBHOOK_SECRET must be set when PASOKH_REDIS_URL is: every webhook worker must "
                "accept the same secret (e.g. the output of `openssl rand -hex 32`)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raise ``SettingsError`` with a one-line message when one is wrong."""
        env = os.environ if environ is None else environ
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather, "
                "or try Pasokh without Telegram with `uv run pasokh chat`"
            )
        secret = env.get("PASOKH_WEBHOOK_SECRET", "").strip() or None
        if secret is not None and not _SECRET.match(secret):
            raise SettingsError("PASOKH_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        index_dir = env.get("PASOKH_INDEX_DIR", "").strip()
        return cls(
            token=token,
            admin_ids=_admin_ids(env.get("PASOKH_ADMIN_IDS", "")),
            seeds_dir=default_seeds_dir(env),
            index_dir=Path(index_dir) if index_dir else None,
            state_dir=Path(env.get("PASOKH_STATE_DIR", "").strip() or "state"),
            api_base_url=_api_base_url(env.get("TELEGRAM_API_BASE_URL", "").strip()),
            webhook_secret=secret,
            questions_per_minute=_positive_int(env, "PASOKH_QUESTIONS_PER_MINUTE", 20),
            redis_url=_redis_url(env.get("PASOKH_REDIS_URL", "").strip()),
            messages_per_second=_positive_int(env, "PASOKH_MESSAGES_PER_SECOND", 30),
            channel_ids=_channel_ids(env.get("PASOKH_CHANNEL_IDS", "")),
            feeds=_feeds(env.get("PASOKH_FEEDS", "")),
            feed_minutes=_positive_int(env, "PASOKH_FEED_MINUTES", 5),
            cluster=_cluster(env, index_dir),
        )
