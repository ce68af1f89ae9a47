"""Logging for the running bot: to stderr, with its secrets redacted, httpx kept quiet."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


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
    handler.setFormatter(_RedactingFormatter(list(hidden), "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
