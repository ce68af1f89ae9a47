"""The terminal product: ask and chat over the articles, build and inspect saved indexes.

Nothing here touches Telegram. ``bot.cli`` parses the command line and calls these.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from bot.settings import default_seeds_dir

if TYPE_CHECKING:
    from tqdm import tqdm

    from retrieval import Index, SeedSet
    from retrieval.answer import Answer
    from retrieval.collection import Served

__all__ = ["PROGRAM", "UsageError", "cmd_ask", "cmd_chat", "cmd_index_build", "cmd_index_stats"]

PROGRAM = "pasokh"
PROGRESS_MIN_FILES = 20
PROGRESS_MIN_ARTICLES = 200
RLM = "\u200f"


class UsageError(Exception):
    """Input the command cannot work with: reported in one line, exit code 2."""


class _ProgressBar:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr for long jobs, on terminals only."""

    def __init__(self, description: str, unit: str, minimum: int) -> None:
        self.description, self.unit, self.minimum = description, unit, minimum
        self.bar: tqdm[NoReturn] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < self.minimum:
                return
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=self.description, unit=self.unit, file=sys.stderr, disable=None, leave=False
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def load_seed_set(folder: Path) -> SeedSet:
    """Load the seeds of ``folder``, naming each skipped file, and each file loaded with a flaw, on stderr."""
    from retrieval import SeedsError, load_seeds

    bar = _ProgressBar("loading seeds", "file", PROGRESS_MIN_FILES)
    try:
        seeds = load_seeds(folder, progress=bar)
    except SeedsError as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    for rejected in seeds.rejected:
        print(f"{PROGRAM}: skipped {rejected.name}: {rejected.reason}", file=sys.stderr)
    for flawed in seeds.flawed:
        print(f"{PROGRAM}: warning: {flawed.name}: {flawed.reason}", file=sys.stderr)
    return seeds


def build_from_seeds(folder: Path) -> Index:
    """Load the seeds of ``folder`` and build an index, with progress bars on a terminal."""
    from retrieval import build_index

    seeds = load_seed_set(folder)
    bar = _ProgressBar("indexing", "article", PROGRESS_MIN_ARTICLES)
    try:
        return build_index(seeds, progress=bar)
    finally:
        bar.close()


def open_index(args: argparse.Namespace) -> Index:
    """Load ``--index`` (its main index) or build from ``--seeds`` (the default seeds folder when neither
    is given)."""
    from retrieval import IndexFileError
    from retrieval.store import load_index

    if getattr(args, "index", None):
        try:
            return load_index(Path(args.index))
        except IndexFileError as exc:
            raise UsageError(str(exc)) from None
    return build_from_seeds(Path(args.seeds) if args.seeds else default_seeds_dir())


def open_collection(args: argparse.Namespace) -> Served:
    """Load ``--index`` with the delta saved beside it (articles published since it was built), or a sharded
    build (its shards searched in this process), or build from ``--seeds``."""
    from retrieval import Collection, IndexFileError
    from retrieval.collection import load_collection
    from retrieval.shards import Sharded, is_sharded

    if getattr(args, "index", None):
        try:
            if is_sharded(Path(args.index)):
                return Sharded.open(Path(args.index))
            return load_collection(Path(args.index))
        except IndexFileError as exc:
            raise UsageError(str(exc)) from None
    return Collection.of(build_from_seeds(Path(args.seeds) if args.seeds else default_seeds_dir()))


# -- ask / chat ----------------------------------------------------------------------------------


def _questions(question: str, stdin: TextIO) -> Iterable[str]:
    if question != "-":
        # Bytes of another encoding reach argv as lone surrogates: show them as U+FFFD, never crash on them.
        yield question.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(errors="replace")
    for line in stdin:
        yield line.rstrip("\n")


def _as_json(result: Answer) -> str:
    from retrieval.answer import hits_as_dicts, plain_reply

    return json.dumps(
        {
            "question": result.question,
            "answered": result.answered,
            "confidence": round(result.confidence, 4),
            "partial": result.partial,
            "reply": plain_reply(result),
            "passages": hits_as_dicts(result.hits, result.asked),
        },
        ensure_ascii=False,
    )


def _as_text(result: Answer) -> str:
    from retrieval.answer import plain_reply

    reply = plain_reply(result)
    if not result.answered or len(result.passages) < 2:
        return reply
    more = [f"{n}. {p.sentence} ({p.title})" for n, p in enumerate(result.passages[1:], 2)]
    return "\n".join([reply, "", "نتایج دیگر:", *more])


def cmd_ask(args: argparse.Namespace) -> int:
    from retrieval.answer import answer

    index = open_collection(args)
    render = _as_json if args.json else _as_text
    for question in _questions(args.question, sys.stdin):
        print(render(answer(index, question, args.top)), flush=True)
    return 0


def _rtl(text: str, width: int) -> str:
    """Wrap Persian text for a terminal, each line marked right-to-left."""
    lines = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return "\n".join(RLM + line for line in lines)


