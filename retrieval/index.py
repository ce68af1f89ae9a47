"""The search index: BM25 over sentences with paragraph context, as inverted postings.

A sentence's score for a question adds, over the question's terms (``retrieval.analysis``):

- the term's BM25 weight in the sentence (idf × saturated, length-normalised term frequency);
- ``CONTEXT_WEIGHT`` × its BM25 weight in the sentence's paragraph, so a sentence that says «او» about
  the subject its paragraph names is still found.

``retrieval.postings`` computes the exact top k over posting lists; terms are identified by a 64-bit
hash, so no vocabulary of millions of strings is held or loaded. Question words the collection has
never seen (typos, rare spellings) are replaced by the most similar known words (``retrieval.fuzzy``).

An ``Index`` is immutable: building or loading returns a new one, and a reload swaps it whole.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import itertools
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from retrieval import analysis, second
from retrieval import fuzzy as fuzzy_words
from retrieval.display import DISPLAY_VERSION, display
from retrieval.fuzzy import FuzzyWords
from retrieval.postings import Boosts, Features, Postings, Scorer, Weights
from retrieval.second import CANDIDATES, QuestionView
from retrieval.seeds import MAX_TITLE_CHARS, Article, SeedSet, fingerprint
from retrieval.sentences import MAX_SENTENCE_CHARS, Sentence, split_article

__all__ = [
    "ArticleInfo",
    "Hit",
    "Index",
    "Lexicon",
    "Plan",
    "Ranking",
    "Spelling",
    "Statistics",
    "build_index",
    "plan_query",
    "term_key",
]

# Sentences: term frequency saturates at once and length matters little (a sentence either says it or
# not). Paragraph context: more saturation room and more length normalisation.
K1 = 0.3
B = 0.3
CONTEXT_K1 = 0.9
CONTEXT_B = 0.7
CONTEXT_WEIGHT = 1.0
BACKGROUND_SENTENCES = 2000
ANAPHOR_WEIGHT = 0.3
"""A sentence opening with «او»/«این» gets this share of the previous sentence's own score."""
NUMBER_BOOST = 1.1
"""A question asking for a number or date multiplies the score of sentences with digits by this."""
DEFINITION_WEIGHT = 1.0
FIRST_WORD_WEIGHT = 0.5
"""A sentence opening with the question's subject gains this × the subject word's idf (definition
questions: each of their words at ``DEFINITION_WEIGHT``)."""


def library_versions() -> dict[str, str]:
    """Return the installed versions of Pasokh and the libraries an index depends on."""
    return dict(_library_versions())


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    """Read once per process (about 4 ms a package): the code running does not change with what is
    installed later."""
    versions = []
    for name in ("pasokh", "hazm", "numpy", "scipy"):
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "unknown"))
    return tuple(versions)


def scoring_recipe() -> dict[str, object]:
    """Return every setting that decides what an index holds and how it scores, as plain data."""
    from retrieval import fuzzy

    return analysis.recipe() | {
        "term_key": "blake2b-64",
        "display": DISPLAY_VERSION,
        "max_sentence_chars": MAX_SENTENCE_CHARS,  # an index built before sentences were cut holds longer ones
        "max_title_chars": MAX_TITLE_CHARS,
        "k1": K1,
        "b": B,
        "context_k1": CONTEXT_K1,
        "context_b": CONTEXT_B,
        "context_weight": CONTEXT_WEIGHT,
        "anaphor_weight": ANAPHOR_WEIGHT,
        "number_boost": NUMBER_BOOST,
        "definition_weight": DEFINITION_WEIGHT,
        "first_word_weight": FIRST_WORD_WEIGHT,
        "background_sentences": BACKGROUND_SENTENCES,
        "fuzzy": {"min_word": fuzzy.MIN_WORD, "max_words": fuzzy.MAX_WORDS, "edits": "1 to 6 letters, else 2"},
        "second_stage": {"model": second.model_version(), "candidates": CANDIDATES},
    }


