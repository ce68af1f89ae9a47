"""The scorer: rare terms choose candidates, every term scores the best of them; lookups are exact."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import postings
from retrieval.postings import Features, Postings, Scorer, Weights


def _collection(seed: int, n_sentences: int, n_terms: int) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Zipf-like term frequencies: a few terms in most sentences, most terms in few.
    density = np.minimum(0.9, 1.5 / (np.arange(n_terms) + 1) ** 0.8)
    mask = rng.random((n_sentences, n_terms)) < density
    weights = sp.csr_matrix(np.where(mask, rng.random((n_sentences, n_terms)) * 3, 0).astype(np.float32))
    lengths = rng.integers(1, 5, size=n_sentences // 2)
    paragraph_of = np.repeat(np.arange(len(lengths)), lengths)[:n_sentences]
    paragraph_of = np.concatenate([paragraph_of, np.full(n_sentences - len(paragraph_of), paragraph_of[-1] + 1)])
    membership = sp.csr_matrix((np.ones(n_sentences), (paragraph_of, np.arange(n_sentences))))
    return weights, (membership @ weights).tocsr(), paragraph_of.astype(np.int32)


def _scorer(sentences: sp.csr_matrix, paragraphs: sp.csr_matrix, paragraph_of: np.ndarray) -> Scorer:
    paragraph_start = np.append(np.flatnonzero(np.r_[True, np.diff(paragraph_of) != 0]), len(paragraph_of))
    n = len(paragraph_of)
    features = Features(np.full(n, -1, np.int32), np.zeros(n, bool), np.zeros(n, bool))
    return Scorer(
        Postings.from_matrix(sentences),
        Postings.from_matrix(paragraphs),
        paragraph_of,
        paragraph_start,
        features=features,
        weights=Weights(context=0.7),
    )


def _brute(sentences, paragraphs, paragraph_of, terms, weights, alpha):
    query = np.zeros(sentences.shape[1], dtype=np.float64)
    np.add.at(query, terms, weights)
    return sentences @ query + alpha * (paragraphs @ query)[paragraph_of]


def _rescored_brute(sentences, paragraphs, paragraph_of, terms, weights, k, budget):
    """The scorer's definition, by brute force: the rare terms pick candidates, all terms score them."""
    df = np.diff(sp.csc_matrix(sentences).indptr)[terms]
    order = np.argsort(df, kind="stable")
    n_rare = max(1, int(np.searchsorted(np.cumsum(df[order]), budget, side="right")))
    n_rare = max(n_rare, int(np.count_nonzero(df <= postings.ALWAYS_RARE)))
    rare = order[:n_rare]
    partial = _brute(sentences, paragraphs, paragraph_of, terms[rare], weights[rare], 0.7)
    candidates = np.flatnonzero(partial > 0)
    kept = candidates[np.argsort(-partial[candidates], kind="stable")[: max(postings.RESCORED, k)]]
    full = _brute(sentences, paragraphs, paragraph_of, terms, weights, 0.7)
    return np.sort(full[kept])[::-1][:k]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_query=st.integers(1, 8),
    k=st.integers(1, 12),
    budget=st.sampled_from([1, 50, 400, 1_000_000]),
    rescored=st.sampled_from([3, 20, 100]),
)
def test_top_k_is_the_rare_candidates_rescored(seed: int, n_query: int, k: int, budget: int, rescored: int) -> None:
    sentences, paragraphs, paragraph_of = _collection(seed, 300, 40)
    scorer = _scorer(sentences, paragraphs, paragraph_of)
    rng = np.random.default_rng(seed + 1)
    terms = rng.choice(40, size=n_query, replace=False).astype(np.int64)
    weights = rng.uniform(0.3, 1.0, size=n_query).astype(np.float32)
    old = postings.RARE_BUDGET, postings.ALWAYS_RARE, postings.RESCORED, postings.SECOND_BUDGET
    postings.RARE_BUDGET, postings.ALWAYS_RARE, postings.RESCORED, postings.SECOND_BUDGET = budget, 5, rescored, 0
    try:
        rows, scores = scorer.top(terms, weights, k)
        expected = _rescored_brute(sentences, paragraphs, paragraph_of, terms, weights, k, budget)
    finally:
        postings.RARE_BUDGET, postings.ALWAYS_RARE, postings.RESCORED, postings.SECOND_BUDGET = old
    full = _brute(sentences, paragraphs, paragraph_of, terms, weights, 0.7)
    assert np.allclose(scores, expected, rtol=1e-4, atol=1e-5)
    assert np.allclose(full[rows], scores, rtol=1e-4, atol=1e-5)
    assert len(set(rows.tolist())) == len(rows)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_query=st.integers(1, 8), k=st.integers(1, 12))
