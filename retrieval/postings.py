"""Inverted postings and top-k scoring over them, in NumPy, one question at a time.

The score of sentence ``s`` for query terms ``t`` with weights ``q_t`` is

    score(s) = Σ_t q_t · S[t, s] + α · Σ_t q_t · P[t, para(s)]

where ``S`` and ``P`` hold BM25 weights of terms in sentences and in paragraphs. Generic sparse
products cost milliseconds at a million sentences (scipy's per-call overhead alone is 2–4 ms), and the
posting lists of very common words («در», «و», «از») cover half the collection. So:

1. the question's rarest terms (by document frequency, within a budget of postings, and every term
   rarer than ``ALWAYS_RARE``) are accumulated into dense per-thread buffers; their sentences, and the
   sentences of the ``EXPANDED`` best paragraphs, are the candidates;
2. the ``RESCORED`` best candidates by that partial score are scored exactly with the common terms
   too, looked up by a skip-list search in their posting lists;
3. when the k-th best score is still within reach of sentences holding none of the gathered terms
   (by the other terms' largest weights), a second round gathers more terms within a larger budget.

Common terms decide the order among sentences that share the telling words, which is what they are
good for; a sentence sharing nothing but «در» and «است» with a question is never a candidate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Boosts", "Features", "Postings", "Scorer", "Weights", "list_maxima"]

RARE_BUDGET = 10_000
"""Sentence postings gathered per question, rarest terms first; the rest are common terms."""
SECOND_BUDGET = 40_000
"""The larger budget of a second gathering, when the first found nothing the others could not beat."""
ALWAYS_RARE = 500
"""Terms in this many sentences or fewer are gathered whatever the budget: they are cheap and telling."""
NEVER_ALONE = 50_000
NEVER_ALONE_FRACTION = 0.2
"""A question whose rarest matching term is in more sentences than both of these finds nothing."""
RESCORED = 50
"""Candidates (by the rare terms' score) that the common terms then score exactly."""
EXPANDED = 100
"""Paragraphs, the best by the rare terms, whose every sentence is a candidate (for «او» and the like)."""
SKIP = 32


def list_maxima(indptr: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The largest weight of each list (``indptr`` into ``weights``), 0 for an empty one."""
    maxima = np.zeros(len(indptr) - 1, dtype=np.float32)
    held = indptr[1:] > indptr[:-1]
    if np.any(held):
        # Only non-empty lists' starts: each reduces up to the next one's start, the last to the end.
        maxima[held] = np.maximum.reduceat(weights, indptr[:-1][held])
    return maxima


@dataclass(frozen=True, slots=True)
class Postings:
    """For each term: the rows (sorted) that hold it and its weight in each, plus its largest weight."""

    indptr: np.ndarray  # int64, terms + 1
    rows: np.ndarray  # int32
    weights: np.ndarray  # float32
    max_weight: np.ndarray  # float32, per term
    skip_indptr: np.ndarray  # int64, terms + 1
    skips: np.ndarray  # int32: every SKIP-th row of each term's list
    _skip_keys: np.ndarray = field(init=False, repr=False)
    """Every skip entry as ``term << 32 | row``: sorted, since terms and each list's rows are."""

    def __post_init__(self) -> None:
        counts = np.diff(self.skip_indptr)
        terms = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        object.__setattr__(self, "_skip_keys", (terms << 32) | self.skips.astype(np.int64))

    @classmethod
    def from_matrix(cls, matrix: sp.spmatrix) -> Postings:
        """Build from a (rows × terms) sparse matrix of weights."""
        csc = matrix.tocsc()
        csc.sort_indices()
        indptr = csc.indptr.astype(np.int64)
        rows = csc.indices.astype(np.int32, copy=False)
        max_weight = list_maxima(indptr, csc.data.astype(np.float32, copy=False))
        # Every SKIP-th row of each list: a search there stays in cache, then one block is searched.
        blocks = -(-np.diff(indptr) // SKIP)
        skip_indptr = np.zeros(len(blocks) + 1, dtype=np.int64)
        np.cumsum(blocks, out=skip_indptr[1:])
        block_of = np.arange(skip_indptr[-1], dtype=np.int64) - np.repeat(skip_indptr[:-1], blocks)
        skips = rows[np.repeat(indptr[:-1], blocks) + SKIP * block_of]
        return cls(indptr, rows, csc.data.astype(np.float32, copy=False), max_weight, skip_indptr, skips)

    @property
    def terms(self) -> int:
        return len(self.indptr) - 1

    def df(self, terms: np.ndarray) -> np.ndarray:
        """Number of rows holding each term."""
        df: np.ndarray = self.indptr[terms + 1] - self.indptr[terms]
        return df

    def of(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding ``term`` and its weights there."""
        start, stop = self.indptr[term], self.indptr[term + 1]
        return self.rows[start:stop], self.weights[start:stop]

    def lookup(self, terms: np.ndarray | list[int], rows: np.ndarray | list[int]) -> np.ndarray:
        """The weight of each of ``terms`` in each of ``rows``: a (terms × rows) array, 0 where absent.

        Every pair at once: each skip entry is keyed by (term, row) in 64 bits, so one ``searchsorted``
        finds every pair's block; a binary search of the blocks, all in step, then finds the row.
        """
        pair_terms = np.asarray(terms, dtype=np.int64)[:, None]
        pair_rows = np.asarray(rows, dtype=np.int64)[None, :]
        if not len(self.rows):
            return np.zeros((pair_terms.shape[0], pair_rows.shape[1]), dtype=np.float32)
        start, stop = self.indptr[pair_terms], self.indptr[pair_terms + 1]
        found = np.searchsorted(self._skip_keys, (pair_terms << 32) | pair_rows, side="right") - 1
        # The block's first row is at most the row sought (else the row is not in the list at all).
        at = start + np.maximum(found - self.skip_indptr[pair_terms], 0) * SKIP
        end = np.minimum(at + SKIP, stop)
        last = len(self.rows) - 1
        step = SKIP // 2
        while step:
            probe = at + step
            at = np.where((probe < end) & (self.rows[np.minimum(probe, last)] <= pair_rows), probe, at)
            step //= 2
        at = np.minimum(at, last)
        hit = (stop > start) & (self.rows[at] == pair_rows)
        weights: np.ndarray = np.where(hit, self.weights[at], np.float32(0))
        return weights


@dataclass(frozen=True, slots=True)
class Features:
    """What the scorer knows of each sentence beyond its terms (see ``analysis.SentenceShape``)."""

    first_word: np.ndarray  # int32 term id of the sentence's first word, -1 when it has none
    digits: np.ndarray  # bool
    anaphoric: np.ndarray  # bool


@dataclass(frozen=True, slots=True)
class Boosts:
    """What the question asks for (see ``analysis.QuestionShape``), as the scorer applies it."""

    numeric: bool = False
    subject_terms: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    subject_bonus: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float32))


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of the score combine."""

    context: float = 1.0
    anaphor: float = 0.3
    number: float = 1.1


@dataclass
class _Round:
    """The candidates of one gathering: rows kept for rescoring and what the accumulators knew of them."""

    rows: np.ndarray
    scores: np.ndarray
    previous_own: np.ndarray
    """For anaphoric rows, the rare terms' score of the sentence before (its own, without context)."""


class Scorer:
    """Top-k over sentence and paragraph postings (see the module docstring)."""

    def __init__(
        self,
        sentences: Postings,
        paragraphs: Postings,
        paragraph_of: np.ndarray,
        paragraph_start: np.ndarray,
        *,
        features: Features,
        weights: Weights,
    ) -> None:
        self.sentences = sentences
        self.paragraphs = paragraphs
        self.paragraph_of = paragraph_of
        self.paragraph_start = paragraph_start  # first sentence of each paragraph, and the total at the end
        self.features = features
        self.alpha = np.float32(weights.context)
        self.weights = weights
        self._buffers = threading.local()

    def _accumulators(self) -> tuple[np.ndarray, np.ndarray]:
        buffers = self._buffers
        if not hasattr(buffers, "sentence"):
            buffers.sentence = np.zeros(len(self.paragraph_of), dtype=np.float32)
            buffers.paragraph = np.zeros(len(self.paragraph_start) - 1, dtype=np.float32)
        return buffers.sentence, buffers.paragraph

    def _expand(self, paragraphs: np.ndarray) -> np.ndarray:
        """All sentence rows of the given paragraphs."""
        starts = self.paragraph_start[paragraphs]
        counts = self.paragraph_start[paragraphs + 1] - starts
        total = int(counts.sum())
        if not total:
            return np.empty(0, dtype=np.int32)
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
        rows: np.ndarray = (np.arange(total, dtype=np.int64) + offsets).astype(np.int32)
        return rows

    def top(
        self,
        terms: np.ndarray,
        weights: np.ndarray,
        k: int,
        boosts: Boosts | None = None,
        *,
        hidden: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the best ``k`` sentence rows and their scores, best first (ties: lower row first).

        Rows where ``hidden`` (bool, one per row) is true are never returned (articles replaced or removed
        since the index was built: ``retrieval.collection``)."""
        if not len(terms) or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        boosts = boosts or Boosts()
        df = self.sentences.df(terms)
        order = np.argsort(df, kind="stable")
        if df[order[0]] > max(NEVER_ALONE, NEVER_ALONE_FRACTION * len(self.paragraph_of)):
            # Only words like «که» and «در» matched: any sentence would do, so none is offered.
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        spent = np.cumsum(df[order])
        always = int(np.count_nonzero(df <= ALWAYS_RARE))
        n_rare = max(1, always, int(np.searchsorted(spent, RARE_BUDGET, side="right")))
        rows, scores = self._round(terms, weights, order, n_rare, k=k, boosts=boosts, hidden=hidden)
        # A sentence holding none of the rare terms scores at most what the others can add: while
        # that could beat the k-th best, gather more of them (once, within a larger budget).
        kth = float(scores[-1]) if len(scores) == k else -np.inf
        more = max(n_rare, int(np.searchsorted(spent, SECOND_BUDGET, side="right")))
        if more > n_rare and self._bound(terms[order[n_rare:]], weights[order[n_rare:]]) >= kth:
            rows, scores = self._round(terms, weights, order, more, k=k, boosts=boosts, hidden=hidden)
        return rows, scores

    def _bound(self, terms: np.ndarray, weights: np.ndarray) -> float:
        """The most these terms can add to any sentence's score."""
        bounds = weights * (self.sentences.max_weight[terms] + self.alpha * self.paragraphs.max_weight[terms])
        return float(bounds.sum())

    def _round(
        self,
        terms: np.ndarray,
        weights: np.ndarray,
        order: np.ndarray,
        n_rare: int,
        *,
        k: int,
        boosts: Boosts,
        hidden: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gather the ``n_rare`` rarest terms, then score the best candidates with all terms."""
        rare = [(int(terms[i]), np.float32(weights[i])) for i in order[:n_rare]]
        found = self._gather(rare, max(RESCORED, k), hidden)
        if found is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        rows, scores, previous_own = found.rows, found.scores, found.previous_own
        anaphoric = self.features.anaphoric[rows]
        # The common terms, for the kept rows (and for the sentence before each anaphoric one), each a
        # term's weight in the sentence plus the context weight × its weight in the paragraph.
        common = terms[order[n_rare:]]
        own = self.sentences.lookup(common, np.concatenate([rows, rows[anaphoric] - 1]))
        context = self.paragraphs.lookup(common, self.paragraph_of[rows])
        for i, weight in enumerate(weights[order[n_rare:]].astype(np.float32)):
            scores = scores + weight * (own[i, : len(rows)] + self.alpha * context[i])
            previous_own = previous_own + weight * own[i, len(rows) :]
        scores[anaphoric] += np.float32(self.weights.anaphor) * previous_own
        if boosts.numeric:
            scores = np.where(self.features.digits[rows], scores * np.float32(self.weights.number), scores)
        first = self.features.first_word[rows]
        for term, bonus in zip(boosts.subject_terms, boosts.subject_bonus, strict=True):
            scores = scores + np.where(first == term, np.float32(bonus), np.float32(0))
        best = np.lexsort((rows, -scores))[:k]
        return rows[best].astype(np.int64), scores[best]

    def _gather(self, rare: list[tuple[int, np.float32]], keep: int, hidden: np.ndarray | None) -> _Round | None:
        """Accumulate the rare terms; keep the best ``keep`` candidates and the anaphoric sentences after them."""
        acc_s, acc_p = self._accumulators()
        s_rows, s_weights, p_rows, p_weights = [], [], [], []
        for term, weight in rare:
            rows, w = self.sentences.of(term)
            s_rows.append(rows)
            s_weights.append(w * weight)
            rows, w = self.paragraphs.of(term)
            p_rows.append(rows)
            p_weights.append(w * weight)
        sentence_rows, paragraph_rows = np.concatenate(s_rows), np.concatenate(p_rows)
        try:
            np.add.at(acc_s, sentence_rows, np.concatenate(s_weights))
            np.add.at(acc_p, paragraph_rows, np.concatenate(p_weights))
            paragraphs = paragraph_rows
            if len(paragraphs) > EXPANDED:
                # Only the best paragraphs lend their other sentences: context alone rarely wins.
                paragraphs = paragraphs[np.argpartition(-acc_p[paragraphs], EXPANDED - 1)[:EXPANDED]]
            candidates = np.concatenate([sentence_rows, self._expand(paragraphs)])
            if hidden is not None:
                candidates = candidates[~hidden[candidates]]
            if not len(candidates):
                return None
            partial = acc_s[candidates] + self.alpha * acc_p[self.paragraph_of[candidates]]
            rows = self._best(candidates, partial, keep, repeats=2 * len(rare))
            # A kept sentence's successor that opens with «او» or «این» may be the one that answers.
            following = rows[rows + 1 < len(self.paragraph_of)] + 1
            following = following[self.features.anaphoric[following]]
            following = following[(following[:, None] != rows).all(axis=1)]  # both short: no sorting
            rows = np.concatenate([rows, following])
            scores = acc_s[rows] + self.alpha * acc_p[self.paragraph_of[rows]]
            previous_own = acc_s[rows[self.features.anaphoric[rows]] - 1]
        finally:
            acc_s[sentence_rows] = 0.0
            acc_p[paragraph_rows] = 0.0
        return _Round(rows, scores, previous_own)

    @staticmethod
    def _best(candidates: np.ndarray, partial: np.ndarray, keep: int, repeats: int) -> np.ndarray:
        """The ``keep`` best distinct rows (a row repeats up to ``repeats`` times, with equal partials)."""
        wanted = min(len(candidates), keep * repeats)
        if wanted < len(candidates):
            # Everything tied with the wanted-th best comes too, so ties break by row, not by chance.
            bar = -np.partition(-partial, wanted - 1)[wanted - 1]
            chosen = partial >= bar
            candidates, partial = candidates[chosen], partial[chosen]
        rows, first = np.unique(candidates, return_index=True)
        best: np.ndarray = rows[np.lexsort((rows, -partial[first]))[:keep]]
        return best
