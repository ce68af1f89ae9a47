"""Pasokh against reference engines, side by side: quality on the QA sets, and cost at scale.

    uv run --group bench python -m benchmarks.run [--sizes 10000 100000 1000000] [--out DIR] [--quick]

Every measurement runs in its own process (``benchmarks.isolate``) under a time and a memory limit; a
failure (timeout, out of memory, an exception) is reported in the tables, and the run goes on. Writes
``results.json`` (updated after every measurement), ``report.md`` and charts to ``--out`` (by default
``benchmarks/out/<timestamp>/``); ``python -m benchmarks.report DIR`` renders a report again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import isolate, jobs, report
from benchmarks.quality import DATA, SPLITS

_logger = logging.getLogger("benchmarks.run")

SYSTEM_NAMES = ("pasokh", "bm25s-fast", "bm25s-best", "tantivy", "sklearn-tfidf")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
TITLE_POOL = 10_000
"""Title questions come from the news articles within the first this-many sentences of the collection."""
RECORD = 20
"""Rankings of the first this-many sample questions are compared between the built and the loaded index."""
USES_HAZM_TOOLS = frozenset({"bm25s-fast", "bm25s-best", "tantivy"})
"""Systems that analyse text with hazm's Normalizer and WordTokenizer (see ``benchmarks.systems``)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="corpus sizes in sentences (default 10000 100000 1000000)")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/out/<timestamp>)")
    parser.add_argument("--quick", action="store_true", help="10,000 sentences only and 200 sample questions")
    parser.add_argument("--systems", nargs="+", choices=SYSTEM_NAMES, default=list(SYSTEM_NAMES))
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--questions", type=int, help="QA questions in the latency sample (default 1000)")
    parser.add_argument("--titles", type=int, help="news-title questions in the latency sample (default 300)")
    parser.add_argument("--quality-limit", type=int, help="only the first N questions of each QA split")
    parser.add_argument("--no-quality", action="store_true", help="skip the QA-set quality measurements")
    parser.add_argument("--time-limit", type=float, default=1200, help="seconds per measurement (default 1200)")
    parser.add_argument("--memory-limit", type=float, default=20, help="GiB per measurement (default 20)")
    parser.add_argument("--query-budget", type=float, default=300, help="seconds of timed queries per build (300)")
    parser.add_argument("--keep-files", action="store_true", help="keep the corpora and saved indexes")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or ([10_000] if args.quick else list(DEFAULT_SIZES))
    args.questions = args.questions if args.questions is not None else (150 if args.quick else 1000)
    args.titles = args.titles if args.titles is not None else (50 if args.quick else 300)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out = args.out or Path(__file__).resolve().parent / "out" / stamp
    return args


class Run:
    """The state of one benchmark run: its settings, its folders and the results so far."""

    def __init__(self, args: argparse.Namespace, isolation: isolate.Isolation) -> None:
        self.args = args
        self.isolation = isolation
        self.out: Path = args.out
        self.work = self.out / "work"
        self.logs = self.out / "logs"
        for folder in (self.work, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, Any] = {
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": report.machine(),
            "settings": {
                "sizes": args.sizes,
                "systems": args.systems,
                "questions": args.questions,
                "titles": args.titles,
                "quality_limit": args.quality_limit,
                "time_limit_s": args.time_limit,
                "memory_limit_gib": args.memory_limit,
                "query_budget_s": args.query_budget,
                "k": jobs.K,
            },
            "corpora": {},
            "sample": None,
            "quality": {},
            "scale": {},
        }

    def isolated(self, name: str, job: Any, system: str | None = None, **kwargs: Any) -> isolate.Outcome:
        if system is not None:
            kwargs["system"] = system
        outcome = self.isolation.run(
            job,
            kwargs,
            log=self.logs / f"{name}.log",
            time_limit=self.args.time_limit,
            memory_limit_mb=self.args.memory_limit * 1024,
            warm=system in USES_HAZM_TOOLS,
        )
        status = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        _logger.info("%s: %s (%.1f s, peak %.0f MB)", name, status, outcome.seconds, outcome.watched_peak_mb)
        return outcome

    def save(self) -> None:
        text = json.dumps(self.results, ensure_ascii=False, indent=1)
        (self.out / "results.json").write_text(text, encoding="utf-8")

    def quality(self) -> None:
        for system in self.args.systems:
            outcome = self.isolated(
                f"quality-{system}",
                jobs.quality_job,
                system=system,
                data=str(self.args.data),
                splits=list(SPLITS),
                limit=self.args.quality_limit,
            )
            self.results["quality"][system] = outcome.result if outcome.ok else {"error": outcome.error}
            self.save()

    def sample(self) -> Path | None:
        path = self.out / "questions.json"
        outcome = self.isolated(
            "sample",
            jobs.sample_job,
            data=str(self.args.data),
            qa=self.args.questions,
            titles=self.args.titles,
            title_pool=min(TITLE_POOL, *self.args.sizes),
            path=str(path),
        )
        self.results["sample"] = outcome.result if outcome.ok else {"error": outcome.error}
        self.save()
        return path if outcome.ok else None

    def scale(self, size: int, sample: Path | None) -> None:
        corpus = self.work / f"corpus-{size}.jsonl"
        made = self.isolated(f"corpus-{size}", jobs.corpus_job, data=str(self.args.data), size=size, path=str(corpus))
        self.results["corpora"][str(size)] = made.result if made.ok else {"error": made.error}
        rows = self.results["scale"].setdefault(str(size), {})
        for system in self.args.systems:
            if not made.ok or sample is None:
                rows[system] = {"error": "no corpus" if not made.ok else "no question sample"}
                continue
            rows[system] = self.measure(system, size, corpus, sample)
            self.save()
        if not self.args.keep_files:
            for path in (corpus, corpus.with_suffix(".rows.json")):
                path.unlink(missing_ok=True)
        self.save()

    def measure(self, system: str, size: int, corpus: Path, sample: Path) -> dict[str, Any]:
        folder = self.work / f"index-{system}-{size}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        built = self.isolated(
            f"build-{system}-{size}",
            jobs.build_job,
            system=system,
            corpus=str(corpus),
            sample=str(sample),
            folder=str(folder),
            query_budget=self.args.query_budget,
            record=RECORD,
        )
        row: dict[str, Any] = {"build": built.result, "watched_peak_mb": built.watched_peak_mb}
        if not built.ok:
            row["error"] = built.error
        else:
            loaded = self.isolated(
                f"load-{system}-{size}",
                jobs.load_job,
                system=system,
                corpus=str(corpus),
                sample=str(sample),
                folder=str(folder),
                expected=built.result.pop("rankings"),
            )
            row["load"] = loaded.result if loaded.ok else {"error": loaded.error}
        if not self.args.keep_files:
            shutil.rmtree(folder, ignore_errors=True)
        return row


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not (args.data / "pquad_val").is_dir():
        print(f"no QA data in {args.data}: see /work/shared/data/README.md", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with isolate.Isolation(args.out / "logs") as isolation:
        run = Run(args, isolation)
        _logger.info("writing to %s", run.out)
        if any(s in USES_HAZM_TOOLS for s in args.systems):
            isolation.start(warm=True)  # loads while the plain one works
        try:
            if not args.no_quality:
                run.quality()
            sample = run.sample()
            for size in args.sizes:
                run.scale(size, sample)
        finally:
            run.results["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            run.results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
            run.save()
            report.write(run.out, run.results)
            if not args.keep_files:
                shutil.rmtree(run.work, ignore_errors=True)
    _logger.info("report: %s", run.out / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
