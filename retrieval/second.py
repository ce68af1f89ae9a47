"""The second stage: which of the first stage's candidates answers, and whether any does.

The first stage (``retrieval.postings``) finds the right paragraph well but often puts first the
sentence that restates the question, when the answer is in the next sentence or the title. Here each of
its best ``CANDIDATES`` sentences gets a row of features (how much of the question it, its neighbours,
its paragraph and its title hold; whether it offers what the question asks for: a number, a date, a
place, a reason; its first-stage score and rank), and a small gradient-boosted model scores the rows.

A second model, on the features of the best candidate and of the question, gives the probability that
the best candidate answers at all: the "no answer" decision.

Both models are trained by ``python -m benchmarks.train`` (scikit-learn, grouped cross-validation by
article) and saved as JSON in ``retrieval/data/second_stage.json``: trees as flat arrays, evaluated here
with NumPy (no scikit-learn, no pickle at run time).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval import analysis
from retrieval.normalize import fold

if TYPE_CHECKING:
    from retrieval.index import Index

__all__ = [
    "CANDIDATES",
    "CONFIDENCE_FEATURES",
    "FEATURES",
    "MODEL_FILE",
    "Model",
    "QuestionView",
    "Relations",
    "Trees",
    "candidate_features",
    "confidence_features",
    "model",
    "model_version",
    "rerank",
    "row_features",
    "set_features",
]

CANDIDATES = 30
"""First-stage sentences the second stage reorders."""
MODEL_FILE = Path(__file__).parent / "data" / "second_stage.json"


def _pattern(*alternatives: str) -> re.Pattern[str]:
    folded = sorted({fold(a) for a in alternatives}, key=len, reverse=True)
    return re.compile(" (?:" + "|".join(re.escape(a) for a in folded) + ") ")


# What a question asks for, from its folded words (spaced at both ends).
QUESTION_TYPES = {
    "who": _pattern("چه کسی", "چه کسانی", "کیست", "کیه", "چه شخصی", "کدام شخص", "چه فردی", "کی بود", "نام"),
    "when": _pattern(
        "کی",
        "چه زمانی",
        "چه سالی",
        "چه سال",
        "چه تاریخی",
        "چه قرنی",
        "چه ماهی",
        "چه روزی",
        "چه دهه",
        "چه دورهای",
        "چه وقت",
        "چه موقع",
        "چه هنگام",
        "چندم",
        "کدام سال",
        "چه سالهایی",
    ),
    "where": _pattern(
        "کجا",
        "کجاست",
        "کدام شهر",
        "کدام کشور",
        "کدام استان",
        "چه شهری",
        "چه کشوری",
        "چه مکانی",
        "کدام منطقه",
        "چه منطقهای",
        "کجای",
    ),
    "count": _pattern("چند", "چندتا", "چه تعداد", "چقدر", "چه مقدار", "چه میزان", "چند درصد", "چندمین"),
    "why": _pattern("چرا", "به چه دلیل", "چه دلیلی", "به چه علت", "علت", "دلیل"),
    "how": _pattern("چگونه", "چطور", "چطوری", "به چه صورت", "به چه شکل", "چه طور", "از چه طریق"),
    "which": _pattern("کدام", "کدامیک", "کدوم"),
    "what": _pattern("چیست", "چه چیزی", "چیه", "چه", "چی"),
}

FEATURES = (
    "score_ratio",
    "cover_sentence",
    "cover_paragraph",
    "cover_title",
    "matched_words",
    "question_words",
    "sentence_words",
    "density",
    "anaphoric",
    "digits",
    *(f"asks_{kind}" for kind in QUESTION_TYPES),
    "numeric",
    "best_in_paragraph",
    "article_candidates",
    "question_idf",
    "bigrams",
    "bigram_share",
    "new_words",
    "before_score_ratio",
    "after_score_ratio",
    "paragraph_score_ratio",
    "missing_idf",
    "rare_new_words",
)
"""The columns of a candidate's feature row, in order (the model file lists them too)."""

ANSWER_FEATURES = (
    "cover_sentence",
    "cover_paragraph",
    "cover_title",
    "matched_words",
    "question_words",
    "density",
    "bigrams",
    "bigram_share",
    "missing_idf",
    "digits",
    *(f"asks_{kind}" for kind in QUESTION_TYPES),
    "numeric",
)
"""The best candidate's features that the no-answer model reads: those that mean the same in a collection of
one article as of a million (not how many candidates there are, nor how they compare with each other)."""

CONFIDENCE_FEATURES = (
    "top",
    "top_gap",
    "top3_mean",
    "question_words",
    "question_idf",
    "unseen_idf",
    "unseen_share",
    "corrected_share",
    *(f"best_{name}" for name in ANSWER_FEATURES),
)
"""The columns of a question's no-answer row: the best candidate after the second stage, and the question."""


