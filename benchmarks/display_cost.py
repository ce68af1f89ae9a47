"""What showing an answer costs: ``pasokh ask --json`` per question on about 48,000 sentences, beside bm25s.

    uv run --group bench python -m benchmarks.display_cost [--out DIR] [--questions 400] [--repeat 3]

The corpus is the news articles (``news/articles.jsonl``) and the paragraphs of ``pquad_val``, about
48,000 sentences. The script builds Pasokh's index and saves it to ``DIR/index`` (kept: a second run
reuses it unless ``--rebuild``), then:

- pipes the questions to ``pasokh ask --json --index DIR/index -`` (as ``python -m bot.cli``, so the
  code beside this script is measured) and, separately, the first question alone, and reports (time
  with all − time with one) / (questions − 1): the cost of a question on the command line, its start-up,
  the index load and what the first question loads (hazm's lexicons, when display runs) left out (best
  of ``--repeat`` runs);
- in this process, times ``answer`` + the CLI's JSON rendering of each question (Pasokh), and bm25s in its
  ``fast`` setting (``benchmarks.systems``: hazm words, stopwords removed) searching the same sentences for
  the same questions, and reports the median and mean per question of each.

Questions: the first ``--questions`` questions of ``pquad_val`` (answerable and unanswerable alternating)
and news titles, a fifth of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.corpus import Corpus, _starts, news_articles, sentences_of
from benchmarks.quality import DATA, load_split, read_jsonl

REPO = Path(__file__).resolve().parent.parent


def articles(data: Path) -> list:
    return news_articles(data) + list(load_split("pquad_val", data).articles)


def questions(data: Path, count: int) -> list[str]:
    qa = read_jsonl(data / "pquad_val" / "questions.jsonl")
    unanswerable = read_jsonl(data / "pquad_val" / "unanswerable.jsonl")
    titles = [a.title for a in news_articles(data)][:: max(1, 3933 // max(1, count // 5))]
    picked = [q["question"] for pair in zip(qa, unanswerable, strict=False) for q in pair]
    mixed = picked[: count - count // 5] + titles[: count // 5]
    return [q.replace("\n", " ") for q in mixed]


def _cli_seconds(index: Path, stdin: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "--index", str(index), "-"],
        input=stdin,
        text=True,
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.display_cost", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "display_cost")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)

    import retrieval
    from retrieval.store import load_index, save_index

    folder = args.out / "index"
    corpus_articles = articles(args.data)
    if args.rebuild or not (folder / "manifest.json").exists():
        started = time.perf_counter()
        index = retrieval.build_index(corpus_articles)
        print(f"built {len(index)} sentences, {len(index.articles)} articles in {time.perf_counter() - started:.1f} s")
        save_index(index, folder)
    index = load_index(folder)
    print(f"index: {len(index)} sentences, build_seconds {index.manifest['build_seconds']}")
    asked = questions(args.data, args.questions)
    stdin = "".join(q + "\n" for q in asked)

    first = asked[0] + "\n"
    _cli_seconds(folder, first)  # warm the page cache
    with_all = min(_cli_seconds(folder, stdin) for _ in range(args.repeat))
    with_one = min(_cli_seconds(folder, first) for _ in range(args.repeat))
    print(
        f"pasokh ask --json: {len(asked)} questions {with_all:.2f} s, one question {with_one:.2f} s, "
        f"{(with_all - with_one) / (len(asked) - 1) * 1000:.2f} ms per question"
    )

    from bot.terminal import _as_json
    from retrieval.answer import answer

    def pasokh_once(q: str) -> None:
        _as_json(answer(index, q, 3))

    for q in asked[:20]:
        pasokh_once(q)
    report = {"pasokh answer+json": _per_question(pasokh_once, asked, args.repeat)}

    from benchmarks.systems import Bm25s, warm_up_hazm

    warm_up_hazm()
    texts = [t for a in corpus_articles for t in sentences_of(a)]
    bm25 = Bm25s()
    started = time.perf_counter()
    bm25.build(Corpus([a.id for a in corpus_articles], _starts([]), None, texts), args.out)
    print(f"bm25s-fast built over {len(texts)} sentences in {time.perf_counter() - started:.1f} s")
    report["bm25s-fast search"] = _per_question(lambda q: bm25.search(q, 3), asked, args.repeat)
    for name, (median, mean) in report.items():
        print(f"{name:<22} median {median:.3f} ms, mean {mean:.3f} ms per question")
    print(json.dumps({k: {"median_ms": v[0], "mean_ms": v[1]} for k, v in report.items()}))
    return 0


def _per_question(run, asked: list[str], repeat: int) -> tuple[float, float]:
    best: list[float] = [float("inf")] * len(asked)
    for _ in range(repeat):
        for i, q in enumerate(asked):
            started = time.perf_counter()
            run(q)
            best[i] = min(best[i], time.perf_counter() - started)
    return statistics.median(best) * 1000, statistics.fmean(best) * 1000


if __name__ == "__main__":
    sys.exit(main())
