"""Finding the known words closest to an unknown one (a typo, another spelling).

Candidates are the known words sharing the most character trigrams with the unknown word (a trigram
index, so a million-word vocabulary is never scanned); each is then checked by edit distance
(rapidfuzz's optimal string alignment: a letter dropped, added, changed or two swapped count one
edit). Words within ``max_edits`` of it are accepted, the closest first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import OSA

__all__ = ["Correction", "FuzzyWords", "max_edits", "trigrams"]

MIN_WORD = 4
"""Shorter words are too ambiguous to correct («در» is one letter from dozens of words)."""
MAX_WORDS = 3
"""Corrections a question keeps for one unknown word."""
CANDIDATES = 64
"""Words (most shared trigrams first) checked by edit distance."""
MAX_POSTINGS = 50_000
"""Trigrams shared by more words than this tell little and cost much; they are skipped."""


def max_edits(word: str) -> int:
    """Edits accepted for a word: one up to six letters, two from seven on."""
    return 1 if len(word) <= 6 else 2


def trigrams(word: str) -> set[str]:
    """The character trigrams of a word, padded with spaces so that its ends count."""
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True, slots=True, eq=False)
class FuzzyWords:
    """For each trigram, the words holding it; for each word, its text and term id."""

    grams: Mapping[str, int]
    indptr: np.ndarray  # int64, grams + 1
    words: np.ndarray  # int32 word rows, grouped by trigram
    word_terms: np.ndarray  # int64 term id of each word row
    word_text: np.ndarray  # uint8: the words' UTF-8 text, in row order
    word_offsets: np.ndarray  # int64: byte offsets into word_text, rows + 1
    _buffers: threading.local

    @classmethod
    def build(cls, words: Iterable[tuple[str, int]]) -> FuzzyWords:
        """Index ``(word, term id)`` pairs; words shorter than ``MIN_WORD`` or all digits are left out."""
        grams: dict[str, int] = {}
        gram_ids: list[int] = []
        word_rows: list[int] = []
        terms: list[int] = []
        encoded: list[bytes] = []
        for word, term in words:
            if len(word) < MIN_WORD or word.isdigit():
                continue
            row = len(terms)
            own = trigrams(word)
            gram_ids.extend(grams.setdefault(g, len(grams)) for g in own)
            word_rows.extend([row] * len(own))
            terms.append(term)
            encoded.append(word.encode("utf-8"))
        gram_array = np.array(gram_ids, dtype=np.int64)
        order = np.argsort(gram_array, kind="stable")
        indptr = np.zeros(len(grams) + 1, dtype=np.int64)
        np.cumsum(np.bincount(gram_array, minlength=len(grams)), out=indptr[1:])
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(
            grams,
            indptr,
            np.array(word_rows, dtype=np.int32)[order],
            np.array(terms, dtype=np.int64),
            np.frombuffer(b"".join(encoded), dtype=np.uint8),
            offsets,
            threading.local(),
        )

    @classmethod
    def from_arrays(cls, grams: Iterable[str], arrays: Sequence[np.ndarray]) -> FuzzyWords:
        """Rebuild from saved parts: ``grams`` in id order, then the arrays in field order."""
        indptr, words, word_terms, word_text, word_offsets = arrays
        grams_ = {g: i for i, g in enumerate(grams)}
        return cls(grams_, indptr, words, word_terms, word_text, word_offsets, threading.local())

    def word(self, row: int) -> str:
        return self.word_text[self.word_offsets[row] : self.word_offsets[row + 1]].tobytes().decode("utf-8")

    def _counts(self) -> np.ndarray:
        if not hasattr(self._buffers, "counts"):
            self._buffers.counts = np.zeros(len(self.word_terms), dtype=np.int32)
        counts: np.ndarray = self._buffers.counts
        return counts

    def _candidates(self, word: str) -> np.ndarray:
        """Rows of the words sharing the most trigrams with ``word``."""
        lists = []
        for gram in trigrams(word):
            at = self.grams.get(gram)
            if at is not None and self.indptr[at + 1] - self.indptr[at] <= MAX_POSTINGS:
                lists.append(self.words[self.indptr[at] : self.indptr[at + 1]])
        if not lists:
            return np.empty(0, dtype=np.int32)
        rows = np.concatenate(lists)
        counts = self._counts()
        try:
            np.add.at(counts, rows, 1)
            shared = counts[rows]
        finally:
            counts[rows] = 0
        rows, first = np.unique(rows, return_index=True)
        best: np.ndarray = rows[np.lexsort((rows, -shared[first]))[:CANDIDATES]]
        return best

    def similar(self, word: str) -> list[Correction]:
        """Return the known words within ``max_edits(word)`` edits of ``word``, fewest edits first."""
        if len(word) < MIN_WORD or word.isdigit() or not len(self.word_terms):
            return []
        limit = max_edits(word)
        found = []
        for row in self._candidates(word).tolist():
            known = self.word(row)
            edits = OSA.distance(word, known, score_cutoff=limit)
            if edits <= limit:
                found.append(
                    Correction(known, int(self.word_terms[row]), edits, 1 - edits / max(len(word), len(known)))
                )
        return sorted(found, key=lambda c: (c.edits, c.word))


@dataclass(frozen=True, slots=True)
class Correction:
    """A known word close to an unknown one."""

    word: str
    term: int
    edits: int
    similarity: float
    """1 − edits / length of the longer word."""