def term_key(term: str) -> int:
    """The 64-bit identity of a term (stable across processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """What an index keeps of an article: its id, title, date and file digest (the text is in sentences)."""

    id: str
    title: str
    date: dt.date | None
    digest: str
    display_title: str = ""
    """The title as readers see it (``retrieval.display.display``), computed when the index is built."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked sentence, its article and neighbours, and how well it covers the question."""

    sentence: Sentence
    article: ArticleInfo
    score: float
    _neighbours: Callable[[], tuple[Sentence | None, Sentence | None]] = field(repr=False, compare=False)
    _coverage: Callable[[], float] = field(repr=False, compare=False)
    terms: frozenset[int] = field(default=frozenset(), repr=False, compare=False)
    """The keys of the terms that found the question's content words: the words, their stems, neighbours
    joined («هاشمی فر» → «هاشمیفر») and spelling corrections (to mark them where they are shown)."""

    @property
    def before(self) -> Sentence | None:
        """The sentence just before in its article, if any (read when asked: most hits are never shown)."""
        return self._neighbours()[0]

    @property
    def after(self) -> Sentence | None:
        """The sentence just after in its article, if any."""
        return self._neighbours()[1]

    @property
    def coverage(self) -> float:
        """Share (0..1, idf-weighted) of the question's words found in the sentence or its paragraph.

        Computed when asked (the answer needs it for the best hit only).
        """
        return self._coverage()


@dataclass(frozen=True, slots=True)
class Ranking:
    """The best sentences for a question, best first, and the probability that the first answers it."""

    hits: tuple[Hit, ...]
    confidence: float
    missing: int = 0
    """Shards of a sharded collection that did not answer in time: the ranking is over the others."""


@dataclass(frozen=True, slots=True)
class _Query:
    terms: np.ndarray
    weights: np.ndarray
    boosts: Boosts
    found: tuple[tuple[tuple[int, float], ...], ...]
    """For each question word, the terms that count as finding it (word, stem, join, fuzzy) and their credit."""
    word_idf: np.ndarray
    marked: frozenset[int]
    """The term keys that found a content word (not a stopword)."""
    view: QuestionView


