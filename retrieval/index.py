"""The search index: BM25-weighted TF-IDF over sentences, with paragraph context and fuzzy words.

Scoring a sentence for a question adds up, over the question's terms (``retrieval.analysis``):

- the term's BM25 weight in the sentence (idf × saturated, length-normalised term frequency);
- ``CONTEXT_WEIGHT`` × its BM25 weight in the sentence's paragraph, so a sentence that says «او» about
  the subject its paragraph names is still found;

Question words the collection has never seen (typos, rare spellings) are replaced by the most similar
words it has, by character n-grams, weighted by their similarity.

An ``Index`` is immutable: building or loading returns a new one, and a reload swaps it whole.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from retrieval import analysis
from retrieval.seeds import Article, SeedSet, fingerprint
from retrieval.sentences import Sentence, split_article

__all__ = ["Hit", "Index", "build_index"]

K1 = 0.9
B = 0.4
CONTEXT_WEIGHT = 0.7
BACKGROUND_SENTENCES = 2000
FUZZY_MIN_SIMILARITY = 0.55
FUZZY_MAX_WORDS = 3
FUZZY_NGRAMS = (2, 4)


def library_versions() -> dict[str, str]:
    """Return the installed versions of Pasokh and the libraries an index depends on."""
    versions = {}
    for name in ("pasokh", "hazm", "scikit-learn", "numpy", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def scoring_recipe() -> dict[str, object]:
    """Return every setting that decides what an index holds and how it scores, as plain data."""
    return analysis.recipe() | {
        "k1": K1,
        "b": B,
        "context_weight": CONTEXT_WEIGHT,
        "background_sentences": BACKGROUND_SENTENCES,
        "fuzzy_min_similarity": FUZZY_MIN_SIMILARITY,
        "fuzzy_max_words": FUZZY_MAX_WORDS,
        "fuzzy_ngrams": list(FUZZY_NGRAMS),
    }


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked sentence, its article and neighbours, and how well it covers the question."""

    sentence: Sentence
    article: Article
    score: float
    coverage: float
    """Share (0..1, idf-weighted) of the question's words found in the sentence or its paragraph."""
    before: Sentence | None
    after: Sentence | None


