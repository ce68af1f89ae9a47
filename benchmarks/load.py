"""Load on the real bot through the Bot API stand-in, as a benchmark: prints a Markdown table.

    uv run python -m benchmarks.load [--chats 100] [--questions 50] [--rounds 10] [--window 5]
                                     [--reloads 20] [--fault-rate 0.1] [--faults 429,500,502,slow,drop]

How the load runs and what each round checks: ``bot.testing.load``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.testing.load import LoadConfig, LoadError, LoadReport, RoundResult, run_load
from bot.testing.standin import SEND_METHODS, no_proxy_env

# -- reporting ----------------------------------------------------------------------------------------


def markdown(report: LoadReport) -> str:
    """The report as a Markdown table, with the configuration and the checks above it."""
    c = report.config
    lines = [
        f"{c.chats} private chats × {c.questions} questions, {c.rounds} rounds, up to {c.window} unanswered "
        f"per chat; bank of {report.bank} questions with {report.distinct_replies} distinct replies"
        + (f"; {c.reloads} admin /reloads during round 1" if c.reloads else "")
        + (f"; faults on {c.fault_rate:.0%} of calls ({', '.join(map(str, c.faults))})" if c.fault_rate else "")
        + ". Every round: each question answered exactly once, in order, with its own reply.",
        "",
        "| round | answers | seconds | answers/s | p50 ms | p99 ms | RSS MB |"
        + (" faults injected | failed sends |" if c.fault_rate else "")
        + (" reloads (while asking) | replies from A / B |" if c.reloads else ""),
        "|---|---|---|---|---|---|---|" + ("---|---|" if c.fault_rate else "") + ("---|---|" if c.reloads else ""),
    ]
    for r in report.rounds:
        row = (
            f"| {r.number} | {r.answered} | {r.seconds:.2f} | {r.throughput:.0f} | "
            f"{1000 * r.percentile(50):.0f} | {1000 * r.percentile(99):.0f} | {r.rss_mb:.1f} |"
        )
        if c.fault_rate:
            row += f" {', '.join(f'{k}×{v}' for k, v in sorted(r.faults.items()))} | {r.failed_sends} |"
        if c.reloads:
            row += f" {r.reloads} ({r.reloads_while_asking}) | {r.from_index['A']} / {r.from_index['B']} |"
        lines.append(row)
    every = [x for r in report.rounds for x in r.latencies]
    total = RoundResult(0, sum(r.answered for r in report.rounds), sum(r.seconds for r in report.rounds), every, 0)
    rss = [r.rss_mb for r in report.rounds]
    lines += [
        "",
        f"All rounds: {total.answered} answers, {total.throughput:.0f}/s, p50 {1000 * total.percentile(50):.0f} ms, "
        f"p99 {1000 * total.percentile(99):.0f} ms; RSS {min(rss):.1f}–{max(rss):.1f} MB "
        f"(round 2 → last: {rss[-1] - rss[min(1, len(rss) - 1)]:+.1f} MB; "
        f"median step {statistics.median([b - a for a, b in itertools.pairwise(rss)] or [0.0]):+.2f} MB).",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> LoadConfig:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--questions", type=int, default=50, help="questions per chat per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--window", type=int, default=5, help="questions a chat keeps unanswered (default 5)")
    parser.add_argument("--reloads", type=int, default=0, help="admin /reloads spread over the first round")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of Bot API calls that fail")
    parser.add_argument("--faults", default="429,500,502,slow,drop", help="fault kinds (see bot/testing/standin/)")
    parser.add_argument("--faults-on-polling", action="store_true", help="fault getUpdates calls too")
    parser.add_argument("--read-timeout", type=float, default=None, help="the bot's read timeout, seconds")
    parser.add_argument("--slow-delay", type=float, default=1.0, help='seconds a "slow" answer takes')
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    kinds = tuple(int(k) if k.isdigit() else k for k in args.faults.split(","))
    return LoadConfig(
        chats=args.chats,
        questions=args.questions,
        rounds=args.rounds,
        window=args.window,
        reloads=args.reloads,
        fault_rate=args.fault_rate,
        faults=kinds,  # type: ignore[arg-type]
        fault_methods=SEND_METHODS | {"getUpdates"} if args.faults_on_polling else SEND_METHODS,
        read_timeout=args.read_timeout,
        slow_delay=args.slow_delay,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    os.environ.update(no_proxy_env())
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="pasokh-load-") as folder:
        try:
            report = asyncio.run(run_load(config, Path(folder)))
        except LoadError as error:
            print(f"FAILED: {error}", file=sys.stderr)
            return 1
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
