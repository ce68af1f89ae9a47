"""Logging for the running bot: to stderr, with its secrets redacted, httpx kept quiet, and a failure
that repeats (a flood of refused connections, say) logged once per interval instead of each time."""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["REPEAT_INTERVAL", "RepeatFilter", "configure_logging"]

REPEAT_INTERVAL = 60.0
"""Seconds of the window in which a repeated warning or error is let through ``BURST`` times."""
BURST = 10


class RepeatFilter(logging.Filter):
    """Lets the first ``burst`` warnings or errors of each place and kind through in an ``interval``, and
    counts the rest; the next one let through says how many were held back. Records below WARNING pass.

    A retry with backoff logs a few times a minute and is never held; a flood (a failed accept on every
    connection) is.
    """

    def __init__(self, interval: float = REPEAT_INTERVAL, burst: int = BURST) -> None:
        super().__init__()
        self.interval = interval
        self.burst = burst
        self._seen: dict[tuple[object, ...], tuple[float, int, int]] = {}
        """place and kind -> when its interval began, records let through in it, records held back"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = record.exc_info[0] if record.exc_info else None
        key = (record.name, record.pathname, record.lineno, record.msg, kind)
        now = time.monotonic()
        began, passed, held = self._seen.get(key, (now, 0, 0))
        if now - began >= self.interval:
            began, passed = now, 0
        if passed >= self.burst:
            self._seen[key] = (began, passed, held + 1)
            return False
        self._seen[key] = (began, passed + 1, 0)
        if len(self._seen) > 10_000:  # bounded: forget the oldest places
            for stale in sorted(self._seen, key=lambda k: self._seen[k][0])[:5_000]:
                del self._seen[stale]
        if held:
            record.msg = f"{record.msg} ({held} more like this before, not logged)"
        return True


class _RedactingFormatter(logging.Formatter):
    """Replaces the bot token wherever it would appear in a log line, tracebacks included.

    The token's secret half (after the colon) is redacted on its own too.
    """

    def __init__(self, secrets_: list[str], fmt: str) -> None:
        super().__init__(fmt)
        halves = [s.split(":", 1)[1] for s in secrets_ if ":" in s]
        hidden = {s for s in secrets_ if s} | {h for h in halves if len(h) >= 8}
        self._secrets = sorted(hidden, key=len, reverse=True)  # longest first: a half never splits a token

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure_logging(*hidden: str, level: int = logging.INFO) -> None:
    """Log to stderr with the given secrets redacted; keep httpx quiet (its URLs hold the token).

    Python's warnings go through the same handler, so they are redacted too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter())
    handler.setFormatter(_RedactingFormatter(list(hidden), "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