@dataclass(frozen=True, slots=True)
class _Query:
    words: tuple[str, ...]
    columns: np.ndarray
    weights: np.ndarray
    word_columns: tuple[tuple[tuple[int, float], ...], ...]
    """For each question word, the columns that count as finding it (word, stem, fuzzy) and their credit."""
    word_idf: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """Sentences of the articles and their term weights. Never mutated after it is built or loaded."""

    articles: tuple[Article, ...]
    sentence_article: np.ndarray
    sentence_paragraph: np.ndarray
    sentence_position: np.ndarray
    text_offsets: np.ndarray
    texts: str
    terms: tuple[str, ...]
    sentence_weights: sp.csc_matrix
    """BM25 weight of each term (column) in each sentence (row)."""
    context_weights: sp.csc_matrix
    """BM25 weight of each term in each paragraph (row)."""
    context_of: np.ndarray
    """The paragraph row of each sentence."""
    idf: np.ndarray
    fuzzy_words: np.ndarray
    """Columns of the plain-word terms, in the rows of ``fuzzy_matrix``."""
    fuzzy_matrix: sp.csr_matrix
    fuzzy_vocabulary: Mapping[str, int]
    manifest: Mapping[str, Any]
    vocabulary: Mapping[str, int] = field(repr=False)

    # -- sentences --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.sentence_article)

    def sentence(self, i: int) -> Sentence:
        """Return sentence ``i`` (rows are in article order, then sentence order)."""
        text = self.texts[self.text_offsets[i] : self.text_offsets[i + 1]]
        return Sentence(
            int(self.sentence_article[i]), int(self.sentence_position[i]), int(self.sentence_paragraph[i]), text
        )

    def neighbours(self, i: int) -> tuple[Sentence | None, Sentence | None]:
        """Return the sentences just before and after ``i`` in its article, where there are any."""
        article = self.sentence_article[i]
        before = self.sentence(i - 1) if i > 0 and self.sentence_article[i - 1] == article else None
        after = self.sentence(i + 1) if i + 1 < len(self) and self.sentence_article[i + 1] == article else None
        return before, after

    def article_sentences(self, article: int) -> list[Sentence]:
        """Return every sentence of one article, in order."""
        start, stop = np.searchsorted(self.sentence_article, [article, article + 1])
        return [self.sentence(i) for i in range(int(start), int(stop))]

    # -- search -----------------------------------------------------------------------------------

    def _fuzzy(self, word: str) -> list[tuple[int, float]]:
        """Return (column, similarity) of the known words most like an unknown ``word``."""
        grams = [g for g in _char_ngrams(word) if g in self.fuzzy_vocabulary]
        if not grams or self.fuzzy_matrix.shape[0] == 0:
            return []
        query = np.zeros(self.fuzzy_matrix.shape[1], dtype=np.float32)
        for gram in grams:
            query[self.fuzzy_vocabulary[gram]] += 1.0
        query /= np.linalg.norm(query)
        similarity = self.fuzzy_matrix @ query
        best = np.argsort(-similarity)[:FUZZY_MAX_WORDS]
        return [
            (int(self.fuzzy_words[row]), float(similarity[row]))
            for row in best
            if similarity[row] >= FUZZY_MIN_SIMILARITY
        ]

    def _query(self, question: str) -> _Query | None:
        words = analysis.question_words(question)
        if not analysis.content_words(question):
            return None
        found: list[list[tuple[int, float]]] = [[] for _ in words]
        # Two neighbours written as one word elsewhere («هاشمی فر» / «هاشمیفر») find each other.
        for i, (a, b) in enumerate(itertools.pairwise(words)):
            joined = self.vocabulary.get(a + b)
            if joined is not None:
                found[i].append((joined, 1.0))
                found[i + 1].append((joined, 1.0))
        for i, (word, stem) in enumerate(zip(words, analysis.stems(words), strict=True)):
            if word in self.vocabulary:
                found[i].append((self.vocabulary[word], 1.0))
            elif not found[i] and not word.isdigit():
                found[i].extend(self._fuzzy(word))
            if stem in self.vocabulary:
                found[i].append((self.vocabulary[stem], 1.0))
        weights: dict[int, float] = {}
        for column, credit in itertools.chain.from_iterable(found):
            weights[column] = max(weights.get(column, 0.0), credit)
        per_word = [tuple(f) for f in found]
        word_idf = np.array(
            [float(self.idf[self.vocabulary[w]]) if w in self.vocabulary else self._unseen_idf(w) for w in words]
        )
        return _Query(
            tuple(words),
            np.fromiter(weights, dtype=np.int64, count=len(weights)),
            np.fromiter(weights.values(), dtype=np.float32, count=len(weights)),
            tuple(per_word),
            word_idf,
        )

    def _unseen_idf(self, word: str) -> float:
        """Return the idf of a word the collection lacks: from the background, else as rare as can be.

        A rare word the collection has never seen is telling (the question is about something else);
        a common one («انجام») is not.
        """
        background_n, background_df = analysis.background_frequencies()
        df = background_df.get(word, 0) * BACKGROUND_SENTENCES / background_n
        return float(np.log1p((len(self) + BACKGROUND_SENTENCES - df + 0.5) / (df + 0.5)))

    def _coverage(self, query: _Query, row: int) -> float:
        """Return the idf-weighted share of the question's words present in sentence ``row`` or its paragraph."""
        if not len(query.word_idf):
            return 0.0
        context = self.context_of[row]
        found = np.zeros(len(query.word_idf))
        for i, columns in enumerate(query.word_columns):
            for column, credit in columns:
                if self.sentence_weights[row, column] or self.context_weights[context, column]:
                    found[i] = max(found[i], credit)
        return float((found * query.word_idf).sum() / query.word_idf.sum())

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """Return up to ``k`` best sentences for ``question``, best first.

        Empty when the question has no words to search for (see ``analysis.content_words``) or none of
        them occurs in the collection.
        """
        query = self._query(question)
        if query is None or not len(query.columns) or k <= 0:
            return []
        scores = self.sentence_weights[:, query.columns] @ query.weights
        context = self.context_weights[:, query.columns] @ query.weights
        scores = scores + CONTEXT_WEIGHT * context[self.context_of]
        candidates = np.flatnonzero(scores)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        # Ties go to the earlier sentence, so equal scores rank the same way on every run.
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [self._hit(int(row), float(scores[row]), query) for row in ranked]

    def _hit(self, row: int, score: float, query: _Query) -> Hit:
        sentence = self.sentence(row)
        before, after = self.neighbours(row)
        return Hit(sentence, self.articles[sentence.article], score, self._coverage(query, row), before, after)


# -- building ------------------------------------------------------------------------------------


def _char_ngrams(word: str) -> list[str]:
    padded = f" {word} "
    low, high = FUZZY_NGRAMS
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