@dataclass(frozen=True, slots=True)
class Spelling:
    """A known word close to an unknown one, by term key, and the number of sentences holding it."""

    word: str
    key: int
    edits: int
    similarity: float
    df: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A question analysed against a vocabulary, in term keys: any segment of a collection can search it
    (``Index.localize`` turns it into that segment's term ids)."""

    text: str
    weights: dict[int, float]
    """Term key → weight, in the order the terms were found."""
    found: tuple[tuple[tuple[int, float], ...], ...]
    """For each question word, the keys of the terms that count as finding it and their credit."""
    word_idf: np.ndarray
    numeric: bool
    subject: tuple[tuple[int, float], ...]
    """The keys of the question's subject terms and the bonus of a sentence opening with one."""
    marked: frozenset[int]
    unseen: np.ndarray
    corrected: np.ndarray


class Lexicon(Protocol):
    """What ``plan_query`` needs of a vocabulary: an ``Index``, or several searched together."""

    def __len__(self) -> int: ...

    def known(self, keys: np.ndarray) -> np.ndarray: ...

    def key_idf(self, keys: np.ndarray) -> np.ndarray: ...

    def spellings(self, word: str) -> list[Spelling]: ...


def _keys(terms: Sequence[str]) -> np.ndarray:
    return np.fromiter(map(term_key, terms), dtype=np.uint64, count=len(terms))


def plan_query(question: str, lexicon: Lexicon) -> Plan | None:
    """The question's terms and weights against ``lexicon``; None when it has no content words.

    Its words, their stems, neighbours joined («هاشمی فر» → «هاشمیفر»), and for a word no sentence
    holds, its likeliest spelling corrections.
    """
    words = analysis.question_words(question)
    if not analysis.content_words(question):
        return None
    found: list[list[tuple[int, float]]] = [[] for _ in words]
    stems = analysis.stems(words)
    joins = [a + b for a, b in itertools.pairwise(words)]
    keys = _keys([*words, *stems, *joins])
    held = lexicon.known(keys).tolist()
    ids = [int(k) if h else None for k, h in zip(keys.tolist(), held, strict=True)]
    word_ids, stem_ids, join_ids = ids[: len(words)], ids[len(words) : 2 * len(words)], ids[2 * len(words) :]
    # Two neighbours written as one word elsewhere («هاشمی فر» / «هاشمیفر») find each other.
    for i, joined in enumerate(join_ids):
        if joined is not None:
            found[i].append((joined, 1.0))
            found[i + 1].append((joined, 1.0))
    weights: dict[int, float] = {}
    for i, (word, word_id, stem_id) in enumerate(zip(words, word_ids, stem_ids, strict=True)):
        if word_id is not None:
            found[i].append((word_id, 1.0))
            if analysis.is_stopword(word):
                # A stopword's stem holds the same sentences as the word: count the word twice instead
                # of looking up a second list as long (they are the longest lists there are).
                weights[word_id] = 2.0
                continue
        elif not found[i]:
            found[i].extend(_corrections(lexicon, word))
        if stem_id is not None:
            found[i].append((stem_id, 1.0))
    for term, credit in itertools.chain.from_iterable(found):
        weights[term] = max(weights.get(term, 0.0), credit)
    known_words = [k for k in word_ids if k is not None]
    known_idf = iter(lexicon.key_idf(np.array(known_words, dtype=np.uint64)).tolist())
    word_idf = np.array(
        [
            next(known_idf) if k is not None else _unseen_idf(len(lexicon), w)
            for w, k in zip(words, word_ids, strict=True)
        ]
    )
    content = [f for word, f in zip(words, found, strict=True) if not analysis.is_stopword(word)]
    marked = frozenset(term for term, _ in itertools.chain.from_iterable(content))
    shape = analysis.question_shape(question)
    weight = DEFINITION_WEIGHT if shape.definition else FIRST_WORD_WEIGHT
    subject = _keys(shape.subject)
    subject = subject[lexicon.known(subject)] if len(subject) else subject
    bonus = (weight * lexicon.key_idf(subject)).astype(np.float32) if len(subject) else np.empty(0, np.float32)
    return Plan(
        question,
        weights,
        tuple(tuple(f) for f in found),
        word_idf,
        shape.numeric,
        tuple(zip(subject.tolist(), bonus.tolist(), strict=True)),
        marked,
        np.array([not f for f in found], dtype=bool),
        np.array([bool(f) and max(c for _, c in f) < 1.0 for f in found], dtype=bool),
    )


def _corrections(lexicon: Lexicon, word: str) -> list[tuple[int, float]]:
    """The terms of the likeliest corrections of an unknown word (word and stem), with their credit.

    Fewest edits first; among equals the more frequent word, as a speller would guess.
    """
    ranked = sorted(lexicon.spellings(word), key=lambda s: (s.edits, -s.df))
    found = []
    for spelling in ranked[: fuzzy_words.MAX_WORDS]:
        found.append((spelling.key, spelling.similarity))
        stem = _keys(analysis.stems([spelling.word]))
        if lexicon.known(stem)[0]:
            found.append((int(stem[0]), spelling.similarity))
    return found


def _unseen_idf(n: int, word: str) -> float:
    """Return the idf of a word the collection (``n`` sentences) lacks: from the background, else as rare
    as can be.

    A rare word the collection has never seen is telling (the question is about something else);
    a common one («انجام») is not.
    """
    background_n, background_df = analysis.background_frequencies()
    df = background_df.get(word, 0) * BACKGROUND_SENTENCES / background_n
    return float(np.log1p((n + BACKGROUND_SENTENCES - df + 0.5) / (df + 0.5)))


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """Sentences of the articles and their term weights. Never mutated after it is built or loaded."""

    articles: tuple[ArticleInfo, ...]
    sentence_article: np.ndarray  # int32: article of each sentence row
    sentence_position: np.ndarray  # int32: position in its article
    sentence_paragraph: np.ndarray  # int32: paragraph position in its article
    paragraph_of: np.ndarray  # int32: global paragraph row of each sentence
    paragraph_start: np.ndarray  # int64: first sentence row of each paragraph, then the total
    first_word: np.ndarray  # int32: term id of each sentence's first word (-1: none)
    digits: np.ndarray  # bool: the sentence has a digit
    anaphoric: np.ndarray  # bool: it opens with a pronoun pointing back (and is not its article's first)
    text_offsets: np.ndarray  # int64: byte offsets into text_bytes
    text_bytes: np.ndarray  # uint8: every sentence's UTF-8 text, in row order
    display_offsets: np.ndarray  # int64: byte offsets into display_bytes
    display_bytes: np.ndarray  # uint8: every sentence's display text (UTF-8), in row order
    term_keys: np.ndarray  # uint64, sorted: the term ids are positions here
    idf: np.ndarray  # float32, per term
    sentences: Postings
    paragraphs: Postings
    fuzzy: FuzzyWords
    manifest: Mapping[str, Any]
    scorer: Scorer = field(init=False, repr=False)
    _titles: dict[int, frozenset[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        scorer = Scorer(
            self.sentences,
            self.paragraphs,
            self.paragraph_of,
            self.paragraph_start,
            features=Features(self.first_word, self.digits, self.anaphoric),
            weights=Weights(CONTEXT_WEIGHT, ANAPHOR_WEIGHT, NUMBER_BOOST),
        )
        object.__setattr__(self, "scorer", scorer)
        object.__setattr__(self, "_titles", {})

    def averages(self) -> tuple[float, float] | None:
        """The average sentence and paragraph lengths (in terms) BM25 normalised by, when recorded."""
        averages = self.manifest.get("averages")
        if not isinstance(averages, Mapping):
            return None
        sentence, paragraph = averages.get("sentence"), averages.get("paragraph")
        if not (isinstance(sentence, int | float) and isinstance(paragraph, int | float)):
            return None
        return float(sentence), float(paragraph)

    # -- sentences --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.sentence_article)

    def sentence(self, i: int) -> Sentence:
        """Return sentence ``i`` (rows are in article order, then sentence order), with its display text."""
        text = self.text_bytes[self.text_offsets[i] : self.text_offsets[i + 1]].tobytes().decode("utf-8")
        shown = self.display_bytes[self.display_offsets[i] : self.display_offsets[i + 1]].tobytes().decode("utf-8")
        return Sentence(
            int(self.sentence_article[i]),
            int(self.sentence_position[i]),
            int(self.sentence_paragraph[i]),
            text,
            shown,
        )

    def sentence_text(self, i: int) -> str:
        """The text of sentence ``i`` as analysed (not as displayed)."""
        return self.text_bytes[self.text_offsets[i] : self.text_offsets[i + 1]].tobytes().decode("utf-8")

    def title_terms(self, article: int) -> frozenset[int]:
        """The term ids of an article's title (worked out once, when first asked)."""
        terms = self._titles.get(article)
        if terms is None:
            terms = frozenset(i for i in self.term_ids(analysis.terms(self.articles[article].title)) if i is not None)
            self._titles[article] = terms
        return terms

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

    def term_id(self, term: str) -> int | None:
        """The id of a term, or None when no sentence holds it."""
        return self.term_ids([term])[0]

    def term_ids(self, terms: Sequence[str]) -> list[int | None]:
        """The ids of terms (None for a term no sentence holds), in one search."""
        if not len(self.term_keys):
            return [None] * len(terms)
        keys = np.fromiter(map(term_key, terms), dtype=np.uint64, count=len(terms))
        at = np.minimum(np.searchsorted(self.term_keys, keys), len(self.term_keys) - 1)
        held = self.term_keys[at] == keys
        return [int(i) if h else None for i, h in zip(at.tolist(), held.tolist(), strict=True)]

    # -- the vocabulary, by term key (what ``plan_query`` asks of a segment) -----------------------

    def key_ids(self, keys: np.ndarray) -> np.ndarray:
        """The term id of each key (uint64), -1 where no sentence holds it."""
        if not len(self.term_keys) or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.term_keys, keys), len(self.term_keys) - 1)
        ids: np.ndarray = np.where(self.term_keys[at] == keys, at, -1).astype(np.int64)
        return ids

    def key_df(self, keys: np.ndarray) -> np.ndarray:
        """The number of sentences holding each key's term (0 for a term not held)."""
        ids = self.key_ids(keys)
        df: np.ndarray = np.where(ids >= 0, self.sentences.df(np.maximum(ids, 0)) if len(ids) else 0, 0)
        return df.astype(np.int64)

    def known(self, keys: np.ndarray) -> np.ndarray:
        known: np.ndarray = self.key_ids(keys) >= 0
        return known

    def key_idf(self, keys: np.ndarray) -> np.ndarray:
        """The idf of each key's term (keys held here only)."""
        idf: np.ndarray = self.idf[self.key_ids(keys)]
        return idf

    def spellings(self, word: str) -> list[Spelling]:
        """The known words close to an unknown one (``FuzzyWords.similar``), by key, with their df."""
        corrections = self.fuzzy.similar(word)
        ids = np.array([c.term for c in corrections], dtype=np.int64)
        df = self.sentences.df(ids).tolist()
        return [
            Spelling(c.word, int(self.term_keys[c.term]), c.edits, c.similarity, int(d))
            for c, d in zip(corrections, df, strict=True)
        ]

    def localize(self, plan: Plan) -> _Query:
        """The question of ``plan`` in this index's term ids (terms no sentence here holds are left out)."""
        keys = np.fromiter(plan.weights, dtype=np.uint64, count=len(plan.weights))
        ids = self.key_ids(keys)
        held = ids >= 0
        weights = np.fromiter(plan.weights.values(), dtype=np.float32, count=len(plan.weights))
        found_keys = sorted({key for word in plan.found for key, _ in word})
        found_ids = dict(zip(found_keys, self.key_ids(np.array(found_keys, dtype=np.uint64)).tolist(), strict=True))
        found = tuple(tuple((found_ids[key], c) for key, c in word if found_ids[key] >= 0) for word in plan.found)
        subject_ids = self.key_ids(np.array([key for key, _ in plan.subject], dtype=np.uint64))
        bonus = np.array([b for _, b in plan.subject], dtype=np.float32)
        subject_held = subject_ids >= 0
        boosts = Boosts(plan.numeric, subject_ids[subject_held], bonus[subject_held])
        return _Query(
            ids[held],
            weights[held],
            boosts,
            found,
            plan.word_idf,
            plan.marked,
            QuestionView(plan.text, found, plan.word_idf, plan.unseen, plan.corrected),
        )

    def _query(self, question: str) -> _Query | None:
        plan = plan_query(question, self)
        return None if plan is None else self.localize(plan)

    def _coverage(self, query: _Query, row: int) -> float:
        """The idf-weighted share of the question's words present in sentence ``row`` or its paragraph."""
        if not len(query.word_idf):
            return 0.0
        terms = np.array(sorted({term for word in query.found for term, _ in word}), dtype=np.int64)
        held = (self.sentences.lookup(terms, [row])[:, 0] > 0) | (
            self.paragraphs.lookup(terms, self.paragraph_of[row : row + 1])[:, 0] > 0
        )
        present = dict(zip(terms.tolist(), held.tolist(), strict=True))
        found = np.zeros(len(query.found))
        for i, word in enumerate(query.found):
            for term, credit in word:
                if present[term]:
                    found[i] = max(found[i], credit)
        return float(query.word_idf @ found / query.word_idf.sum())

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """Return up to ``k`` best sentences for ``question``, best first.

        Empty when the question has no words to search for (see ``analysis.content_words``) or none of
        them occurs in the collection.
        """
        return list(self.rank(question, k).hits)

    def candidates(self, question: str, n: int = CANDIDATES) -> tuple[QuestionView, np.ndarray, np.ndarray] | None:
        """The first stage: the question as the features see it, and its best ``n`` rows and their scores."""
        query = self._query(question)
        if query is None or not len(query.terms) or n <= 0:
            return None
        rows, scores = self.scorer.top(query.terms, query.weights, n, query.boosts)
        return query.view, rows, scores

    def rank(self, question: str, k: int = 3) -> Ranking:
        """Both stages: the first stage's best ``CANDIDATES`` sentences reordered by the second stage's model
        (``retrieval.second``), the best ``k`` of them, and the probability that the first answers."""
        query = self._query(question)
        if query is None or not len(query.terms) or k <= 0:
            return Ranking((), 0.0)
        rows, scores = self.scorer.top(query.terms, query.weights, max(k, CANDIDATES), query.boosts)
        if not len(rows):
            return Ranking((), 0.0)
        model = second.model()
        features = second.candidate_features(self, query.view, rows, scores)
        ranked = model.ranker.predict(features)
        order = second.rerank(ranked)
        confidence = model.answerable(second.confidence_features(query.view, features[order], ranked[order]))
        hits = tuple(self._hit(int(rows[i]), float(ranked[i]), query) for i in order[:k])
        return Ranking(hits, confidence)

    def _hit(self, row: int, score: float, query: _Query) -> Hit:
        sentence = self.sentence(row)
        neighbours = functools.partial(self.neighbours, row)
        coverage = functools.partial(self._coverage, query, row)
        return Hit(sentence, self.articles[sentence.article], score, neighbours, coverage, query.marked)


# -- building ------------------------------------------------------------------------------------


def _bm25_in_place(
    counts: sp.csr_matrix, idf: np.ndarray, k1: float, b: float, mean: float | None = None
) -> tuple[sp.csr_matrix, float]:
    """Turn term counts into BM25 weights (idf × saturated, length-normalised tf), reusing the matrix.

    Lengths are normalised by ``mean`` (another segment's), by default the rows' own average; returns the
    matrix and the average used."""
    lengths = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
    if mean is None:
        # Summed exactly (whole numbers in float64): shards of a collection add theirs up to the same mean.
        mean = float(lengths.sum(dtype=np.float64)) / len(lengths) if len(lengths) else 0.0
    average = np.float32(mean if mean > 0 else 1)  # no terms at all (a text of dots): nothing to normalise
    norm = np.float32(k1) * (np.float32(1 - b) + np.float32(b) * lengths / average)
    tf = counts.data
    tf *= np.float32(k1 + 1) / (tf + np.repeat(norm, np.diff(counts.indptr)))
    tf *= idf[counts.indices]
    return counts, mean


def _idf(df: np.ndarray, n: int, terms: Sequence[str]) -> np.ndarray:
    """Return BM25 idf, counting ``BACKGROUND_SENTENCES`` sentences of general news beside the collection.

    A small collection cannot tell «که» from a name that occurs as rarely; the background can, and a
    large collection outweighs it.
    """
    background_n, background_df = analysis.background_frequencies()
    scale = BACKGROUND_SENTENCES / background_n
    prior = np.fromiter((background_df.get(t, 0) for t in terms), dtype=np.float64, count=len(terms))
    df_total = df + scale * prior
    n_total = n + BACKGROUND_SENTENCES
    return np.log1p((n_total - df_total + 0.5) / (df_total + 0.5)).astype(np.float32)


@dataclass(frozen=True, slots=True, eq=False)
class Statistics:
    """Counts over a whole collection that a part of it (a shard, ``retrieval.shards``) is weighted with, so
    that its scores are those one index over the collection would give."""

    keys: np.ndarray
    """uint64, sorted: every term key of the collection."""
    df: np.ndarray
    """int64: the number of sentences holding each key's term."""
    sentences: int
    averages: tuple[float, float]
    """The average sentence and paragraph (with its title) lengths, in terms."""

    def key_df(self, keys: np.ndarray) -> np.ndarray:
        """The collection's df of each key (0 for a key it lacks)."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        df: np.ndarray = np.where(self.keys[at] == keys, self.df[at], 0).astype(np.int64)
        return df


def _segment_idf(
    df: np.ndarray, n: int, terms: Sequence[str], beside: Index | None, statistics: Statistics | None = None
) -> np.ndarray:
    """The idf of ``terms`` (sorted by key), alone, beside another index, or in a whole collection (see
    ``build_index``)."""
    if statistics is not None:
        return _idf(statistics.key_df(_keys(terms)), statistics.sentences, terms)
    if beside is None:
        return _idf(df, n, terms)
    keys = _keys(terms)
    ids = beside.key_ids(keys)
    idf = _idf(df + beside.key_df(keys), n + len(beside), terms)
    held = ids >= 0
    idf[held] = beside.idf[ids[held]]
    return idf


def _frozen(array_: np.ndarray) -> np.ndarray:
    array_.flags.writeable = False
    return array_


@dataclass(frozen=True, slots=True)
class _AnalysedSentence:
    position: int
    paragraph: int
    text: bytes
    display: bytes
    terms: tuple[str, ...]
    first_word: str | None
    digits: bool
    anaphoric: bool


@dataclass(frozen=True, slots=True, eq=False)
class Analysed:
    """An article split and analysed (the costly part of indexing it): what building an index takes in.

    A collection keeps its delta's articles so, to build the delta again at each change without analysing
    them again."""

    article: Article
    sentences: tuple[_AnalysedSentence, ...]
    words: frozenset[str]
    title_terms: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.article.id

    @property
    def digest(self) -> str:
        return self.article.digest


def analyse(article: Article) -> Analysed:
    """Split ``article`` into sentences and analyse each (see ``Analysed``)."""
    sentences = []
    words_seen: set[str] = set()
    for sentence in split_article(article, 0):
        words = analysis.words(sentence.text)
        words_seen.update(words)
        shape = analysis.sentence_shape(words, follows=sentence.position > 0)
        sentences.append(
            _AnalysedSentence(
                sentence.position,
                sentence.paragraph,
                sentence.text.encode("utf-8"),
                display(sentence.text).encode("utf-8"),
                tuple(analysis.expand(words)),
                words[0] if words else None,
                bool(shape.digits),
                bool(shape.anaphoric),
            )
        )
    return Analysed(article, tuple(sentences), frozenset(words_seen), tuple(analysis.terms(article.title)))


class _Builder:
    """Splits and analyses articles one at a time into compact arrays (no object per sentence kept)."""

    def __init__(self) -> None:
        self.article = array("i")
        self.position = array("i")
        self.paragraph = array("i")
        self.first_word = array("i")
        self.digits = bytearray()
        self.anaphoric = bytearray()
        self.text = bytearray()
        self.text_offsets = array("q", [0])
        self.display = bytearray()
        self.display_offsets = array("q", [0])
        self.vocabulary: collections.defaultdict[str, int] = collections.defaultdict()
        self.vocabulary.default_factory = self.vocabulary.__len__
        self.terms = array("i")
        self.term_offsets = array("q", [0])
        self.words: set[str] = set()
        self.title_terms: list[list[int]] = []

    def add(self, article: Article | Analysed, article_index: int) -> None:
        analysed = article if isinstance(article, Analysed) else analyse(article)
        vocabulary = self.vocabulary
        for sentence in analysed.sentences:
            self.article.append(article_index)
            self.position.append(sentence.position)
            self.paragraph.append(sentence.paragraph)
            self.text += sentence.text
            self.text_offsets.append(len(self.text))
            self.display += sentence.display
            self.display_offsets.append(len(self.display))
            self.terms.extend([vocabulary[t] for t in sentence.terms])
            self.term_offsets.append(len(self.terms))
            self.first_word.append(vocabulary[sentence.first_word] if sentence.first_word is not None else -1)
            self.digits.append(sentence.digits)
            self.anaphoric.append(sentence.anaphoric)
        self.words.update(analysed.words)
        self.title_terms.append([vocabulary[t] for t in analysed.title_terms])

    def counts(self) -> sp.csr_matrix:
        """Term counts per sentence (rows) under local term ids (columns)."""
        n = len(self.article)
        counts = sp.csr_matrix(
            (
                np.ones(len(self.terms), dtype=np.float32),
                np.frombuffer(self.terms, dtype=np.int32),
                np.frombuffer(self.term_offsets, dtype=np.int64),
            ),
            shape=(n, len(self.vocabulary)),
        )
        counts.sum_duplicates()
        self.terms, self.term_offsets = array("i"), array("q")
        return counts

    def paragraph_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The global paragraph row of each sentence, and each paragraph's first sentence (then the total)."""
        article = np.frombuffer(self.article, dtype=np.int32)
        paragraph = np.frombuffer(self.paragraph, dtype=np.int32)
        change = np.ones(len(article), dtype=bool)
        change[1:] = (article[1:] != article[:-1]) | (paragraph[1:] != paragraph[:-1])
        paragraph_of = (np.cumsum(change) - 1).astype(np.int32)
        return paragraph_of, np.append(np.flatnonzero(change), len(article)).astype(np.int64)

    def title_counts(self, paragraph_start: np.ndarray) -> sp.csr_matrix:
        """The title's terms, once per occurrence, in every paragraph row of its article."""
        paragraph_article = np.frombuffer(self.article, dtype=np.int32)[paragraph_start[:-1]]
        lengths = np.array([len(self.title_terms[a]) for a in paragraph_article], dtype=np.int64)
        columns = [self.title_terms[a] for a in paragraph_article]
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.fromiter(itertools.chain.from_iterable(columns), dtype=np.int32, count=int(indptr[-1]))
        titles = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(lengths), len(self.vocabulary))
        )
        titles.sum_duplicates()
        return titles


