"""Sentence splitting and article building on hostile seed files, beside ordinary news (issue 13 §6).

    uv run python -m benchmarks.splitting [--sizes 50K,100K,...] [--inputs news,dots,...] [--limit 300]
    uv run python -m benchmarks.splitting --check 200K [--factor 10]

Each input is the text of one seed file: a header line, then a body of the given size in UTF-8 bytes:

- ``news``: ordinary news, a paragraph a line (the articles of ``../shared/data/news``, or this
  repository's seed article repeated when the data is missing);
- ``news on one line``: the same text without its line breaks, one paragraph;
- ``open quote``: «« » and then the same news on one line, without its «»: a quotation that never
  closes;
- ``ع. repeated``: «ع. » over and over, a one-letter abbreviation that never ends;
- ``dots``: «.» over and over, one line;
- ``continued lines``: a line of «متن», then lines of a single «.», each continuing the paragraph;
- ``marks``: «ب» under shadda and kasra over and over (marks NFKC must reorder), one line;
- ``marks alone``: a line of «متن», then a line of the same marks without a letter (a blank line).

For each it times splitting (``split_article`` on the parsed article) and the whole build (``parse_article``
and ``build_index`` on the one article: sentences, display text, analysis, matrices), each in a process
forked from this one (hazm loaded, caches as after a one-line warm-up) and killed past ``--limit``
seconds. It prints Markdown tables: seconds per size, and the seconds per MB at the smallest and the
largest size with their ratio: about 1 means linear, 2 a doubling of the cost per byte.

``--check SIZE`` measures the build of ordinary news of that size, then of every other input of the same
size under a limit of ``--factor`` times that, and exits 1 if one exceeds it (``tests/test_splitting.py``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SEED_ARTICLE = REPO / "seeds" / "000_9ca2ac7c38fe4584.txt"
SIZES = ("50K", "100K", "200K", "400K", "1M", "2M", "5M", "10M")
HEADER = "date 2025-01-01 خبر آزمایشی\n"


def parse_size(text: str) -> int:
    units = {"K": 1000, "M": 1000_000}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def size_label(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 1e6 else f"{size / 1e3:g} KB"


def ordinary_news(data: Path = DATA, wanted: int = 10_000_000) -> str:
    """Ordinary news, a paragraph a line: the shared data's articles, else this repository's seed article."""
    path = data / "news" / "articles.jsonl"
    lines: list[str] = []
    if path.is_file():
        size = 0
        with path.open(encoding="utf-8") as f:
            for row in f:
                text = json.loads(row)["text"]
                lines.extend(line.strip() for line in text.split("\n") if line.strip())
                size += len(text.encode("utf-8"))
                if size > wanted:
                    break
    else:
        lines = SEED_ARTICLE.read_text(encoding="utf-8").splitlines()[1:]
    return "\n".join(line for line in lines if line.strip())


def _to_size(body: str, size: int) -> str:
    """``body`` repeated or cut to ``size`` UTF-8 bytes (at a character)."""
    encoded = body.encode("utf-8")
    encoded = encoded * (size // max(1, len(encoded)) + 1)
    return encoded[:size].decode("utf-8", "ignore").strip()


def _unquoted(text: str) -> str:
    return text.replace("«", "").replace("»", "")


def _repeated(unit: str, size: int) -> str:
    return _to_size(unit * (size // len(unit.encode("utf-8")) + 1), size)


INPUTS: dict[str, Callable[[str, int], str]] = {
    "news": _to_size,
    "news on one line": lambda news, size: _to_size(news.replace("\n", " "), size),
    "open quote": lambda news, size: _to_size("«« » " + _unquoted(news).replace("\n", " "), size),
    "ع. repeated": lambda news, size: _repeated("ع. ", size),
    "dots": lambda news, size: _repeated(".", size),
    "continued lines": lambda news, size: "متن\n" + _repeated(".\n", size),
    "marks": lambda news, size: "ب" + _repeated("\u0651\u0650", size),
    "marks alone": lambda news, size: "متن\n" + _repeated("\u0651\u0650", size),
}


def file_text(kind: str, news: str, size: int) -> str:
    return HEADER + INPUTS[kind](news, size)


def measure(text: str) -> dict[str, float]:
    """Seconds to split the article's paragraphs, and to parse and build an index of it."""
    from retrieval import build_index
    from retrieval.seeds import parse_article
    from retrieval.sentences import split_article

    gc.collect()
    started = time.perf_counter()
    article = parse_article("hostile", text)
    parsed = time.perf_counter()
    sentences = split_article(article, 0)
    split = time.perf_counter()
    index = build_index([article])
    built = time.perf_counter()
    assert len(index) == len(sentences)
    return {
        "parse": parsed - started,
        "split": split - parsed,
        "build": (parsed - started) + (built - split),
        "sentences": len(sentences),
        "longest": max(len(s.text) for s in sentences),
    }


def measure_stages(text: str) -> dict[str, float]:
    """Seconds for each step ``build_index`` takes per sentence, one after the other over the article."""
    from retrieval import analysis
    from retrieval.display import display
    from retrieval.normalize import fold
    from retrieval.seeds import parse_article
    from retrieval.sentences import split_article

    gc.collect()
    times: dict[str, float] = {}
    started = time.perf_counter()
    article = parse_article("hostile", text)
    times["parse"] = time.perf_counter() - started
    started = time.perf_counter()
    texts = [s.text for s in split_article(article, 0)]
    times["split"] = time.perf_counter() - started
    for name, step in (("fold", fold), ("analysis", analysis.terms), ("display", display)):
        started = time.perf_counter()
        for sentence in texts:
            step(sentence)
        times[name] = time.perf_counter() - started
    return times