def _idf(df: np.ndarray, n: int, terms: Sequence[str]) -> np.ndarray:
    """Return BM25 idf, counting ``BACKGROUND_SENTENCES`` sentences of general news beside the collection.

    A small collection cannot tell «که» from a name that occurs as rarely; the background can, and a
    large collection outweighs it.
    """
    background_n, background_df = analysis.background_frequencies()
    scale = BACKGROUND_SENTENCES / background_n
    df_total = df + scale * np.fromiter((background_df.get(t, 0) for t in terms), dtype=np.float64, count=len(terms))
    n_total = n + BACKGROUND_SENTENCES
    return np.log1p((n_total - df_total + 0.5) / (df_total + 0.5)).astype(np.float32)


def _bm25(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csc_matrix:
    """Turn term counts into BM25 weights (idf × saturated, length-normalised tf), as float32 CSC."""
    counts = counts.tocoo()
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    average = lengths.mean() if len(lengths) else 1.0
    tf = counts.data.astype(np.float32)
    norm = K1 * (1 - B + B * lengths[counts.row] / average)
    data = idf[counts.col] * tf * (K1 + 1) / (tf + norm)
    return sp.csc_matrix((data.astype(np.float32), (counts.row, counts.col)), shape=counts.shape)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _reporting(texts: Sequence[str], progress: Callable[[int, int], None] | None) -> Iterator[str]:
    for done, text in enumerate(texts, 1):
        yield text
        if progress is not None and (done % 1000 == 0 or done == len(texts)):
            progress(done, len(texts))


def build_index(seeds: SeedSet | Sequence[Article], *, progress: Callable[[int, int], None] | None = None) -> Index:
    """Build an index over the articles (a ``SeedSet`` or a plain sequence).

    ``progress(done, total)`` is called as sentences are analysed.
    """
    started = time.perf_counter()
    articles = seeds.articles if isinstance(seeds, SeedSet) else tuple(seeds)
    sentences = [s for i, article in enumerate(articles) for s in split_article(article, i)]
    texts = [s.text for s in sentences]
    vectorizer = CountVectorizer(analyzer=analysis.terms, dtype=np.float32)
    counts = (
        vectorizer.fit_transform(_reporting(texts, progress)).tocsr()
        if texts
        else sp.csr_matrix((0, 0), dtype=np.float32)
    )
    terms = tuple(vectorizer.get_feature_names_out()) if texts else ()

    # Paragraph rows: sentences of one paragraph of one article summed.
    keys = np.array([(s.article << 20) | s.paragraph for s in sentences], dtype=np.int64)
    _, context_of = np.unique(keys, return_inverse=True)
    membership = sp.csr_matrix(
        (np.ones(len(sentences), np.float32), (context_of, np.arange(len(sentences)))),
        shape=(int(context_of.max()) + 1 if sentences else 0, len(sentences)),
    )
    context_counts = (membership @ counts).tocsr()

    idf = _idf(np.bincount(counts.indices, minlength=len(terms)), len(sentences), terms)

    word_columns = np.array([i for i, t in enumerate(terms) if not t.startswith(analysis.STEM_PREFIX)], np.int64)
    fuzzy = TfidfVectorizer(analyzer=_char_ngrams, dtype=np.float32, norm="l2", use_idf=False)
    fuzzy_matrix = (
        fuzzy.fit_transform([terms[i] for i in word_columns]).tocsr()
        if len(word_columns)
        else sp.csr_matrix((0, 0), dtype=np.float32)
    )
    fuzzy_vocabulary = (
        {str(g): int(i) for i, g in enumerate(fuzzy.get_feature_names_out())} if len(word_columns) else {}
    )

    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    manifest = {
        "recipe": scoring_recipe(),
        "seeds": {
            "fingerprint": fingerprint(articles),
            "articles": len(articles),
            "sentences": len(sentences),
        },
        "terms": len(terms),
        "versions": library_versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    return Index(
        articles=articles,
        sentence_article=_frozen(np.array([s.article for s in sentences], dtype=np.int32)),
        sentence_paragraph=_frozen(np.array([s.paragraph for s in sentences], dtype=np.int32)),
        sentence_position=_frozen(np.array([s.position for s in sentences], dtype=np.int32)),
        text_offsets=_frozen(offsets),
        texts="".join(texts),
        terms=terms,
        sentence_weights=_bm25(counts, idf),
        context_weights=_bm25(context_counts, idf),
        context_of=_frozen(context_of.astype(np.int32)),
        idf=_frozen(idf),
        fuzzy_words=_frozen(word_columns),
        fuzzy_matrix=fuzzy_matrix,
        fuzzy_vocabulary=fuzzy_vocabulary,
        manifest=manifest,
        vocabulary={t: i for i, t in enumerate(terms)},
    )