def test_with_every_term_rare_the_top_k_is_exact(seed: int, n_query: int, k: int) -> None:
    sentences, paragraphs, paragraph_of = _collection(seed, 300, 40)
    scorer = _scorer(sentences, paragraphs, paragraph_of)
    rng = np.random.default_rng(seed + 1)
    terms = rng.choice(40, size=n_query, replace=False).astype(np.int64)
    weights = rng.uniform(0.3, 1.0, size=n_query).astype(np.float32)
    _, scores = scorer.top(terms, weights, k)  # 300 sentences: every term is within the budget
    full = _brute(sentences, paragraphs, paragraph_of, terms, weights, 0.7)
    assert np.allclose(scores, np.sort(full[full > 0])[::-1][:k], rtol=1e-4, atol=1e-5)


def test_no_terms_and_no_k_give_nothing() -> None:
    scorer = _scorer(*_collection(1, 20, 5))
    assert len(scorer.top(np.array([], dtype=np.int64), np.array([], dtype=np.float32), 3)[0]) == 0
    assert len(scorer.top(np.array([0]), np.array([1.0], dtype=np.float32), 0)[0]) == 0


@pytest.mark.parametrize("rows", [[0, 5, 9], [], [3]])
def test_lookup(rows: list[int]) -> None:
    matrix = sp.csr_matrix(np.array([[1, 0], [0, 2], [0, 0], [4, 0], [0, 0], [5, 0], [0, 0], [0, 0], [0, 0], [7, 1]]))
    found = Postings.from_matrix(matrix).lookup(np.array([0, 1]), np.array(rows, dtype=np.int64))
    assert found.tolist() == [[float(matrix[r, term]) for r in rows] for term in (0, 1)]


@pytest.mark.parametrize("held", [1, 100, 129, 5_000, 60_000])
def test_lookup_in_long_lists_matches_dense(held: int) -> None:
    rng = np.random.default_rng(held)
    n = 100_000
    rows = np.sort(rng.choice(n, size=held, replace=False))
    weights = rng.random(held).astype(np.float32) + 0.1
    matrix = sp.csr_matrix((weights, (rows, np.zeros(held, dtype=np.int64))), shape=(n, 1))
    queried = np.unique(np.concatenate([rng.integers(0, n, 300), rows[:: max(1, held // 50)], [0, n - 1]]))
    dense = matrix.toarray().ravel()
    assert np.array_equal(Postings.from_matrix(matrix).lookup([0], queried)[0], dense[queried].astype(np.float32))


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        # The last list that holds rows, followed by empty ones: its last weight is its largest. The
        # scorer's bound on what unseen terms can add was once short of it.
        ({0: [(0, 1.0), (1, 5.0)]}, [5.0, 0.0, 0.0]),
        ({0: [(2, 4.0)], 2: [(0, 1.0), (1, 3.0)]}, [4.0, 0.0, 3.0]),
        ({1: [(1, 2.0)]}, [0.0, 2.0, 0.0]),
        ({}, [0.0, 0.0, 0.0]),
    ],
)
def test_max_weight_is_each_lists_largest(columns: dict[int, list[tuple[int, float]]], expected: list[float]) -> None:
    rows = [row for held in columns.values() for row, _ in held]
    terms = [term for term, held in columns.items() for _ in held]
    weights = [weight for held in columns.values() for _, weight in held]
    matrix = sp.csr_matrix((np.array(weights, np.float32), (rows, terms)), shape=(3, 3))
    assert Postings.from_matrix(matrix).max_weight.tolist() == expected
