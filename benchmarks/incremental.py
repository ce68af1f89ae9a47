"""Publishing one article into a large index (issue 14 §2): how long until it is answerable, what
questions cost meanwhile, and memory after many additions and a compaction.

The seeds folder holds the scale corpus of ``benchmarks.corpus`` (one file per article); the library
opens it with an index folder (the main index is built once, and saved). Then:

1. **add latency**: ``--adds`` news articles of about 30 sentences each, under new ids, published one
   after the other through ``Library.publish`` (file written, delta built, delta saved); each is then asked
   for the made-up word it alone holds, and must come first. Reported: the seconds from the call until the
   collection serving it is swapped in (``answerable``) and until ``publish`` returns (delta saved too);
2. **questions while adding**: QA questions asked back to back, alone (quiet) and while publications
   go on (back to back, or one every ``--pace`` seconds), as the bot's worker threads would;
3. **restart**: a new library opening the same folders (the main index and the delta loaded, nothing built);
4. **memory**: with ``--memory-adds N``, N more additions, then a compaction; the process's peak and
   current resident memory after each stage.

    uv run python -m benchmarks.incremental --sentences 1000000 --out /tmp/pasokh-incremental
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from benchmarks.corpus import news_articles, read_corpus, write_corpus
from benchmarks.quality import DATA, load_split
from bot.library import Library
from retrieval import Article, Collection
from retrieval.sentences import split_article


class TimedLibrary(Library):
    """A library that notes when it swaps in a new collection (from then on, questions see the change)."""

    swapped_at = 0.0

    def _swap(self, collection: Collection, read_at: float) -> Collection:
        self.swapped_at = time.perf_counter()
        return super()._swap(collection, read_at)


def _seed_text(article: Article) -> str:
    return "\n".join([article.title, *article.paragraphs]) + "\n"


def write_seeds(corpus: Path, folder: Path) -> int:
    """One seed file per corpus article (``a000000.txt`` …); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = read_corpus(corpus, texts=False).articles or []
    for i, article in enumerate(articles):
        (folder / f"a{i:06d}.txt").write_text(_seed_text(article), encoding="utf-8")
    return len(articles)


_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"


def marker(i: int) -> str:
    """A made-up word of eight letters for article ``i``: no other article holds it."""
    rng = random.Random(i)
    return "".join(rng.choice(_LETTERS) for _ in range(8))


def new_articles(data: Path, n: int, sentences: int = 30) -> list[Article]:
    """``n`` news articles of about ``sentences`` sentences (their first paragraphs), under new ids, each
    ending with a sentence naming its ``marker`` (the corpus holds copies of the same news: a marker
    tells whether the new article itself is found)."""
    found = []
    for article in news_articles(data):
        kept: list[str] = []
        for paragraph in article.paragraphs:
            kept.append(paragraph)
            if len(split_article(Article("x", "t", None, tuple(kept), ""), 0)) >= sentences:
                break
        if len(split_article(Article("x", "t", None, tuple(kept), ""), 0)) >= sentences * 2 // 3:
            found.append(Article(f"new{len(found):05d}", article.title, None, tuple(kept), ""))
        if len(found) == n:
            break
    base = len(found)
    while len(found) < n:  # not enough long articles: the same texts again, under new ids
        again = found[len(found) % base]
        found.append(Article(f"new{len(found):05d}", again.title, None, again.paragraphs, ""))
    return [
        dataclasses.replace(a, paragraphs=(*a.paragraphs, f"شناسه ویژه این خبر {marker(i)} است."))
        for i, a in enumerate(found)
    ]


def rss_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process, in MB."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    return round(current, 1), round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def add_latency(library: TimedLibrary, articles: list[Article]) -> dict[str, object]:
    """Publish each article; time until it is served and until ``publish`` returns; check it is found."""
    served, returned, found = [], [], 0
    for article in articles:
        started = time.perf_counter()
        report = await library.publish(article.id, _seed_text(article).encode())
        returned.append(time.perf_counter() - started)
        served.append(library.swapped_at - started)
        assert report.ok, report
        hits = library.index.search(f"شناسه ویژه {marker(int(article.id.removeprefix('new')))} چیست؟", 1)
        found += bool(hits) and hits[0].article.id == article.id
    return {
        "adds": len(articles),
        "served_median_s": round(statistics.median(served), 3),
        "served_p99_s": round(percentile(served, 0.99), 3),
        "returned_median_s": round(statistics.median(returned), 3),
        "returned_p99_s": round(percentile(returned, 0.99), 3),
        "found_first_by_its_marker": found,
        "delta_sentences": library.index.delta_sentences,
    }