@dataclass(frozen=True)
class QuestionView:
    """What the features need of an analysed question (``retrieval.index`` builds it)."""

    text: str
    found: tuple[tuple[tuple[int, float], ...], ...]
    """For each searched word, its terms and their credit."""
    word_idf: np.ndarray
    unseen: np.ndarray
    """For each searched word: no term of it is in the collection."""
    corrected: np.ndarray
    """For each searched word: found only through spelling corrections."""


@lru_cache(maxsize=256)
def question_kinds(question: str) -> np.ndarray:
    """One flag per ``QUESTION_TYPES`` kind, and the question's ``numeric`` shape (read-only: cached, as the
    shards of a collection each ask for the same question's)."""
    spaced = f" {' '.join(analysis.words(question))} "
    kinds = [bool(pattern.search(spaced)) for pattern in QUESTION_TYPES.values()]
    flags = np.array([*kinds, analysis.question_shape(question).numeric], dtype=np.float32)
    flags.flags.writeable = False
    return flags


@lru_cache(maxsize=256)
def _asked(question: str) -> tuple[tuple[str, ...], frozenset[tuple[str, str]]]:
    """The question's words, and its ordered pairs of neighbouring words."""
    asked = tuple(analysis.question_words(question))
    return asked, frozenset(itertools.pairwise(asked))


@lru_cache(maxsize=1 << 18)
def _token_words(token: str) -> tuple[str, ...]:
    return tuple(analysis.words(token))


def sentence_words(text: str) -> list[str]:
    """``analysis.words`` of a sentence, token by token through a cache: folding whole candidate sentences
    costs 2 ms a question, and the same tokens come back in sentence after sentence."""
    return [w for token in text.split() for w in _token_words(token)]


_RELATIVE = ("score_ratio", "best_in_paragraph", "article_candidates", "before_score_ratio", "after_score_ratio")
"""Columns that depend on the other candidates (and ``paragraph_score_ratio``): ``set_features`` fills them."""


@dataclass(frozen=True)
class Relations:
    """Where candidate rows stand: their article and paragraph, and the rows just before and after them in
    their article (-1: none). Any ids that are distinct across the candidates compared will do."""

    article: np.ndarray
    paragraph: np.ndarray
    before: np.ndarray
    after: np.ndarray


def candidate_features(
    index: Index, view: QuestionView, rows: np.ndarray, scores: np.ndarray, *, top: float | None = None
) -> np.ndarray:
    """The feature rows (``FEATURES``) of candidate sentences ``rows`` with first-stage ``scores``, best first.

    Score ratios are to ``top``, by default the first score (a collection's segment passes the best of all)."""
    features, relations = row_features(index, view, rows)
    return set_features(features, relations, rows.astype(np.int64), scores, top=top)


