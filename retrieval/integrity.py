"""What a loaded index must hold before it answers: the invariants the code that reads it relies on.

A checksum tells that a file is the one that was saved; these checks tell that what was saved is an
index the scorer can trust, so a damaged one is refused at load instead of answering wrongly (a
reversed ``indptr`` reads other terms' postings, a row out of range reads another sentence, a NaN
weight ranks at random, unsorted keys find no term). Each check is a few vectorised NumPy passes;
together they cost about a quarter of a second at a million sentences (``benchmarks/store_cost.py``).

What each array's reader assumes:

- ``sentence_article``: article of each row, in range and non-decreasing (``article_sentences``
  searches it; ``neighbours`` compares adjacent rows);
- ``sentence_position``: 0, 1, 2, … within each article (rows are in article order);
- ``sentence_paragraph``: non-negative, non-decreasing within an article;
- ``paragraph_of`` / ``paragraph_start``: exactly the paragraphs that ``sentence_article`` and
  ``sentence_paragraph`` describe (the scorer sizes its buffers by them and expands paragraphs to rows);
- ``first_word``: a term id or -1; ``digits`` and ``anaphoric``: booleans, and an anaphoric sentence is
  never its article's first (the scorer borrows the score of the row before it);
- ``text_offsets``, ``display_offsets``, ``fuzzy.word_offsets``: from 0, non-decreasing, ending at the
  length of their bytes, each at the start of a UTF-8 character;
- ``term_keys``: strictly increasing (looked up by binary search); ``idf``: finite, non-negative;
- postings: ``indptr`` from 0, non-decreasing, ending at the number of rows; rows in range and strictly
  increasing within each list (the skip-list search needs it); weights finite and non-negative;
  ``max_weight`` each list's largest weight (the scorer's bound: smaller would drop answers);
  ``skip_indptr`` and ``skips`` every ``SKIP``-th row of each list, as ``Postings.from_matrix`` makes them;
- the fuzzy word index: ``indptr`` over ``words``, word rows in range, term ids in range, and the words'
  text valid UTF-8 (small: decoded whole).

The sentence texts themselves are not decoded here (about 0.5 GB at a million sentences): their
offsets are checked, their bytes are covered by the checksum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from retrieval.postings import SKIP, list_maxima

__all__ = ["Damaged", "check_arrays", "check_lexicon"]


class Damaged(Exception):
    """An invariant does not hold: ``args[0]`` names the array, ``args[1]`` says what is wrong."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(name, problem)
        self.name, self.problem = name, problem


def _require(ok: bool | np.bool_, name: str, problem: str) -> None:
    if not ok:
        raise Damaged(name, problem)


def _length(arrays: Mapping[str, np.ndarray], name: str, expected: int) -> None:
    _require(len(arrays[name]) == expected, name, f"holds {len(arrays[name])} values, expected {expected}")


def _in_range(array_: np.ndarray, name: str, low: int, high: int) -> None:
    """Every value in ``low ≤ v < high``."""
    if len(array_):
        _require(int(array_.min()) >= low and int(array_.max()) < high, name, f"has values outside {low}..{high - 1}")


def _non_decreasing(array_: np.ndarray, name: str) -> None:
    _require(bool(np.all(array_[1:] >= array_[:-1])), name, "is not in increasing order")


def _pointers(indptr: np.ndarray, name: str, end: int) -> None:
    """Offsets into ``end`` items: from 0, non-decreasing, ending at ``end``."""
    _require(len(indptr) >= 1 and int(indptr[0]) == 0, name, "does not start at 0")
    _require(int(indptr[-1]) == end, name, f"ends at {int(indptr[-1])}, not at the data's length {end}")
    _non_decreasing(indptr, name)


def _text(offsets: np.ndarray, data: np.ndarray, name: str) -> None:
    """Offsets into UTF-8 bytes: each non-empty piece starts at a character, not inside one."""
    _pointers(offsets, name, len(data))
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    _require(not np.any((data[starts] & 0xC0) == 0x80), name, "points inside a UTF-8 character")


def _finite_non_negative(array_: np.ndarray, name: str) -> None:
    if not len(array_):
        return
    # Two reductions and no temporary array: NaN makes both NaN, and NaN compares false.
    low, high = array_.min(), array_.max()
    _require(not np.isnan(low), name, "holds NaN values")
    _require(low >= 0, name, "holds negative values")
    _require(high < np.inf, name, "holds infinite values")


def _booleans(array_: np.ndarray, name: str) -> None:
    _require(not np.any(array_.view(np.uint8) > 1), name, "holds values other than true and false")