def warm_up() -> None:
    """Load hazm, the display normalizer and the analysis data, as a running bot has them («ﻻ», a text
    NFKC changes, has ``fold`` build its pattern of marks)."""
    measure(HEADER + "یک جمله کوتاه. جملهٔ دیگر! ﻻ")


def limited(job: Callable[[], dict[str, float]], limit: float) -> dict[str, float] | None:
    """``job()`` in a forked process, killed after ``limit`` seconds (``None`` then)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send the result, and leave without cleaning up the parent's state
        os.close(read)
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # ends this process even inside C (a regex)
            signal.setitimer(signal.ITIMER_REAL, limit)
            result = job()
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.write(write, json.dumps(result).encode())
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else None


Results = dict[str, dict[int, dict[str, float] | None]]
"""Per input, per size: the measurement, or ``None`` when it was killed (sizes after that are not run)."""


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def table(results: Results, stage: str, limit: float) -> str:
    """Seconds per size, and the seconds per MB at the smallest and largest size with their ratio."""
    sizes = sorted({size for by_size in results.values() for size in by_size})
    lines = [
        "| input | " + " | ".join(size_label(s) for s in sizes) + " | s per MB: smallest → largest | ratio |",
        "|---" + "|--:" * (len(sizes) + 2) + "|",
    ]
    for kind, by_size in results.items():
        cells = []
        for size in sizes:
            if size not in by_size:
                cells.append("not run")
            else:
                result = by_size[size]
                cells.append(f"> {limit:g} s" if result is None else _seconds(result[stage]))
        done = [(s, r[stage]) for s, r in by_size.items() if r is not None]
        if len(done) == len(sizes) >= 2:
            (small, t_small), (large, t_large) = done[0], done[-1]
            per_small, per_large = t_small / small * 1e6, t_large / large * 1e6
            trend, ratio = f"{per_small:.2f} → {per_large:.2f}", f"{per_large / per_small:.2f}"
        else:
            trend, ratio = "killed", "—"
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {trend} | {ratio} |")
    return "\n".join(lines)


def stages_table(stages: dict[str, dict[str, float] | None], size: int, limit: float) -> str:
    names = ("parse", "split", "fold", "analysis", "display")
    lines = [
        f"| input ({size_label(size)}) | " + " | ".join(names) + " |",
        "|---" + "|--:" * len(names) + "|",
    ]
    for kind, times in stages.items():
        cells = [f"> {limit:g} s (all)"] * len(names) if times is None else [_seconds(times[n]) for n in names]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(kinds: Sequence[str], sizes: Sequence[int], limit: float, news: str) -> Results:
    results: Results = {}
    for kind in kinds:
        results[kind] = {}
        for size in sizes:
            text = file_text(kind, news, size)
            result = limited(lambda text=text: measure(text), limit)  # type: ignore[misc]
            results[kind][size] = result
            shown = "killed" if result is None else f"split {result['split']:.2f} s, build {result['build']:.2f} s"
            print(f"{kind}, {size_label(size)}: {shown}", file=sys.stderr, flush=True)
            if result is None:
                break  # a larger one would take longer still
    return results


def check(size: int, factor: float, news: str) -> int:
    """Exit status 1 when building some input takes more than ``factor`` × building ordinary news of ``size``.

    The news is built three times and the median taken. An input over the limit is tried once more,
    against a baseline measured again: a busy machine slows one run, a quadratic step every run.
    """
    ordinary = file_text("news", news, size)
    baseline = statistics.median(measure(ordinary)["build"] for _ in range(3))
    failed = []
    for kind in INPUTS:
        if kind == "news":
            continue
        text = file_text(kind, news, size)
        for attempt in (1, 2):
            if attempt == 2:
                baseline = statistics.median(measure(ordinary)["build"] for _ in range(3))
            limit = factor * baseline
            result = limited(lambda text=text: measure(text), limit)  # type: ignore[misc]
            if result is not None:
                times = result["build"] / baseline
                print(
                    f"{kind}, {size_label(size)}: build {result['build']:.2f} s, {times:.1f} × news ({baseline:.2f} s);"
                    f" split {result['split'] * 1000:.0f} ms, {result['sentences']} sentences,"
                    f" the longest {result['longest']} characters"
                )
                break
            over = f"over {limit:.2f} s = {factor:g} × news ({baseline:.2f} s)"
            print(f"{kind}, {size_label(size)}: {over}, attempt {attempt}")
        else:
            failed.append(kind)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help="body sizes in bytes (K, M suffixes)")
    parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated input names")
    parser.add_argument("--limit", type=float, default=300, help="seconds before a measurement is killed")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--check", metavar="SIZE", help="compare every input's build with news of this size")
    parser.add_argument("--factor", type=float, default=10, help="with --check: the allowed multiple")
    parser.add_argument("--stages", metavar="SIZE", help="also time each step of the build at this size")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in ([args.check] if args.check else args.sizes.split(","))]
    largest = max([*sizes, parse_size(args.stages)] if args.stages else sizes)
    news = ordinary_news(args.data, wanted=largest)
    warm_up()
    if args.check:
        return check(sizes[0], args.factor, news)
    kinds = [k.strip() for k in args.inputs.split(",")]
    results = run(kinds, sizes, args.limit, news)
    print("Splitting (`split_article`):\n")
    print(table(results, "split", args.limit))
    print("\nWhole build (`parse_article` + `build_index`):\n")
    print(table(results, "build", args.limit))
    if args.stages:
        size = parse_size(args.stages)
        stages = {}
        for kind in kinds:
            text = file_text(kind, news, size)
            stages[kind] = limited(lambda text=text: measure_stages(text), args.limit)  # type: ignore[misc]
        print("\nEach step over the article's sentences, one after the other:\n")
        print(stages_table(stages, size, args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
