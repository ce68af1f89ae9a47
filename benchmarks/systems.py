"""The systems compared by ``benchmarks.run``: Pasokh and four reference engines, behind one interface.

Every system indexes the same sentences (``benchmarks.corpus``) and answers ``search(question, k)``
with sentence rows, best first. The time of a search includes analysing the question (hazm for the
systems that use it). A system is built, saved to a folder, and loaded from it:

- ``pasokh``: ``retrieval.build_index`` over the articles; its public API only.
- ``bm25s-fast``: bm25s, hazm-normalized and tokenized words without hazm's stopwords, k1=1.5, b=0.75.
- ``bm25s-best``: the same words with stopwords kept, k1=0.9, b=0.4 (its best ranking setting).
- ``tantivy``: Tantivy's default tokenizer over hazm-normalized text, its query parser (OR of words).
- ``sklearn-tfidf``: ``TfidfVectorizer()`` with defaults over raw text; cosine by a sparse product.

This module imports every engine at import time on purpose: ``benchmarks.isolate`` imports it once in
a zygote process, and each measurement forks from there. The systems that use hazm's ``Normalizer`` and
``WordTokenizer`` (bm25s and Tantivy; about 170 MB together) fork from a zygote that has built them
(``warm_up_hazm``); Pasokh and scikit-learn from one that has not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar, Protocol

import bm25s
import hazm
import numpy as np
import scipy.sparse as sp
import tantivy
from sklearn.feature_extraction.text import TfidfVectorizer

import retrieval
import retrieval.answer
import retrieval.store
from benchmarks.corpus import Corpus

__all__ = ["LABELS", "SYSTEMS", "Ranked", "System", "make"]


@dataclass(frozen=True)
class Ranked:
    """Sentence rows, best first, and the system's confidence in the first (0 when there is none).

    The confidence is what a "no answer" rule would threshold: Pasokh's no-answer probability; the score
    of the best sentence for the others.
    """

    rows: list[int]
    confidence: float


class System(Protocol):
    name: ClassVar[str]
    needs_articles: ClassVar[bool]
    """Built from ``Corpus.articles`` (else from ``Corpus.texts``)."""
    rule: ClassVar[str | None]
    """How the system decides not to answer, if it does."""

    def build(self, corpus: Corpus, folder: Path) -> None:
        """Index the corpus; ``folder`` (empty) is where ``save`` will write, for engines that build on disk."""

    def save(self, folder: Path) -> None: ...

    def load(self, folder: Path, corpus: Corpus) -> None:
        """Load a saved index; ``corpus`` has its ids and starts only."""

    def search(self, question: str, k: int) -> Ranked: ...

    def answers(self, question: str) -> bool | None:
        """The system's own decision to answer, or None when it has none."""


@cache
def _hazm() -> tuple[hazm.Normalizer, hazm.WordTokenizer]:
    # Built once per process: hazm.word_tokenize() builds a tokenizer on every call (0.45 s).
    return hazm.Normalizer(), hazm.WordTokenizer()


@cache
def _stopwords() -> frozenset[str]:
    return frozenset(hazm.stopwords_list())


def warm_up_hazm() -> None:
    """Build hazm's normalizer, tokenizer and stopword set now (they are kept for the process)."""
    _hazm()
    _stopwords()


_WORDLIKE = re.compile(r"\w")