def build_index(
    seeds: SeedSet | Iterable[Article] | Iterable[Analysed],
    *,
    progress: Callable[[int, int], None] | None = None,
    beside: Index | None = None,
    statistics: Statistics | None = None,
) -> Index:
    """Build an index over the articles (a ``SeedSet`` or any iterable of ``Article``).

    ``progress(done, total)`` is called as articles are analysed. An index built ``beside`` another (a
    collection's delta beside its main index, ``retrieval.collection``) is weighted with that one's
    statistics, so that their scores compare: the terms it holds keep its idf, new ones get an idf over
    both, and lengths are normalised by its averages. One built with a whole collection's ``statistics``
    (a shard of it) scores its sentences as one index over the whole collection would.
    """
    started = time.perf_counter()
    given: tuple[Article | Analysed, ...] = seeds.articles if isinstance(seeds, SeedSet) else tuple(seeds)
    articles = tuple(a.article if isinstance(a, Analysed) else a for a in given)
    builder = _Builder()
    for i, article in enumerate(given):
        builder.add(article, i)
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(articles)):
            progress(i + 1, len(articles))
    n = len(builder.article)
    counts = builder.counts()

    # Global term ids: terms sorted by their 64-bit key.
    terms = list(builder.vocabulary)
    keys = np.fromiter((term_key(t) for t in terms), dtype=np.uint64, count=len(terms))
    order = np.argsort(keys, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    counts.indices = rank[counts.indices]
    idf = _segment_idf(
        np.bincount(counts.indices, minlength=len(order)), n, [terms[i] for i in order], beside, statistics
    )
    fuzzy = FuzzyWords.build((w, int(rank[builder.vocabulary[w]])) for w in sorted(builder.words))
    del terms

    paragraph_of, paragraph_start = builder.paragraph_rows()
    titles = builder.title_counts(paragraph_start)
    titles.indices = rank[titles.indices]
    del builder.vocabulary
    membership = sp.csr_matrix(
        (np.ones(n, np.float32), paragraph_of, np.arange(n + 1)), shape=(n, len(paragraph_start) - 1)
    )
    context_counts = (membership.T.tocsr() @ counts + titles).tocsr()
    del membership, titles
    means = statistics.averages if statistics is not None else beside.averages() if beside is not None else None
    weighted, sentence_mean = _bm25_in_place(counts, idf, K1, B, means[0] if means else None)
    sentences = Postings.from_matrix(weighted)
    del counts, weighted
    weighted, paragraph_mean = _bm25_in_place(context_counts, idf, CONTEXT_K1, CONTEXT_B, means[1] if means else None)
    paragraphs = Postings.from_matrix(weighted)
    del context_counts, weighted
    first_word = np.frombuffer(builder.first_word, dtype=np.int32)
    first_word = np.where(first_word >= 0, rank[np.maximum(first_word, 0)], -1).astype(np.int32)
    manifest = {
        # Beside another index, built by the same code: its recipe and versions (reading the model file
        # and package metadata again would cost 40 ms a change).
        "recipe": beside.manifest["recipe"] if beside is not None else scoring_recipe(),
        "seeds": {"fingerprint": fingerprint(articles), "articles": len(articles), "sentences": n},
        "terms": len(order),
        "averages": {"sentence": sentence_mean, "paragraph": paragraph_mean},
        "versions": beside.manifest["versions"] if beside is not None else library_versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    return Index(
        articles=tuple(ArticleInfo(a.id, a.title, a.date, a.digest, display(a.title)) for a in articles),
        sentence_article=_frozen(np.frombuffer(builder.article, dtype=np.int32).copy()),
        sentence_position=_frozen(np.frombuffer(builder.position, dtype=np.int32).copy()),
        sentence_paragraph=_frozen(np.frombuffer(builder.paragraph, dtype=np.int32).copy()),
        paragraph_of=_frozen(paragraph_of),
        paragraph_start=_frozen(paragraph_start),
        first_word=_frozen(first_word),
        digits=_frozen(np.frombuffer(bytes(builder.digits), dtype=np.bool_)),
        anaphoric=_frozen(np.frombuffer(bytes(builder.anaphoric), dtype=np.bool_)),
        text_offsets=_frozen(np.frombuffer(builder.text_offsets, dtype=np.int64).copy()),
        text_bytes=_frozen(np.frombuffer(bytes(builder.text), dtype=np.uint8)),
        display_offsets=_frozen(np.frombuffer(builder.display_offsets, dtype=np.int64).copy()),
        display_bytes=_frozen(np.frombuffer(bytes(builder.display), dtype=np.uint8)),
        term_keys=_frozen(keys[order]),
        idf=_frozen(idf),
        sentences=sentences,
        paragraphs=paragraphs,
        fuzzy=fuzzy,
        manifest=manifest,
    )
