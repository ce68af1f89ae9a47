"""Train the second stage (``retrieval.second``) on pquad_val and write ``retrieval/data/second_stage.json``.

    uv run --group bench python -m benchmarks.train [--data DIR] [--out FILE] [--check-only]

1. The ranker: for each answerable question of pquad_val, the first stage's best ``CANDIDATES``
   sentences, labelled by whether they hold a gold answer; LightGBM's LambdaRank learns to order them
   (grouped CV R@1: 85.5 against 84.5 for scikit-learn's pointwise HistGradientBoostingClassifier on the
   same features). Reported: Recall@1 of grouped 5-fold cross-validation
   (folds by article title, so no article is both trained and tested on), never training-set scores.
2. The no-answer model: one row per question (the best candidate after the ranker, and the question):
   pquad_val's answerable questions, also as people type them (``benchmarks.variants``), against its
   unanswerable questions and off-topic ones (pquad_val's questions asked of the news articles). The
   ranker scores come from the folds, as they would for unseen questions. The threshold refuses
   at most ``REFUSE_ANSWERABLE`` of the answerable rows of every question style (out-of-fold): as asked,
   as typed, as keywords.

persianqa_test is never read here: it is the transfer check (``python -m benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.model_selection import GroupKFold

from benchmarks.corpus import news_articles
from benchmarks.quality import DATA, gold_rows, load_split
from benchmarks.variants import VARIANTS
from retrieval import Index, analysis, build_index, second
from retrieval.second import CONFIDENCE_FEATURES, FEATURES, Trees

FOLDS = 5
SEED = 20261206
REFUSE_ANSWERABLE = 0.01
"""Share of answerable questions of each style (out-of-fold) the no-answer threshold refuses at most: a
model of one question style refuses more of another's (persianqa_test: 18.4% at 1.5% overall here)."""
_COMMON = {"verbosity": -1, "num_threads": 2, "seed": SEED, "deterministic": True, "force_row_wise": True}
# Small on purpose: 150 trees of depth 5 walk 30 candidates in a fraction of a millisecond (400 trees of
# unbounded depth: 85.2 vs 85.2 grouped CV R@1, and three times the time).
RANKER = {
    "objective": "lambdarank",
    "num_leaves": 15,
    "max_depth": 5,
    "learning_rate": 0.1,
    "min_data_in_leaf": 40,
    **_COMMON,
}
RANKER_ROUNDS = 150
CONFIDENCE = {
    "objective": "binary",
    "num_leaves": 8,
    "max_depth": 4,
    "learning_rate": 0.1,
    "min_data_in_leaf": 60,
    **_COMMON,
}
CONFIDENCE_ROUNDS = 100


