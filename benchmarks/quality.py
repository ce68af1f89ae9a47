"""Sentence-retrieval quality on the QA sets of ``../shared/data`` (definition in its README).

Every sentence of every paragraph of a split is indexed (one article per paragraph, titled as in the
set); for each answerable question, a sentence at rank k is a hit when it contains one of the gold
answers, both sides folded alike. Reports Recall@1, Recall@5, MRR@10 and paragraph Recall@1/@5.

    uv run python -m benchmarks.quality [pquad_val persianqa_test]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval import Article, Index, build_index
from retrieval.normalize import fold

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SPLITS = ("pquad_val", "persianqa_test")

_SPACES = re.compile(r"\s+")


def _key(text: str) -> str:
    return _SPACES.sub(" ", fold(text)).strip()


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Split:
    name: str
    articles: list[Article]
    questions: list[dict]
    unanswerable: list[dict]


def load_split(name: str, data: Path = DATA) -> Split:
    """Read a QA split: one article per paragraph, with its title and id."""
    folder = data / name
    articles = [
        Article(id=p["doc_id"], title=p["title"], date=None, paragraphs=(p["text"],), digest="")
        for p in read_jsonl(folder / "corpus.jsonl")
    ]
    return Split(name, articles, read_jsonl(folder / "questions.jsonl"), read_jsonl(folder / "unanswerable.jsonl"))


def gold_rows(index: Index, questions: Sequence[dict]) -> list[set[int]]:
    """For each question, the rows of the index's sentences that contain one of its answers."""
    return gold_rows_in([index.sentence(i).text for i in range(len(index))], questions)


def gold_rows_in(texts: Sequence[str], questions: Sequence[dict]) -> list[set[int]]:
    """For each question, the rows of ``texts`` (sentences) that contain one of its answers."""
    keys = [_key(text) for text in texts]
    joined = "\n".join(keys)
    starts = np.zeros(len(keys), dtype=np.int64)
    np.cumsum([len(k) + 1 for k in keys[:-1]], out=starts[1:])
    cache: dict[str, set[int]] = {}
    gold = []
    for q in questions:
        rows: set[int] = set()
        for answer in {_key(a) for a in q["answers"]} - {""}:
            if answer not in cache:
                found, at = set(), joined.find(answer)
                while at >= 0:
                    found.add(int(np.searchsorted(starts, at, side="right") - 1))
                    at = joined.find(answer, at + 1)
                cache[answer] = found
            rows |= cache[answer]
        gold.append(rows)
    return gold


def hit_row(index: Index, article: int, position: int) -> int:
    return int(np.searchsorted(index.sentence_article, article)) + position


@dataclass
class Report:
    split: str
    questions: int
    recall_1: float
    recall_5: float
    mrr_10: float
    paragraph_recall_1: float
    paragraph_recall_5: float
    median_ms: float
    p99_ms: float
    build_s: float
    sentences: int

    def row(self) -> str:
        return (
            f"| {self.split} | {self.recall_1:.1f} | {self.recall_5:.1f} | {self.mrr_10:.1f} | "
            f"{self.paragraph_recall_1:.1f} | {self.paragraph_recall_5:.1f} | {self.median_ms:.2f} | "
            f"{self.p99_ms:.2f} | {self.build_s:.1f} | {self.sentences} |"
        )


HEADER = (
    "| split | R@1 | R@5 | MRR@10 | para R@1 | para R@5 | median ms | p99 ms | build s | sentences |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class Scores:
    """Sentence and paragraph recall, in percent, over a set of ranked questions."""

    recall_1: float
    recall_5: float
    mrr_10: float
    paragraph_recall_1: float
    paragraph_recall_5: float


def score_rankings(
    rankings: Sequence[Sequence[int]],
    gold: Sequence[set[int]],
    row_article: np.ndarray,
    gold_articles: Sequence[int | None],
) -> Scores:
    """Score ranked sentence rows (best first) against the gold rows and each question's gold article."""
    r1 = r5 = mrr = p1 = p5 = 0.0
    for ranked, rows, gold_doc in zip(rankings, gold, gold_articles, strict=True):
        r1 += bool(ranked[:1] and ranked[0] in rows)
        r5 += any(r in rows for r in ranked[:5])
        mrr += next((1 / (i + 1) for i, r in enumerate(ranked[:10]) if r in rows), 0.0)
        docs = [int(row_article[r]) for r in ranked]
        p1 += bool(docs[:1] and docs[0] == gold_doc)
        p5 += gold_doc in docs[:5]
    n = max(len(rankings), 1) / 100
    return Scores(r1 / n, r5 / n, mrr / n, p1 / n, p5 / n)


def evaluate(split: Split, index: Index | None = None, search: Callable | None = None) -> Report:
    """Measure ``index`` (built here when not given) on ``split``'s answerable questions.

    ``search(question, k)`` replaces ``index.search`` when given (it must return Pasokh hits).
    """
    started = time.perf_counter()
    index = index or build_index(split.articles)
    build_s = time.perf_counter() - started
    search = search or index.search
    gold = gold_rows(index, split.questions)
    doc_of = {a.id: i for i, a in enumerate(index.articles)}
    rankings = []
    latencies = []
    for q in split.questions:
        t = time.perf_counter()
        hits = search(q["question"], 10)
        latencies.append(time.perf_counter() - t)
        rankings.append([hit_row(index, h.sentence.article, h.sentence.position) for h in hits])
    scores = score_rankings(
        rankings, gold, np.asarray(index.sentence_article), [doc_of.get(q["doc_id"]) for q in split.questions]
    )
    latencies_ms = sorted(x * 1e3 for x in latencies)
    return Report(
        split.name,
        len(split.questions),
        scores.recall_1,
        scores.recall_5,
        scores.mrr_10,
        scores.paragraph_recall_1,
        scores.paragraph_recall_5,
        statistics.median(latencies_ms),
        latencies_ms[int(0.99 * (len(latencies_ms) - 1))],
        build_s,
        len(index),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="*", default=list(SPLITS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    print(HEADER)
    for name in args.splits:
        print(evaluate(load_split(name, args.data)).row(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