def _sentences(arrays: Mapping[str, np.ndarray], n: int, articles: int, terms: int) -> None:
    for name in ("sentence_article", "sentence_position", "sentence_paragraph", "paragraph_of", "first_word"):
        _length(arrays, name, n)
    for name in ("digits", "anaphoric"):
        _length(arrays, name, n)
        _booleans(arrays[name], name)
    article = arrays["sentence_article"]
    _in_range(article, "sentence_article", 0, articles)
    _non_decreasing(article, "sentence_article")
    first_row = np.searchsorted(article, np.arange(articles, dtype=article.dtype))
    position = np.arange(n, dtype=np.int64) - first_row[article]
    _require(np.array_equal(arrays["sentence_position"], position), "sentence_position", "is not 0, 1, 2… per article")
    paragraph = arrays["sentence_paragraph"]
    same_article = article[1:] == article[:-1]
    _require(not np.any(paragraph < 0), "sentence_paragraph", "holds negative values")
    _require(not np.any(same_article & (paragraph[1:] < paragraph[:-1])), "sentence_paragraph", "goes backwards")
    change = np.ones(n, dtype=bool)
    change[1:] = ~same_article | (paragraph[1:] != paragraph[:-1])
    starts = np.append(np.flatnonzero(change), n)
    _require(np.array_equal(arrays["paragraph_start"], starts), "paragraph_start", "does not match the sentences")
    _require(
        np.array_equal(arrays["paragraph_of"], np.cumsum(change) - 1), "paragraph_of", "does not match the sentences"
    )
    _in_range(arrays["first_word"], "first_word", -1, terms)
    anaphoric = arrays["anaphoric"].view(np.bool_)
    if n:
        _require(not anaphoric[0] and not np.any(anaphoric[1:] & ~same_article), "anaphoric", "marks a first sentence")
    _text(arrays["text_offsets"], arrays["text_bytes"], "text_offsets")
    _text(arrays["display_offsets"], arrays["display_bytes"], "display_offsets")
    _length(arrays, "text_offsets", n + 1)
    _length(arrays, "display_offsets", n + 1)


def _terms(arrays: Mapping[str, np.ndarray], terms: int) -> None:
    _length(arrays, "term_keys", terms)
    _length(arrays, "idf", terms)
    keys = arrays["term_keys"]
    _require(bool(np.all(keys[1:] > keys[:-1])), "term_keys", "is not sorted (or repeats a key)")
    _finite_non_negative(arrays["idf"], "idf")


def _postings(arrays: Mapping[str, np.ndarray], prefix: str, terms: int, rows_limit: int) -> None:
    """One ``Postings``: the parts ``Postings.from_matrix`` makes, checked against each other."""
    indptr, rows, weights = (arrays[f"{prefix}.{part}"] for part in ("indptr", "rows", "weights"))
    _length(arrays, f"{prefix}.indptr", terms + 1)
    _length(arrays, f"{prefix}.weights", len(rows))
    _length(arrays, f"{prefix}.max_weight", terms)
    _pointers(indptr, f"{prefix}.indptr", len(rows))
    _in_range(rows, f"{prefix}.rows", 0, rows_limit)
    # Strictly increasing within each list; a list's last row may exceed the next list's first.
    rising = rows[1:] > rows[:-1]
    ends = indptr[1:-1]
    rising[ends[(ends > 0) & (ends < len(rows))] - 1] = True
    _require(bool(np.all(rising)), f"{prefix}.rows", "is not sorted within a term's list")
    _finite_non_negative(weights, f"{prefix}.weights")
    largest = list_maxima(indptr, weights)
    _require(
        np.array_equal(arrays[f"{prefix}.max_weight"], largest), f"{prefix}.max_weight", "is not each list's largest"
    )
    counts = np.diff(indptr)
    blocks = -(-counts // SKIP)
    skip_indptr = np.zeros(terms + 1, dtype=np.int64)
    np.cumsum(blocks, out=skip_indptr[1:])
    _require(
        np.array_equal(arrays[f"{prefix}.skip_indptr"], skip_indptr),
        f"{prefix}.skip_indptr",
        "does not match the lists",
    )
    block_of = np.arange(skip_indptr[-1], dtype=np.int64) - np.repeat(skip_indptr[:-1], blocks)
    skips = rows[np.repeat(indptr[:-1], blocks) + SKIP * block_of]
    _require(np.array_equal(arrays[f"{prefix}.skips"], skips), f"{prefix}.skips", "does not match the rows")


def _fuzzy(arrays: Mapping[str, np.ndarray], grams: Sequence[str], terms: int) -> None:
    words = len(arrays["fuzzy.word_terms"])
    _require(len(set(grams)) == len(grams), "grams.json", "repeats a trigram")
    _length(arrays, "fuzzy.indptr", len(grams) + 1)
    _pointers(arrays["fuzzy.indptr"], "fuzzy.indptr", len(arrays["fuzzy.words"]))
    _in_range(arrays["fuzzy.words"], "fuzzy.words", 0, words)
    _in_range(arrays["fuzzy.word_terms"], "fuzzy.word_terms", 0, terms)
    _length(arrays, "fuzzy.word_offsets", words + 1)
    _text(arrays["fuzzy.word_offsets"], arrays["fuzzy.word_text"], "fuzzy.word_offsets")
    try:
        arrays["fuzzy.word_text"].tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise Damaged("fuzzy.word_text", "is not UTF-8") from None


def check_arrays(
    arrays: Mapping[str, np.ndarray], grams: Sequence[str], *, sentences: int, articles: int, terms: int
) -> None:
    """Raise ``Damaged`` unless the arrays of a saved index (by file name, without ``.npy``) hold together.

    ``sentences``, ``articles`` and ``terms`` are the manifest's counts.
    """
    _sentences(arrays, sentences, articles, terms)
    _terms(arrays, terms)
    paragraphs = len(arrays["paragraph_start"]) - 1
    _postings(arrays, "sentences", terms, sentences)
    _postings(arrays, "paragraphs", terms, paragraphs)
    _fuzzy(arrays, grams, terms)


def check_lexicon(arrays: Mapping[str, np.ndarray], grams: Sequence[str], *, terms: int, sentences: int) -> None:
    """Raise ``Damaged`` unless the vocabulary of a sharded collection (``retrieval.shards``) holds together:
    its keys and idf as an index's, each term's df between 0 (a word of titles alone) and the sentences, and
    its fuzzy word index."""
    _terms(arrays, terms)
    _length(arrays, "df", terms)
    _in_range(arrays["df"], "df", 0, sentences + 1)
    _fuzzy(arrays, grams, terms)
