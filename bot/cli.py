"""The ``pasokh`` command's entry point: parses the command line and runs the command.

    pasokh ask [--seeds DIR | --index DIR] [--top K] [--json] QUESTION   (QUESTION "-": one a line from stdin)
    pasokh chat [--seeds DIR | --index DIR]
    pasokh index build [--seeds DIR] --out DIR [--shards N [--ray ADDRESS]]
    pasokh index stats [--seeds DIR | --index DIR]
    pasokh run [--debug] [--webhook-url URL] [--listen ADDR] [--port N]

Exit codes: 0 done, 2 unusable input (no seeds folder, no loadable article, a bad saved index, bad
arguments). Skipped seed files are named on stderr and do not change the exit code.

The terminal commands live in ``bot.terminal``, the bot in ``bot.serving``; both are imported only when
their command runs (hazm and PTB take a while to import).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence

from bot import terminal
from bot.settings import ray_address
from bot.terminal import PROGRAM, UsageError

__all__ = ["main"]

_logger = logging.getLogger(__name__)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.serving.run import run

    return run(webhook_url=args.webhook_url, listen=args.listen, port=args.port, debug=args.debug)


# -- parsing -------------------------------------------------------------------------------------


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def _source_options(parser: argparse.ArgumentParser, *, index: bool = True) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--seeds", metavar="DIR", help="seeds folder (default: $PASOKH_SEEDS_DIR, else ./seeds, else the bundled ones)"
    )
    if index:
        group.add_argument("--index", metavar="DIR", help="a saved index (see `pasokh index build`)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Pasokh (پاسخ): answers Persian questions from news articles."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer one question, or one per line from stdin with -")
    _source_options(ask)
    ask.add_argument("--top", type=_whole(1, 50), default=3, metavar="K", help="passages to return (default 3)")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("question", metavar="QUESTION", help='the question, or "-" to read one a line from stdin')
    ask.set_defaults(handler=terminal.cmd_ask)

    chat = commands.add_parser("chat", help="talk to Pasokh in the terminal (no token needed)")
    _source_options(chat)
    chat.set_defaults(handler=terminal.cmd_chat)

    index = commands.add_parser("index", help="build or inspect a saved index")
    index_commands = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = index_commands.add_parser("build", help="build an index from the seeds and save it")
    _source_options(build, index=False)
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write the index to")
    build.add_argument(
        "--shards",
        type=_whole(1, 1024),
        default=1,
        metavar="N",
        help="split the articles into N shards (a sharded build, for serving over a Ray cluster)",
    )
    build.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=ray_address(),
        help="build the shards as Ray tasks on this cluster (auto, host:port; default $PASOKH_RAY_ADDRESS)",
    )
    build.set_defaults(handler=terminal.cmd_index_build)
    stats = index_commands.add_parser("stats", help="articles, sentences, vocabulary, size, build time")
    _source_options(stats)
    stats.set_defaults(handler=terminal.cmd_index_stats)

    run = commands.add_parser("run", help="run the Telegram bot (settings from the environment)")
    run.add_argument("--webhook-url", metavar="URL", help="receive updates by webhook at this public HTTPS URL")
    run.add_argument(
        "--listen", default="127.0.0.1", metavar="ADDR", help="address of the webhook, /healthz and /metrics"
    )
    run.add_argument(
        "--port",
        type=_whole(0, 65535),
        metavar="N",
        help="port of the webhook, /healthz and /metrics (webhook default 8443; polling: none unless given)",
    )
    run.add_argument("--debug", action="store_true", help="log at DEBUG level (the token stays redacted)")
    run.set_defaults(handler=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pasokh`` command line; return its exit code."""
    args = build_parser().parse_args(argv)
    if args.command != "run":  # the bot configures its own logging
        logging.basicConfig(level=logging.WARNING, format=f"{PROGRAM}: %(message)s")
    started = time.perf_counter()
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`pasokh ask - | head`): not an error worth a traceback.
        sys.stderr.close()
        return 0
    _logger.debug("%s done in %.2f s", args.command, time.perf_counter() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
