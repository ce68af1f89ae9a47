"""Inverted postings and exact top-k scoring over them, in NumPy, one question at a time.

The score of sentence ``s`` for query terms ``t`` with weights ``q_t`` is

    score(s) = Σ_t q_t · S[t, s] + α · Σ_t q_t · P[t, para(s)]

where ``S`` and ``P`` hold BM25 weights of terms in sentences and in paragraphs. Generic sparse
products cost milliseconds at a million sentences (scipy's per-call overhead alone is 2–4 ms), and the
posting lists of very common words («در», «و», «از») cover half the collection. So, MaxScore-style:

1. the query's rarest terms (by document frequency, within a budget of postings) are accumulated
   exactly into dense per-thread buffers; their sentences, and the sentences of their paragraphs, are
   the candidates;
2. the common terms are scored only for the best candidates, by binary search in their posting lists;
   a candidate whose partial score plus the common terms' largest possible contribution cannot reach
   the k-th best is never scored further. Sentences holding none of the rare terms score at most the
   sum of the common terms' bounds; while that sum could reach the k-th best, the rarest common terms
   join the rare ones and the candidates are gathered again. The result is the exact top k of the full
   score, except that terms held by more than ``COMMON_FRACTION`` of the sentences never bring
   candidates of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Postings", "Scorer"]

SEED_BUDGET = 5_000
"""Postings of the rarest terms gathered first; the pruning bound then decides which others follow."""
SKIP = 32
_OFFSETS = np.arange(SKIP)
COMMON_FRACTION = 0.1
"""Terms in more than this share of sentences never bring candidates of their own: a sentence sharing
only such words («در», «است») with a question is no answer, and gathering them would cost milliseconds."""


@dataclass(frozen=True, slots=True)
class Postings:
    """For each term: the rows (sorted) that hold it and its weight in each, plus its largest weight."""

    indptr: np.ndarray  # int64, terms + 1
    rows: np.ndarray  # int32
    weights: np.ndarray  # float32
    max_weight: np.ndarray  # float32, per term
    skip_indptr: np.ndarray  # int64, terms + 1
    skips: np.ndarray  # int32: every SKIP-th row of each term's list

    @classmethod
    def from_matrix(cls, matrix: sp.spmatrix) -> Postings:
        """Build from a (rows × terms) sparse matrix of weights."""
        csc = matrix.tocsc()
        csc.sort_indices()
        indptr = csc.indptr.astype(np.int64)
        rows = csc.indices.astype(np.int32, copy=False)
        if csc.nnz:
            max_weight = np.maximum.reduceat(csc.data, np.minimum(indptr[:-1], csc.nnz - 1)).astype(np.float32)
            max_weight[np.diff(indptr) == 0] = 0.0
        else:
            max_weight = np.zeros(csc.shape[1], dtype=np.float32)
        # Every SKIP-th row of each list: a binary search there stays in cache, then one block is read.
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

    def lookup(self, term: int, rows: np.ndarray) -> np.ndarray:
        """The weight of ``term`` in each of ``rows`` (0 where absent)."""
        start, stop = int(self.indptr[term]), int(self.indptr[term + 1])
        if stop - start <= 4 * SKIP or not len(rows):
            held = self.rows[start:stop]
            if not len(held):
                return np.zeros(len(rows), dtype=np.float32)
            at = np.minimum(np.searchsorted(held, rows), len(held) - 1)
            return np.where(held[at] == rows, self.weights[start + at], np.float32(0))
        skips = self.skips[self.skip_indptr[term] : self.skip_indptr[term + 1]]
        block = np.maximum(np.searchsorted(skips, rows, side="right") - 1, 0)
        at = np.minimum(start + block[:, None] * SKIP + _OFFSETS, stop - 1)
        hit = self.rows[at] == rows[:, None]
        column = hit.argmax(axis=1)
        return np.where(hit.any(axis=1), self.weights[at[np.arange(len(rows)), column]], np.float32(0))


class Scorer:
    """Exact top-k over sentence and paragraph postings (see the module docstring)."""

    def __init__(
        self,
        sentences: Postings,
        paragraphs: Postings,
        paragraph_of: np.ndarray,
        paragraph_start: np.ndarray,
        context_weight: float,
    ) -> None:
        self.sentences = sentences
        self.paragraphs = paragraphs
        self.paragraph_of = paragraph_of
        self.paragraph_start = paragraph_start  # first sentence of each paragraph, and the total at the end
        self.alpha = np.float32(context_weight)
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
            return np.empty(0, dtype=np.int64)
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
        rows: np.ndarray = np.arange(total, dtype=np.int64) + offsets
        return rows

    def _contribution(self, term: int, rows: np.ndarray) -> np.ndarray:
        """A term's weight in each sentence plus the context weight × its weight in the paragraph."""
        contribution: np.ndarray = self.sentences.lookup(term, rows) + self.alpha * self.paragraphs.lookup(
            term, self.paragraph_of[rows]
        )
        return contribution

    def _exact(self, rows: np.ndarray, partial: np.ndarray, common: list[tuple[int, np.float32]]) -> np.ndarray:
        scores = partial.copy()
        for term, weight in common:
            scores += weight * self._contribution(term, rows)
        return scores

    def top(self, terms: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the best ``k`` sentence rows and their scores, best first (ties: lower row first)."""
        empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if not len(terms) or k <= 0:
            return empty
        cost = self.sentences.df(terms) + self.paragraphs.df(terms)
        order = np.argsort(cost, kind="stable")
        # Start from the rarest terms; MaxScore decides below which others must join them.
        n_rare = max(1, int(np.searchsorted(np.cumsum(cost[order]), SEED_BUDGET, side="right")))
        too_common = COMMON_FRACTION * len(self.paragraph_of)
        while True:
            rare = [(int(terms[i]), np.float32(weights[i])) for i in order[:n_rare]]
            common = [(int(terms[i]), np.float32(weights[i])) for i in order[n_rare:]]
            found = self._candidates(rare)
            if found is None:
                rows, scores, kth = *empty, -np.inf
            else:
                rows, scores, kth = self._finish(*found, common, k, repeats=2 * len(rare))
            # A sentence holding only common terms scores at most the sum of their bounds: the most
            # common terms whose bounds together stay under the k-th best never need gathering.
            bounds = np.cumsum([self._bound([term]) for term in reversed(common)])
            needed = len(common) - int(np.searchsorted(bounds, kth, side="left"))
            if needed <= 0 or cost[order[n_rare]] > too_common:
                return rows, scores
            n_rare += needed if np.isfinite(kth) else 1

    def _candidates(self, rare: list[tuple[int, np.float32]]) -> tuple[np.ndarray, np.ndarray] | None:
        """Sentences holding a rare term or in a paragraph that does, with their exact partial scores."""
        acc_s, acc_p = self._accumulators()
        s_rows, p_rows = [], []
        try:
            for term, weight in rare:
                rows, w = self.sentences.of(term)
                np.add.at(acc_s, rows, w * weight)
                s_rows.append(rows)
                rows, w = self.paragraphs.of(term)
                np.add.at(acc_p, rows, w * weight)
                p_rows.append(rows)
            candidates = np.concatenate([*s_rows, self._expand(np.concatenate(p_rows))]).astype(np.int64)
            if not len(candidates):
                return None
            partial = acc_s[candidates] + self.alpha * acc_p[self.paragraph_of[candidates]]
        finally:
            for rows in s_rows:
                acc_s[rows] = 0.0
            for rows in p_rows:
                acc_p[rows] = 0.0
        return candidates, partial

    def _bound(self, common: list[tuple[int, np.float32]]) -> float:
        """The most the common terms can add to any sentence's score."""
        return sum(
            float(w) * (float(self.sentences.max_weight[t]) + float(self.alpha) * float(self.paragraphs.max_weight[t]))
            for t, w in common
        )

    def _finish(
        self,
        candidates: np.ndarray,
        partial: np.ndarray,
        common: list[tuple[int, np.float32]],
        k: int,
        repeats: int,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Exact top k among candidates (a row may repeat up to ``repeats`` times, with equal partials).

        Also returns the k-th best score (-inf when there are fewer than k).
        """
        # The k best partial scores, scored exactly: their k-th is the bar everyone else must reach.
        wanted = min(len(candidates), k * repeats)
        top = np.argpartition(-partial, wanted - 1)[:wanted] if wanted < len(candidates) else slice(None)
        rows, first = np.unique(candidates[top], return_index=True)
        best = np.lexsort((rows, -partial[top][first]))[:k]
        rows = rows[best]
        scores = self._exact(rows, partial[top][first][best], common)
        kth = -np.inf
        if common:
            if len(scores) == k:
                kth = float(np.min(scores))
            rest, rest_scores = self._reachable(candidates, partial, common, kth, exclude=rows)
            rows, scores = np.concatenate([rows, rest]), np.concatenate([scores, rest_scores])
        best = np.lexsort((rows, -scores))[:k]
        kth_best = float(scores[best[-1]]) if len(best) == k else -np.inf
        return rows[best], scores[best], kth_best

    def _reachable(
        self,
        candidates: np.ndarray,
        partial: np.ndarray,
        common: list[tuple[int, np.float32]],
        kth: float,
        exclude: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The other candidates that could reach ``kth``, scored exactly a common term at a time.

        Terms go in order of the most they can add; after each, rows that can no longer reach the bar
        with what the remaining terms could add are dropped, so few rows meet the most common terms.
        """
        bounds = [self._bound([term]) for term in common]
        remaining = float(sum(bounds))
        reachable = partial + np.float32(remaining) >= kth
        rows, first = np.unique(candidates[reachable], return_index=True)
        scores = partial[reachable][first]
        keep = ~np.isin(rows, exclude)
        rows, scores = rows[keep], scores[keep]
        for i in np.argsort(bounds)[::-1]:
            if not len(rows):
                break
            term, weight = common[i]
            scores = scores + weight * self._contribution(term, rows)
            remaining -= bounds[i]
            keep = scores + np.float32(remaining) >= kth
            rows, scores = rows[keep], scores[keep]
        return rows, scores