def cmd_chat(args: argparse.Namespace) -> int:
    from retrieval.answer import answer, plain_reply, to_persian_digits

    print(_rtl("در حال آماده‌سازی خبرها…", 80), file=sys.stderr)
    index = open_collection(args)
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    print(
        _rtl(
            f"پاسخ آماده است: {to_persian_digits(str(len(index.articles)))} خبر، "
            f"{to_persian_digits(str(len(index)))} جمله. "
            "پرسش خود را بنویسید (برای خروج: «خروج» یا Ctrl+D).",
            width,
        )
    )
    while True:
        try:
            question = input(f"\n{RLM}پرسش: ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if question.strip() in ("خروج", "exit", "quit"):
            return 0
        print(_rtl(plain_reply(answer(index, question)), width), flush=True)


# -- index ---------------------------------------------------------------------------------------


def cmd_index_build(args: argparse.Namespace) -> int:
    if args.shards > 1 or args.ray:
        return _build_shards(args)
    from retrieval.store import save_index

    index = build_from_seeds(Path(args.seeds) if args.seeds else default_seeds_dir())
    out = Path(args.out)
    try:
        save_index(index, out)
    except OSError as exc:
        raise UsageError(f"cannot write the index to {out}: {exc.strerror or exc}") from None
    seconds = index.manifest["build_seconds"]
    print(f"saved {len(index.articles)} articles, {len(index)} sentences to {out} (built in {seconds:.2f} s)")
    return 0


def _build_shards(args: argparse.Namespace) -> int:
    """``index build --shards N``: the articles split into N shards, as Ray tasks with ``--ray``."""
    from retrieval import IndexFileError, PasokhError
    from retrieval.shards import InProcess, Runner, build_sharded, is_sharded, read_whole_manifest

    seeds = load_seed_set(Path(args.seeds) if args.seeds else default_seeds_dir())
    out = Path(args.out)
    runner: Runner = InProcess()
    if args.ray:
        from retrieval.cluster import RayRunner, connect

        try:
            connect(args.ray)
        except PasokhError as exc:
            raise UsageError(str(exc)) from None
        runner = RayRunner()
    generation = 1
    if is_sharded(out):  # the next generation: replicas serving this folder load it beside the current one
        try:
            generation = int(read_whole_manifest(out)["generation"]) + 1
        except (IndexFileError, TypeError, ValueError):
            generation = 1
    try:
        manifest = build_sharded(seeds, args.shards, out, generation=generation, runner=runner)
    except OSError as exc:
        raise UsageError(f"cannot write the shards to {out}: {exc.strerror or exc}") from None
    print(
        f"saved {manifest['seeds']['articles']} articles, {manifest['seeds']['sentences']} sentences in "
        f"{len(manifest['shards'])} shards to {out}, generation {generation} "
        f"(built in {manifest['build_seconds']:.2f} s)"
    )
    return 0


def cmd_index_stats(args: argparse.Namespace) -> int:
    if getattr(args, "index", None):
        from retrieval.shards import is_sharded

        if is_sharded(Path(args.index)):
            return _shard_stats(Path(args.index))
    index = open_index(args)
    manifest = index.manifest
    size = (
        sum(entry["bytes"] for entry in manifest["files"].values())  # as checked when it was loaded
        if args.index
        else sum(p.rows.nbytes + p.weights.nbytes + p.indptr.nbytes for p in (index.sentences, index.paragraphs))
    )
    rows = [
        ("articles", len(index.articles)),
        ("sentences", len(index)),
        ("vocabulary", f"{manifest['terms']} terms"),
        ("size", f"{size / 1e6:.2f} MB" + (" on disk" if args.index else " of term weights in memory")),
        ("build time", f"{manifest['build_seconds']:.2f} s"),
        ("built at", manifest["built_at"]),
        ("seeds fingerprint", manifest["seeds"]["fingerprint"][:16]),
    ]
    _print_rows(rows)
    return 0


def _shard_stats(folder: Path) -> int:
    """``index stats`` of a sharded build: the whole, then each shard (each checked as it is loaded)."""
    from retrieval import IndexFileError
    from retrieval.shards import load_shard, load_sharded

    try:
        manifest, _ = load_sharded(folder)
        shards = [load_shard(folder, i, manifest) for i in range(len(manifest["shards"]))]
    except IndexFileError as exc:
        raise UsageError(str(exc)) from None
    size = sum(entry["bytes"] for entry in manifest["files"].values())
    size += sum(entry["bytes"] for shard in shards for entry in shard.manifest["files"].values())
    rows: list[tuple[str, object]] = [
        ("articles", manifest["seeds"]["articles"]),
        ("sentences", manifest["seeds"]["sentences"]),
        ("vocabulary", f"{manifest['terms']} terms"),
        ("shards", ", ".join(f"{len(s)}" for s in shards) + " sentences"),
        ("generation", manifest["generation"]),
        ("size", f"{size / 1e6:.2f} MB on disk"),
        ("build time", f"{manifest['build_seconds']:.2f} s"),
        ("built at", manifest["built_at"]),
        ("seeds fingerprint", manifest["seeds"]["fingerprint"][:16]),
    ]
    _print_rows(rows)
    return 0


def _print_rows(rows: list[tuple[str, object]]) -> None:
    for name, value in rows:
        print(f"{name:<18} {value}")