def ask(library: Library, questions: list[str]) -> list[float]:
    times = []
    for q in questions:
        started = time.perf_counter()
        library.index.rank(q, 3)
        times.append(time.perf_counter() - started)
    return times


async def latency_while_adding(
    library: Library, questions: list[str], articles: list[Article], pace: float
) -> dict[str, object]:
    """Question latency alone, then while publications go on in the event loop's worker threads (one
    every ``pace`` seconds; 0: back to back)."""
    await asyncio.to_thread(ask, library, questions)  # warm: caches, pages of the mapped arrays
    quiet = await asyncio.to_thread(ask, library, questions)
    asking = asyncio.ensure_future(asyncio.to_thread(ask, library, questions))
    published = 0
    while not asking.done() and published < len(articles):
        article = articles[published]
        started = time.perf_counter()
        await library.publish(article.id, _seed_text(article).encode())
        published += 1
        await asyncio.sleep(max(0.0, pace - (time.perf_counter() - started)))
    busy = await asking
    quiet += await asyncio.to_thread(ask, library, questions)  # quiet before and after: drift in the machine's load
    quiet_ms, busy_ms = statistics.median(quiet) * 1e3, statistics.median(busy) * 1e3
    return {
        "questions": len(questions),
        "quiet_median_ms": round(quiet_ms, 2),
        "busy_median_ms": round(busy_ms, 2),
        "busy_over_quiet": round(busy_ms / quiet_ms - 1, 3),
        "quiet_p99_ms": round(percentile(quiet, 0.99) * 1e3, 2),
        "busy_p99_ms": round(percentile(busy, 0.99) * 1e3, 2),
        "published_meanwhile": published,
        "pace_s": pace,
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    out: Path = args.out
    corpus, seeds, index = out / "corpus.jsonl", out / "seeds", out / "index"
    results: dict[str, object] = {"sentences": args.sentences, "switch_interval": sys.getswitchinterval()}
    if not corpus.exists():
        print(f"writing the corpus: {write_corpus(args.data, args.sentences, corpus)}", file=sys.stderr)
    if not seeds.exists():
        print(f"seed files: {write_seeds(corpus, seeds)}", file=sys.stderr)
    started = time.perf_counter()
    library = TimedLibrary(seeds, index)
    await asyncio.to_thread(library.open)
    results["open_s"] = round(time.perf_counter() - started, 1)
    results["served"] = {"articles": len(library.index.articles), "sentences": len(library.index)}
    results["memory_mb_after_open"] = rss_mb()
    print(json.dumps(results, ensure_ascii=False), file=sys.stderr)
    fresh = new_articles(args.data, args.adds + args.busy_adds + args.memory_adds)
    results["added_sentences_median"] = statistics.median(len(split_article(a, 0)) for a in fresh[: args.adds])
    results["add"] = await add_latency(library, fresh[: args.adds])
    print(json.dumps(results["add"]), file=sys.stderr)
    questions = [q["question"] for q in load_split("pquad_val", args.data).questions[: args.questions]]
    busy = fresh[args.adds : args.adds + args.busy_adds]
    results["questions"] = await latency_while_adding(library, questions, busy, args.pace)
    print(json.dumps(results["questions"]), file=sys.stderr)
    started = time.perf_counter()
    again = Library(seeds, index)
    await asyncio.to_thread(again.open)
    results["restart_s"] = round(time.perf_counter() - started, 2)
    results["restart_delta"] = {"articles": len(again.index.added), "hidden": len(again.index.hidden)}
    del again
    if args.memory_adds:
        memory = {"before": rss_mb()}
        for article in fresh[args.adds + args.busy_adds :]:
            await library.publish(article.id, _seed_text(article).encode())
            if library._compacting is not None:  # let a compaction started meanwhile finish
                await library._compacting
        memory["after_adds"] = rss_mb()
        started = time.perf_counter()
        await library.compact()
        memory["compaction_s"] = round(time.perf_counter() - started, 1)  # type: ignore[assignment]
        gc.collect()
        memory["after_compaction"] = rss_mb()
        memory["delta_sentences_after"] = library.index.delta_sentences  # type: ignore[assignment]
        results["memory_mb"] = memory
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--busy-adds", type=int, default=100)
    parser.add_argument("--memory-adds", type=int, default=0, help="more additions, then a compaction")
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between publications while asking")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval (the GIL's), in seconds")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    print(json.dumps(asyncio.run(run(args)), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
