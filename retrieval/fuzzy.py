"""Finding known words like an unknown one (a typo, another spelling) by shared character trigrams."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["FuzzyWords", "trigrams"]

MIN_WORD = 4
"""Shorter words are too ambiguous to correct («در» is one letter from dozens of words)."""
MIN_SIMILARITY = 0.6
"""Dice coefficient of trigram sets: «جمشیدپور» and «جمشیدیپور» score 0.8."""
MAX_WORDS = 3
MAX_POSTINGS = 50_000
"""Trigrams shared by more words than this tell little and cost much; they are skipped."""


def trigrams(word: str) -> set[str]:
    """The character trigrams of a word, padded with spaces so that its ends count."""
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True, slots=True, eq=False)
class FuzzyWords:
    """For each trigram, the words holding it; for each word, its term id and trigram count."""

    grams: Mapping[str, int]
    indptr: np.ndarray  # int64, grams + 1
    words: np.ndarray  # int32 word rows, grouped by trigram
    word_terms: np.ndarray  # int64 term id of each word row
    word_grams: np.ndarray  # int16 trigram count of each word row
    _buffers: threading.local

    @classmethod
    def build(cls, words: Iterable[tuple[str, int]]) -> FuzzyWords:
        """Index ``(word, term id)`` pairs; words shorter than ``MIN_WORD`` or all digits are left out."""
        grams: dict[str, int] = {}
        gram_ids: list[int] = []
        word_rows: list[int] = []
        terms: list[int] = []
        counts: list[int] = []
        for word, term in words:
            if len(word) < MIN_WORD or word.isdigit():
                continue
            row = len(terms)
            own = trigrams(word)
            gram_ids.extend(grams.setdefault(g, len(grams)) for g in own)
            word_rows.extend([row] * len(own))
            terms.append(term)
            counts.append(len(own))
        gram_array = np.array(gram_ids, dtype=np.int64)
        order = np.argsort(gram_array, kind="stable")
        indptr = np.zeros(len(grams) + 1, dtype=np.int64)
        np.cumsum(np.bincount(gram_array, minlength=len(grams)), out=indptr[1:])
        return cls(
            grams,
            indptr,
            np.array(word_rows, dtype=np.int32)[order],
            np.array(terms, dtype=np.int64),
            np.array(counts, dtype=np.int16),
            threading.local(),
        )

    @classmethod
    def from_arrays(
        cls, grams: Iterable[str], indptr: np.ndarray, words: np.ndarray, word_terms: np.ndarray, word_grams: np.ndarray
    ) -> FuzzyWords:
        """Rebuild from saved parts (``grams`` in id order)."""
        return cls({g: i for i, g in enumerate(grams)}, indptr, words, word_terms, word_grams, threading.local())

    def _counts(self) -> np.ndarray:
        if not hasattr(self._buffers, "counts"):
            self._buffers.counts = np.zeros(len(self.word_terms), dtype=np.int32)
        counts: np.ndarray = self._buffers.counts
        return counts

    def similar(self, word: str) -> list[tuple[int, float]]:
        """Return up to ``MAX_WORDS`` (term id, similarity) of the known words most like ``word``."""
        own = trigrams(word)
        if len(word) < MIN_WORD or word.isdigit() or not len(self.word_terms):
            return []
        lists = []
        for gram in own:
            at = self.grams.get(gram)
            if at is not None and self.indptr[at + 1] - self.indptr[at] <= MAX_POSTINGS:
                lists.append(self.words[self.indptr[at] : self.indptr[at + 1]])
        if len(lists) < 2:
            return []
        rows = np.concatenate(lists)
        counts = self._counts()
        try:
            np.add.at(counts, rows, 1)
            shared = counts[rows]
        finally:
            counts[rows] = 0
        dice = 2 * shared / (len(own) + self.word_grams[rows].astype(np.float32))
        good = dice >= MIN_SIMILARITY
        if not good.any():
            return []
        rows, dice = rows[good], dice[good]
        order = np.lexsort((rows, -dice))
        found: dict[int, float] = {}
        for i in order:
            found.setdefault(int(rows[i]), float(dice[i]))
            if len(found) == MAX_WORDS:
                break
        return [(int(self.word_terms[row]), similarity) for row, similarity in found.items()]
