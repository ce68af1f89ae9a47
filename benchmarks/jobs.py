"""The measurements, each run in its own process by ``benchmarks.isolate`` (arguments and results are
plain JSON-able data).

- ``corpus_job``: write a scale corpus; ``sample_job``: write the question sample.
- ``quality_job``: one system on the QA splits: sentence recall, latency, and its confidence and
  decisions on answerable and unanswerable questions.
- ``build_job``: one system on a scale corpus: build time, memory, query latency over the sample, save
  time and size on disk. ``load_job``: the saved index loaded in a fresh process: time, memory, and
  whether it ranks as the built one did.

Queries run one at a time in this one thread; a latency includes analysing the question.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.corpus import base_id, limit_split, question_sample, read_corpus, split_corpus, write_corpus
from benchmarks.quality import gold_rows_in, load_split, score_rankings
from benchmarks.systems import System, make
from benchmarks.variants import VARIANTS

WARM_UP = ("پایتخت ایران کجاست؟", "بازی‌های المپیک در چه سالی برگزار شد؟", "رئیس فدراسیون فوتبال کیست؟")
"""Asked before timing anything, so lazy initialisation (caches, hazm tools) is not timed."""
K = 10
VARIANT_QUESTIONS = 1000
"""Answerable questions of each split asked again in every typing variant (``benchmarks.variants``)."""
MIN_TIMED_QUERIES = 20
"""The latency sample stops at the query budget, but not before this many queries."""


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss / 2**20)


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in seconds)
    return {"median_ms": statistics.median(ms), "p99_ms": ms[int(0.99 * (len(ms) - 1))]} if ms else {}


def _warm_up(system: System) -> None:
    for question in WARM_UP:
        system.search(question, K)


def corpus_job(data: str, size: int, path: str) -> dict[str, Any]:
    return write_corpus(Path(data), size, Path(path))


def sample_job(data: str, qa: int, titles: int, title_pool: int, path: str) -> dict[str, int]:
    sample = question_sample(Path(data), qa, titles, title_pool)
    Path(path).write_text(json.dumps(sample, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"qa": sum(q["kind"] == "qa" for q in sample), "titles": sum(q["kind"] == "title" for q in sample)}


def quality_job(system: str, data: str, splits: list[str], limit: int | None) -> dict[str, Any]:
    """Measure one system on each QA split (all its questions, or the first ``limit``)."""
    return {name: _quality(system, Path(data), name, limit) for name in splits}


def _quality(name: str, data: Path, split_name: str, limit: int | None) -> dict[str, Any]:
    split = load_split(split_name, data)
    if limit is not None:
        split = limit_split(split, limit)
    corpus = split_corpus(split)
    assert corpus.texts is not None
    gold = gold_rows_in(corpus.texts, split.questions)
    system = make(name)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        system.build(corpus, Path(folder))
        build_s = time.perf_counter() - started
        _warm_up(system)
        rankings, latencies, confidence = [], [], []
        for q in split.questions:
            started = time.perf_counter()
            ranked = system.search(q["question"], K)
            latencies.append(time.perf_counter() - started)
            rankings.append(ranked.rows)
            confidence.append(ranked.confidence)
        unanswerable = [system.search(q["question"], K).confidence for q in split.unanswerable]
        typed = split.questions[:VARIANT_QUESTIONS]
        variants = {
            name: [system.search(rewrite(q["question"]), K).rows for q in typed] for name, rewrite in VARIANTS.items()
        }
        decided = [system.answers(q["question"]) for q in split.questions]
        decided_unanswerable = [system.answers(q["question"]) for q in split.unanswerable]
    article = {article_id: i for i, article_id in enumerate(corpus.ids)}
    gold_articles = [article.get(q["doc_id"]) for q in split.questions]
    scores = score_rankings(rankings, gold, corpus.row_article, gold_articles)
    n = len(variants[next(iter(VARIANTS))])
    typed_scores = {
        name: score_rankings(ranked, gold[:n], corpus.row_article, gold_articles[:n]).recall_1
        for name, ranked in {"as asked": rankings[:n], **variants}.items()
    }
    return {
        "sentences": len(corpus),
        "questions": len(split.questions),
        "unanswerable": len(split.unanswerable),
        "build_s": build_s,
        **vars(scores),
        **percentiles(latencies),
        "confidence": confidence,
        "confidence_unanswerable": unanswerable,
        "rule": system.rule,
        "variants": typed_scores,
        "variant_questions": n,
        "answered": None if None in decided else decided,
        "answered_unanswerable": None if None in decided_unanswerable else decided_unanswerable,
    }


def build_job(system: str, corpus: str, sample: str, folder: str, query_budget: float, record: int) -> dict[str, Any]:
    """Build one system on a scale corpus, time the sample's queries, save it; keep the first rankings."""
    engine = make(system)
    data = read_corpus(Path(corpus), articles=engine.needs_articles, texts=not engine.needs_articles)
    baseline = rss_mb()
    started = time.perf_counter()
    engine.build(data, Path(folder))
    build_s = time.perf_counter() - started
    after_build, build_peak = rss_mb(), peak_mb()

    questions = json.loads(Path(sample).read_text(encoding="utf-8"))
    _warm_up(engine)
    latencies: list[float] = []
    rankings: list[list[int]] = []
    titles: list[tuple[bool, bool]] = []
    budget_end = time.perf_counter() + query_budget
    for q in questions:
        if len(latencies) >= MIN_TIMED_QUERIES and time.perf_counter() > budget_end:
            break
        started = time.perf_counter()
        ranked = engine.search(q["text"], K)
        latencies.append(time.perf_counter() - started)
        if len(rankings) < record:
            rankings.append(ranked.rows)
        if q["kind"] == "title":
            articles = np.searchsorted(data.starts, ranked.rows, side="right") - 1
            found = [base_id(data.ids[a]) for a in articles]
            titles.append((found[:1] == [q["article"]], q["article"] in found))
    after_queries = rss_mb()

    started = time.perf_counter()
    engine.save(Path(folder))
    save_s = time.perf_counter() - started
    return {
        "sentences": len(data),
        "baseline_mb": baseline,
        "build_s": build_s,
        "rss_after_build_mb": after_build,
        "peak_build_mb": build_peak,
        "rss_after_queries_mb": after_queries,
        "queries": len(latencies),
        "of_queries": len(questions),
        **percentiles(latencies),
        "title_questions": len(titles),
        "title_hit_1": 100 * sum(t[0] for t in titles) / len(titles) if titles else None,
        "title_hit_10": 100 * sum(t[1] for t in titles) / len(titles) if titles else None,
        "save_s": save_s,
        "disk_mb": folder_mb(Path(folder)),
        "peak_mb": peak_mb(),
        "rankings": rankings,
    }


def load_job(system: str, corpus: str, sample: str, folder: str, expected: list[list[int]]) -> dict[str, Any]:
    """Load a saved index in this fresh process; check it ranks the first questions as the built one did."""
    data = read_corpus(Path(corpus), articles=False, texts=False)
    engine = make(system)
    baseline = rss_mb()
    started = time.perf_counter()
    engine.load(Path(folder), data)
    load_s = time.perf_counter() - started
    after_load = rss_mb()
    questions = json.loads(Path(sample).read_text(encoding="utf-8"))
    same = sum(engine.search(q["text"], K).rows == rows for q, rows in zip(questions, expected, strict=False))
    return {
        "baseline_mb": baseline,
        "load_s": load_s,
        "rss_after_load_mb": after_load,
        "rss_after_queries_mb": rss_mb(),
        "same_rankings": same,
        "compared": len(expected),
    }