def hazm_words(text: str, *, drop_stopwords: bool) -> list[str]:
    """hazm-normalized, hazm-tokenized words of ``text``; punctuation dropped, and stopwords if asked."""
    normalizer, tokenizer = _hazm()
    stop = _stopwords() if drop_stopwords else frozenset()
    return [t for t in tokenizer.tokenize(normalizer.normalize(text)) if t not in stop and _WORDLIKE.search(t)]


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (rows, scores) among positive scores, best first, ties to the lower row."""
    keep = scores > 0
    scores, rows = scores[keep], rows[keep]
    if len(scores) > k:
        best = np.argpartition(-scores, k - 1)[:k]
        scores, rows = scores[best], rows[best]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


class Pasokh:
    """Pasokh through its public API: ``build_index``, ``Index.search``, ``save_index``/``load_index``."""

    name = "pasokh"
    needs_articles = True
    rule = "answer(index, q).answered (the no-answer model of retrieval.second)"

    def _attach(self, index: retrieval.Index, corpus: Corpus) -> None:
        if len(index) != len(corpus):
            raise RuntimeError(f"Pasokh split {len(index)} sentences where the corpus has {len(corpus)}")
        self.index, self.starts = index, corpus.starts

    def build(self, corpus: Corpus, folder: Path) -> None:
        assert corpus.articles is not None
        self._attach(retrieval.build_index(corpus.articles), corpus)

    def save(self, folder: Path) -> None:
        retrieval.store.save_index(self.index, folder)

    def load(self, folder: Path, corpus: Corpus) -> None:
        self._attach(retrieval.store.load_index(folder), corpus)

    def search(self, question: str, k: int) -> Ranked:
        ranking = self.index.rank(question, k)
        rows = [int(self.starts[h.sentence.article]) + h.sentence.position for h in ranking.hits]
        return Ranked(rows, ranking.confidence)

    def answers(self, question: str) -> bool | None:
        return retrieval.answer.answer(self.index, question).answered


class Bm25s:
    """bm25s over hazm words: its index and scores (numpy backend, one thread), top-k selected here."""

    name = "bm25s-fast"
    needs_articles = False
    rule = None
    drop_stopwords, k1, b = True, 1.5, 0.75

    def build(self, corpus: Corpus, folder: Path) -> None:
        assert corpus.texts is not None
        tokens = [hazm_words(t, drop_stopwords=self.drop_stopwords) for t in corpus.texts]
        self.retriever = bm25s.BM25(k1=self.k1, b=self.b)
        self.retriever.index(tokens, show_progress=False)

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    def load(self, folder: Path, corpus: Corpus) -> None:
        self.retriever = bm25s.BM25.load(str(folder), show_progress=False)

    def search(self, question: str, k: int) -> Ranked:
        vocabulary = self.retriever.vocab_dict
        ids = [vocabulary[t] for t in hazm_words(question, drop_stopwords=self.drop_stopwords) if t in vocabulary]
        if not ids:
            return Ranked([], 0.0)
        # bm25s's own top-k (``retrieve``) calls ``np.argpartition(scores, -k)`` over every sentence's score;
        # with numpy 2.5 that takes 0.7 ms at 5,000 sentences and 200 ms at 1,000,000 when most scores are
        # equal (zero), as they are here. Selecting among the positive scores avoids that pathology
        # (``nonzero`` of a boolean mask: 1.2 ms at 1,000,000 sentences, ``flatnonzero(scores)`` 3.8 ms).
        scores = self.retriever.get_scores(ids)
        rows = np.flatnonzero(scores > 0)
        rows, best = _top(scores[rows], rows, k)
        return Ranked([int(r) for r in rows], float(best[0]) if len(best) else 0.0)

    def answers(self, question: str) -> bool | None:
        return None


class Bm25sBest(Bm25s):
    name = "bm25s-best"
    drop_stopwords, k1, b = False, 0.9, 0.4


# Characters Tantivy's query parser reads as syntax; questions mean none of them.
_QUERY_SYNTAX = re.compile(r"[+\-&|!(){}\[\]^\"~*?:\\/'`<>=]")


class Tantivy:
    """Tantivy with its default tokenizer over hazm-normalized text; one indexing thread."""

    name = "tantivy"
    needs_articles = False
    rule = None

    def build(self, corpus: Corpus, folder: Path) -> None:
        assert corpus.texts is not None
        normalizer, _ = _hazm()
        schema = tantivy.SchemaBuilder().add_text_field("text").add_unsigned_field("row", fast=True).build()
        index = tantivy.Index(schema, path=str(folder))
        writer = index.writer(num_threads=1)
        for row, text in enumerate(corpus.texts):
            doc = tantivy.Document()
            doc.add_text("text", normalizer.normalize(text))
            doc.add_unsigned("row", row)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        self._open(index)

    def _open(self, index: tantivy.Index) -> None:
        index.reload()
        self.index, self.searcher = index, index.searcher()

    def save(self, folder: Path) -> None:
        """Nothing to do: Tantivy built the index in ``folder``."""

    def load(self, folder: Path, corpus: Corpus) -> None:
        self._open(tantivy.Index.open(str(folder)))

    def search(self, question: str, k: int) -> Ranked:
        normalizer, _ = _hazm()
        text = _QUERY_SYNTAX.sub(" ", normalizer.normalize(question))
        query, _errors = self.index.parse_query_lenient(text, ["text"])
        hits = self.searcher.search(query, k, count=False).hits
        if not hits:
            return Ranked([], 0.0)
        rows = self.searcher.fast_field_values("row", [address for _, address in hits])
        return Ranked([int(r) for r in rows if r is not None], float(hits[0][0]))

    def answers(self, question: str) -> bool | None:
        return None


class SklearnTfidf:
    """scikit-learn's ``TfidfVectorizer`` with its defaults over raw text; cosine similarity."""

    name = "sklearn-tfidf"
    needs_articles = False
    rule = None

    def build(self, corpus: Corpus, folder: Path) -> None:
        assert corpus.texts is not None
        self.vectorizer = TfidfVectorizer()
        # Terms × sentences, so a question only touches the rows of its own terms.
        self.matrix = self.vectorizer.fit_transform(corpus.texts).T.tocsr()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        sp.save_npz(folder / "matrix.npz", self.matrix)
        np.save(folder / "idf.npy", self.vectorizer.idf_, allow_pickle=False)
        vocabulary = {term: int(column) for term, column in self.vectorizer.vocabulary_.items()}
        (folder / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")

    def load(self, folder: Path, corpus: Corpus) -> None:
        vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        self.vectorizer = TfidfVectorizer(vocabulary=vocabulary)
        self.vectorizer.idf_ = np.load(folder / "idf.npy", allow_pickle=False)
        self.matrix = sp.load_npz(folder / "matrix.npz").tocsr()

    def search(self, question: str, k: int) -> Ranked:
        scores = (self.vectorizer.transform([question]) @ self.matrix).tocsr()
        rows, best = _top(scores.data, scores.indices, k)
        return Ranked([int(r) for r in rows], float(best[0]) if len(best) else 0.0)

    def answers(self, question: str) -> bool | None:
        return None


SYSTEMS: dict[str, type[System]] = {
    s.name: s  # type: ignore[misc]
    for s in (Pasokh, Bm25s, Bm25sBest, Tantivy, SklearnTfidf)
}

LABELS = {
    "pasokh": "Pasokh",
    "bm25s-fast": "bm25s (stopwords removed, k1=1.5 b=0.75)",
    "bm25s-best": "bm25s (stopwords kept, k1=0.9 b=0.4)",
    "tantivy": "Tantivy (default tokenizer, hazm-normalized)",
    "sklearn-tfidf": "scikit-learn TfidfVectorizer (defaults, raw text)",
}


def make(name: str) -> System:
    """A new, empty system by name."""
    return SYSTEMS[name]()