def row_features(index: Index, view: QuestionView, rows: np.ndarray) -> tuple[np.ndarray, Relations]:
    """The columns of ``FEATURES`` that depend on each candidate row alone (the others are 0), and the rows'
    relations that ``set_features`` needs: the part a segment of a collection computes where its rows are."""
    n = len(rows)
    words = len(view.found)
    terms = np.array(sorted({t for word in view.found for t, _ in word}), dtype=np.int64)
    column = {int(t): i for i, t in enumerate(terms)}
    credit = np.zeros((words, len(terms)), dtype=np.float32)
    for w, word in enumerate(view.found):
        for term, c in word:
            credit[w, column[term]] = max(credit[w, column[term]], c)
    article = index.sentence_article[rows]
    last = len(index) - 1
    before = np.where((rows > 0) & (index.sentence_article[np.maximum(rows - 1, 0)] == article), rows - 1, -1)
    after = np.where((rows < last) & (index.sentence_article[np.minimum(rows + 1, last)] == article), rows + 1, -1)
    held = index.sentences.lookup(terms, rows) > 0  # terms × n
    paragraph = index.paragraphs.lookup(terms, index.paragraph_of[rows]) > 0  # terms × n
    articles, article_of = np.unique(article, return_inverse=True)
    listed = terms.tolist()
    title = (
        np.array([[t in index.title_terms(int(a)) for t in listed] for a in articles], dtype=bool)
        .reshape(len(articles), len(listed))[article_of]
        .T
    )

    idf = view.word_idf.astype(np.float32)
    total = float(idf.sum()) or 1.0

    def cover(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # For each word and row, its best credit among the terms present there.
        per_word = (credit[:, :, None] * present[None, :, :]).max(axis=1) if len(terms) else np.zeros((words, 0))
        return idf @ per_word / total, (per_word > 0).sum(axis=0)

    cover_sentence, matched = cover(held)
    cover_paragraph, _ = cover(paragraph)
    cover_title, _ = cover(title)

    texts = [sentence_words(index.sentence_text(int(r))) for r in rows]
    lengths = np.array([len(ws) for ws in texts], dtype=np.float32)
    kinds = np.broadcast_to(question_kinds(view.text), (n, len(QUESTION_TYPES) + 1))
    zeros = np.zeros(n)
    bigrams, pairs, new_words, rare_new = _word_features(view.text, texts)
    missing = (_credit_missing(credit, held) * idf[:, None]).max(axis=0) if words else np.zeros(n)
    stacked: np.ndarray = np.column_stack(
        [
            zeros,  # score_ratio
            cover_sentence,
            cover_paragraph,
            cover_title,
            matched,
            np.full(n, words),
            lengths,
            matched / np.maximum(lengths, 1),
            index.anaphoric[rows],
            index.digits[rows],
            kinds,
            zeros,  # best_in_paragraph
            zeros,  # article_candidates
            np.full(n, np.log1p(total)),
            bigrams,
            bigrams / max(pairs, 1),
            new_words,
            zeros,  # before_score_ratio
            zeros,  # after_score_ratio
            zeros,  # paragraph_score_ratio
            missing,
            rare_new,
        ]
    ).astype(np.float32)
    relations = Relations(
        article.astype(np.int64),
        index.paragraph_of[rows].astype(np.int64),
        before.astype(np.int64),
        after.astype(np.int64),
    )
    return stacked, relations


_SCORE_RATIO, _BEST_IN_PARAGRAPH, _ARTICLE_CANDIDATES = (FEATURES.index(n) for n in _RELATIVE[:3])
_BEFORE_RATIO, _AFTER_RATIO, _PARAGRAPH_RATIO = (
    FEATURES.index(n) for n in ("before_score_ratio", "after_score_ratio", "paragraph_score_ratio")
)


def set_features(
    features: np.ndarray, relations: Relations, ids: np.ndarray, scores: np.ndarray, *, top: float | None = None
) -> np.ndarray:
    """Fill in place (and return) the columns of ``row_features`` that compare the candidates, best first:
    ``ids`` tells them apart (and names neighbours, as ``relations`` do); score ratios are to ``top``, by
    default the first score."""
    n = len(ids)
    if top is None:
        top = float(scores[0]) if n else 0.0
    ratio = scores / top if top > 0 else np.zeros(n)
    # Candidates come best first: a paragraph's first candidate is its best.
    _, paragraph_first, paragraph_of = np.unique(relations.paragraph, return_index=True, return_inverse=True)
    first_in_paragraph = np.zeros(n, dtype=bool)
    first_in_paragraph[paragraph_first] = True
    _, article_of, article_candidates = np.unique(relations.article, return_inverse=True, return_counts=True)
    # The first-stage score of the sentences around, when they are candidates (the sentence after one that
    # restates the question often holds the answer), and of the paragraph's best candidate.
    by_row = np.argsort(ids)

    def ratio_of(neighbour: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(ids[by_row], neighbour), n - 1)
        held = (neighbour >= 0) & (ids[by_row][at] == neighbour)
        return np.where(held, ratio[by_row][at], 0.0)

    features[:, _SCORE_RATIO] = ratio
    features[:, _BEST_IN_PARAGRAPH] = first_in_paragraph
    features[:, _ARTICLE_CANDIDATES] = article_candidates[article_of]
    features[:, _BEFORE_RATIO] = ratio_of(relations.before)
    features[:, _AFTER_RATIO] = ratio_of(relations.after)
    features[:, _PARAGRAPH_RATIO] = ratio[paragraph_first][paragraph_of]
    return features


def _word_features(question: str, texts: list[list[str]]) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """For each candidate's words: the question's bigrams it holds (and how many the question has), the
    content words it adds, and how many of those are rare."""
    # Question words in their order, two by two, found in the sentence in that order.
    asked, pairs = _asked(question)
    bigrams = np.array([len(pairs & set(itertools.pairwise(ws))) for ws in texts], dtype=np.float32)
    asked_set = set(asked)
    stopwords = analysis.stopwords()
    new = [set(ws) - asked_set - stopwords for ws in texts]
    new_words = np.array([len(ws) for ws in new], dtype=np.float32)
    # Words the background news never has (20 sentences or more): names, mostly, which «چه کسی» asks for.
    common = analysis.background_frequencies()[1]
    rare_new = np.array([sum(w not in common and not w[0].isdigit() for w in ws) for ws in new], dtype=np.float32)
    return bigrams, len(pairs), new_words, rare_new


def _credit_missing(credit: np.ndarray, present: np.ndarray) -> np.ndarray:
    """For each word and row: 1 when none of the word's terms is in the row."""
    if not credit.shape[1]:
        return np.ones((credit.shape[0], present.shape[1]), dtype=np.float32)
    missing: np.ndarray = (credit[:, :, None] * present[None, :, :]).max(axis=1) == 0
    return missing.astype(np.float32)


_ANSWER_COLUMNS = [FEATURES.index(name) for name in ANSWER_FEATURES]


def confidence_features(view: QuestionView, features: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """The no-answer row (``CONFIDENCE_FEATURES``): ``features`` of the candidates, ``ranked`` their scores
    from the second stage, best first."""
    best = features[0] if len(features) else np.zeros(len(FEATURES), dtype=np.float32)
    idf = view.word_idf
    total = float(idf.sum()) or 1.0
    unseen = float(idf[view.unseen].sum()) if len(idf) else 0.0
    question = [
        ranked[0] if len(ranked) else -10.0,
        ranked[0] - ranked[1] if len(ranked) > 1 else 10.0,
        float(np.mean(ranked[:3])) if len(ranked) else -10.0,
        len(idf),
        np.log1p(total),
        unseen,
        unseen / total,
        float(idf[view.corrected].sum()) / total if len(idf) else 0.0,
    ]
    return np.concatenate([np.array(question, dtype=np.float32), best[_ANSWER_COLUMNS].astype(np.float32)])


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted trees as flat arrays, summed: a node goes to ``children[1]`` when the row's value of
    its ``feature`` is above its ``threshold``, else to ``children[0]``. A leaf is its own child (on
    feature 0, threshold +inf), so ``depth`` steps bring every row to its leaf in every tree."""

    feature: np.ndarray  # int32 per node
    threshold: np.ndarray  # float64 per node
    children: np.ndarray  # int32, 2 × nodes
    value: np.ndarray  # float64 per node: a leaf's contribution (0 elsewhere)
    roots: np.ndarray  # int32 per tree
    depth: int
    baseline: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trees:
        return cls(
            feature=np.asarray(data["feature"], dtype=np.int32),
            threshold=np.asarray([float(t) for t in data["threshold"]], dtype=np.float64),
            children=np.asarray(data["children"], dtype=np.int32).reshape(2, -1),
            value=np.asarray(data["value"], dtype=np.float64),
            roots=np.asarray(data["roots"], dtype=np.int32),
            depth=int(data["depth"]),
            baseline=float(data["baseline"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "depth": self.depth,
            "roots": self.roots.tolist(),
            "feature": self.feature.tolist(),
            # JSON has no infinity: a leaf's threshold is written as the string "inf".
            "threshold": [float(t) if np.isfinite(t) else "inf" for t in self.threshold],
            "children": self.children.tolist(),
            "value": [float(v) for v in self.value],
        }

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The raw score of each row of ``x`` (finite values): every tree walked for every row at once."""
        values = x.astype(np.float64)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            node = self.children[(values[rows, self.feature[node]] > self.threshold[node]).view(np.int8), node]
        scores: np.ndarray = self.baseline + self.value[node].sum(axis=1)
        return scores


@dataclass(frozen=True)
class Model:
    """The second stage: ``ranker`` scores candidates, ``confidence`` the best one (log-odds)."""

    ranker: Trees
    confidence: Trees
    threshold: float
    """Probability under which the best candidate is not offered as an answer."""
    version: str

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Model:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES or tuple(data["confidence_features"]) != CONFIDENCE_FEATURES:
            raise ValueError(f"{path.name} was trained on other features: retrain (python -m benchmarks.train)")
        return cls(
            Trees.from_json(data["ranker"]),
            Trees.from_json(data["confidence"]),
            float(data["threshold"]),
            str(data["version"]),
        )

    def answerable(self, row: np.ndarray) -> float:
        """Probability that the best candidate answers, from its ``confidence_features`` row."""
        return float(1 / (1 + np.exp(-self.confidence.predict(row[None, :])[0])))


@cache
def model() -> Model:
    """The bundled model (read once)."""
    return Model.load()


@cache
def model_version(path: Path = MODEL_FILE) -> str:
    """The version of the model file, without checking it (an index's recipe names it; training builds
    indexes before there is a model to check). Read once: every load of a saved index asks."""
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "none"


def rerank(scores: np.ndarray) -> np.ndarray:
    """Candidate order, best first, for second-stage ``scores`` (ties: the first stage's order)."""
    order: np.ndarray = np.lexsort((np.arange(len(scores)), -scores))
    return order