@dataclass
class Rows:
    """Feature rows of many questions' candidates."""

    features: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    views: list[second.QuestionView] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    golds: list[set[int]] = field(default_factory=list)

    def add(self, index: Index, question: str, gold: set[int], group: str) -> None:
        found = index.candidates(question)
        if found is None or not len(found[1]):
            self.features.append(np.zeros((0, len(FEATURES)), dtype=np.float32))
            self.labels.append(np.zeros(0, dtype=bool))
            self.views.append(
                second.QuestionView(question, (), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
            )
        else:
            view, rows, scores = found
            self.features.append(second.candidate_features(index, view, rows, scores))
            self.labels.append(np.array([int(r) in gold for r in rows]))
            self.views.append(view)
        self.rows.append(found[1] if found is not None else np.zeros(0, dtype=np.int64))
        self.golds.append(gold)
        self.groups.append(group)


def trees(booster: lgb.Booster) -> Trees:
    """A trained booster's trees as flat arrays (``retrieval.second.Trees``), from LightGBM's own JSON dump."""
    feature: list[int] = []
    threshold: list[float] = []
    children: tuple[list[int], list[int]] = ([], [])
    value: list[float] = []
    roots, depth = [], 0

    def add(node: dict[str, Any], level: int) -> int:
        nonlocal depth
        at = len(feature)
        feature.append(0)
        threshold.append(np.inf)
        children[0].append(at)
        children[1].append(at)
        value.append(0.0)
        if "leaf_value" in node:
            value[at] = float(node["leaf_value"])
            depth = max(depth, level)
            return at
        if node["decision_type"] != "<=" or node["missing_type"] == "Zero":
            raise ValueError(f"unsupported split: {node['decision_type']}, missing {node['missing_type']}")
        feature[at] = int(node["split_feature"])
        threshold[at] = float(node["threshold"])
        children[0][at] = add(node["left_child"], level + 1)
        children[1][at] = add(node["right_child"], level + 1)
        return at

    for tree in booster.dump_model()["tree_info"]:
        roots.append(add(tree["tree_structure"], 0))
    return Trees(
        feature=np.array(feature, dtype=np.int32),
        threshold=np.array(threshold),
        children=np.array(children, dtype=np.int32),
        value=np.array(value),
        roots=np.array(roots, dtype=np.int32),
        depth=depth,
    )


def fit_ranker(features: list[np.ndarray], labels: list[np.ndarray]) -> lgb.Booster:
    """LambdaRank over each question's candidates (questions without candidates left out)."""
    kept = [i for i, f in enumerate(features) if len(f)]
    data = lgb.Dataset(
        np.concatenate([features[i] for i in kept]),
        np.concatenate([labels[i] for i in kept]).astype(np.int32),
        group=[len(features[i]) for i in kept],
    )
    return lgb.train(RANKER, data, RANKER_ROUNDS)


def fit_confidence(x: np.ndarray, y: np.ndarray) -> lgb.Booster:
    return lgb.train(CONFIDENCE, lgb.Dataset(x, y.astype(np.int32)), CONFIDENCE_ROUNDS)


def recall(features: list[np.ndarray], labels: list[np.ndarray], scores: list[np.ndarray]) -> dict[str, float]:
    """Recall@1, Recall@5 and MRR@10 (percent) of candidates ordered by ``scores``."""
    r1 = r5 = mrr = 0.0
    for y, s in zip(labels, scores, strict=True):
        order = second.rerank(s) if len(s) else np.zeros(0, dtype=int)
        hit = y[order] if len(order) else y
        r1 += bool(len(hit) and hit[0])
        r5 += bool(hit[:5].any())
        mrr += next((1 / (i + 1) for i, h in enumerate(hit[:10]) if h), 0.0)
    n = len(labels) / 100
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR@10": mrr / n}


def fold_rankers(rows: Rows, folds: list[tuple[np.ndarray, np.ndarray]]) -> list[Trees]:
    """One ranker per fold, trained on the other folds' questions."""
    return [trees(fit_ranker([rows.features[i] for i in train], [rows.labels[i] for i in train])) for train, _ in folds]


def scored(rows: Rows, rankers: Sequence[Trees], fold_of: dict[str, int]) -> list[np.ndarray]:
    """Each question's candidate scores from the ranker of the fold that did not train on its article."""
    return [
        rankers[fold_of.get(g, 0)].predict(f) if len(f) else np.zeros(0)
        for f, g in zip(rows.features, rows.groups, strict=True)
    ]


def passage_recall(index: Index, rows: Rows, scores: list[np.ndarray]) -> float:
    """Percent of questions whose best sentence or one of its neighbours (as the bot shows it) holds an answer."""
    found = 0
    for candidates, gold, s in zip(rows.rows, rows.golds, scores, strict=True):
        if not len(candidates):
            continue
        best = int(candidates[second.rerank(s)[0]])
        article = index.sentence_article[best]
        shown = [r for r in (best - 1, best, best + 1) if 0 <= r < len(index) and index.sentence_article[r] == article]
        found += any(r in gold for r in shown)
    return 100 * found / len(rows.rows)


def confidence_rows(rows: Rows, scores: list[np.ndarray]) -> np.ndarray:
    out = []
    for features, s, view in zip(rows.features, scores, rows.views, strict=True):
        order = second.rerank(s) if len(s) else np.zeros(0, dtype=int)
        out.append(second.confidence_features(view, features[order], np.asarray(s)[order]))
    return np.array(out, dtype=np.float32)


def refused(probability: np.ndarray, threshold: float) -> float:
    return 100 * float(np.mean(probability < threshold)) if len(probability) else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=second.MODEL_FILE)
    parser.add_argument("--check-only", action="store_true", help="report cross-validation, write nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    split = load_split("pquad_val", args.data)
    index = build_index(split.articles)
    title_of = {a.id: a.title for a in split.articles}
    asked = Rows()
    for q, gold in zip(split.questions, gold_rows(index, split.questions), strict=True):
        asked.add(index, q["question"], gold, title_of[q["doc_id"]])
    groups = np.array(asked.groups)
    folds = list(GroupKFold(n_splits=FOLDS).split(np.zeros(len(groups)), groups=groups))
    print(f"pquad_val: {len(asked.features)} questions, {sum(len(f) for f in asked.features)} candidates")

    in_order = [-np.arange(len(f), dtype=float) for f in asked.features]
    first = recall(asked.features, asked.labels, in_order) | {"passage": passage_recall(index, asked, in_order)}
    fold_of = {g: f for f, (_, test) in enumerate(folds) for g in set(groups[test])}
    rankers = fold_rankers(asked, folds)
    oof = scored(asked, rankers, fold_of)
    cv = recall(asked.features, asked.labels, oof) | {"passage": passage_recall(index, asked, oof)}
    print("first stage   " + "  ".join(f"{k} {v:.1f}" for k, v in first.items()))
    print("second (CV)   " + "  ".join(f"{k} {v:.1f}" for k, v in cv.items()))
    ranker_trees = trees(fit_ranker(asked.features, asked.labels))

    # -- no answer: answerable (as asked and as typed), unanswerable, off-topic -----------------------
    def keywords(question: str) -> str:
        """A question typed as a search query: its content words only («وزن فیل کیلوگرم»)."""
        return " ".join(analysis.content_words(question))

    def rows_of(questions: Sequence[dict], on: Index, rewrite: Callable[[str], str] = str) -> Rows:
        rows = Rows()
        for q in questions:
            rows.add(on, rewrite(q["question"]), set(), title_of[q["doc_id"]])
        return rows

    typed = Rows()
    for n, q in enumerate(split.questions):  # each question in one variant
        rewrite = list(VARIANTS.values())[n % len(VARIANTS)]
        typed.add(index, rewrite(q["question"]), set(), title_of[q["doc_id"]])
    news_index = build_index(news_articles(args.data))
    sets = {
        "typed": (typed, True),
        "keywords": (rows_of(split.questions[1::2], index, keywords), True),
        "unanswerable": (rows_of(split.unanswerable, index), False),
        "unanswerable keywords": (rows_of(split.unanswerable[1::2], index, keywords), False),
        "off-topic": (rows_of(split.questions[::2] + split.unanswerable[::2], news_index), False),
        "off-topic keywords": (rows_of(split.questions[1::4], news_index, keywords), False),
    }
    parts = {"answerable": confidence_rows(asked, oof)} | {
        name: confidence_rows(rows, scored(rows, rankers, fold_of)) for name, (rows, _) in sets.items()
    }
    answerable = {"answerable"} | {name for name, (_, label) in sets.items() if label}
    part_groups = {"answerable": groups} | {name: np.array(rows.groups) for name, (rows, _) in sets.items()}
    x = np.concatenate(list(parts.values()))
    y = np.concatenate([np.full(len(v), k in answerable) for k, v in parts.items()])
    g = np.concatenate(list(part_groups.values()))
    probability = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=FOLDS).split(x, y, groups=g):
        model = trees(fit_confidence(x[train], y[train]))
        probability[test] = 1 / (1 + np.exp(-model.predict(x[test])))
    at = np.cumsum([0, *map(len, parts.values())])
    threshold = min(
        float(np.quantile(probability[a:b], REFUSE_ANSWERABLE))
        for name, a, b in zip(parts, at[:-1], at[1:], strict=True)
        if name in answerable
    )
    start = 0
    print(f"no answer (CV), threshold {threshold:.3f}:")
    for name, part in parts.items():
        share = refused(probability[start : start + len(part)], threshold)
        print(f"  {name:<13} {len(part):>5} rows, refused {share:5.1f}%")
        start += len(part)
    confidence = trees(fit_confidence(x, y))

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    report = {
        "pquad_val first stage": first,
        "pquad_val grouped CV": cv,
        "no answer refused (CV)": {
            name: refused(probability[a : a + len(part)], threshold)
            for name, part, a in zip(parts, parts.values(), np.cumsum([0, *map(len, parts.values())]), strict=False)
        },
    }
    print(f"{time.perf_counter() - started:.0f} s")
    if args.check_only:
        return 0
    data = {
        "version": f"pquad_val-{commit.stdout.strip() or 'unknown'}-{SEED}",
        "trained_on": "pquad_val (answerable, unanswerable, typed variants) + its questions on ../shared/data/news",
        "features": list(FEATURES),
        "confidence_features": list(CONFIDENCE_FEATURES),
        "threshold": threshold,
        "report": report,
        "ranker": ranker_trees.to_json(),
        "confidence": confidence.to_json(),
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
