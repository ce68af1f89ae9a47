"""A collection split into shards by article, searched as one index.

Past one machine (``retrieval.cluster`` serves the shards on Ray), the articles are split into ``N``
shards by a hash of their id (stable: an article stays in its shard whatever else changes). Each shard is
an ordinary saved index, but weighted with the statistics of the whole collection (df, sentence count and
average lengths, ``index.Statistics``), so a sentence scores in its shard exactly as in one index over
every article.

A sharded build is a folder: ``manifest.json`` (the whole: shards, generation, counts; its files' sizes
and checksums), the collection's vocabulary (``lexicon``: term keys, df, idf and the fuzzy word index,
for planning a question once against every word) and one saved index per shard (``shard-000`` …).

A question is planned once against the whole vocabulary (spelling corrections included). Each shard
returns its best ``CANDIDATES`` rows with their scores and, for the first of them (``detailed_share``),
the feature columns that depend on the row alone (``second.row_features``) and the text a hit shows;
``Sharded.rank`` merges the best of all by score, asks for the details of any row past a shard's first
ones (rarely), fills in the columns that compare candidates (``second.set_features``), and runs the second
stage and the no-answer model: what one index over the collection does, up to how the first stage's
gathering picks candidates in a shard. A shard that does not answer in time is left out and the ranking
says so (``Ranking.missing``).

Articles published or removed since the shards were built are served from a delta beside them, as
``retrieval.collection`` does beside one index (``Sharded.with_article``).

Shards never know about each other; how they are reached is a ``Transport``: ``LocalShards`` calls them
in this process (``pasokh ask --index`` on a sharded build, and the tests), ``retrieval.cluster`` over Ray.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval import second
from retrieval.errors import IndexFileError
from retrieval.folders import ReadFolder, checksum, forget_pages, map_npy, read_bounded, replace_folder
from retrieval.fuzzy import FuzzyWords
from retrieval.index import (
    Analysed,
    ArticleInfo,
    Hit,
    Index,
    Plan,
    Ranking,
    Spelling,
    Statistics,
    analyse,
    build_index,
    library_versions,
    plan_query,
    scoring_recipe,
    term_key,
)
from retrieval.postings import NEVER_ALONE, NEVER_ALONE_FRACTION
from retrieval.second import CANDIDATES, QuestionView, Relations
from retrieval.seeds import Article, SeedSet, fingerprint
from retrieval.sentences import Sentence

__all__ = [
    "Counts",
    "Details",
    "InProcess",
    "Lexicon",
    "LocalShards",
    "Runner",
    "ShardReply",
    "ShardServer",
    "Sharded",
    "Transport",
    "best_rows",
    "build_sharded",
    "count",
    "detailed_share",
    "is_sharded",
    "load_shard",
    "load_sharded",
    "merge_counts",
    "read_whole_manifest",
    "reconcile_sharded",
    "shard_folder",
    "shard_of",
    "split",
]

FORMAT = 1
_SHARD_BITS = 40
"""A candidate's id across shards: its shard above these bits, its row below (a shard holds < 2⁴⁰ rows)."""


def shard_of(article_id: str, shards: int) -> int:
    """The shard of an article: a hash of its id, so it never moves while the number of shards stays."""
    return int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=8).digest(), "little") % shards


def split(articles: Iterable[Article], shards: int) -> list[list[Article]]:
    """The articles of each shard, in their order."""
    if shards < 1:
        raise ValueError("a collection has at least one shard")
    parts: list[list[Article]] = [[] for _ in range(shards)]
    for article in articles:
        parts[shard_of(article.id, shards)].append(article)
    return parts


def shard_folder(folder: Path, shard: int) -> Path:
    return folder / f"shard-{shard:03d}"


# -- statistics of the whole ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Counts:
    """What a part of the collection adds to the statistics of the whole (``merge_counts``)."""

    keys: np.ndarray  # uint64, sorted
    df: np.ndarray  # int64
    sentences: int
    sentence_terms: int
    paragraphs: int
    paragraph_terms: int
    words: frozenset[str]
    """The words of its sentences (the fuzzy word index of the whole is built from them)."""


def count(analysed: Sequence[Analysed]) -> Counts:
    """The counts of analysed articles: each term's df, sentences and paragraphs, and their lengths as
    ``build_index`` measures them (a paragraph's with its article's title)."""
    df: dict[str, int] = {}
    sentences = sentence_terms = paragraphs = paragraph_terms = 0
    words: set[str] = set()
    for article in analysed:
        previous = None
        for sentence in article.sentences:
            for term in set(sentence.terms):
                df[term] = df.get(term, 0) + 1
            sentences += 1
            sentence_terms += len(sentence.terms)
            paragraph_terms += len(sentence.terms)
            if sentence.paragraph != previous:
                paragraphs += 1
                paragraph_terms += len(article.title_terms)
                previous = sentence.paragraph
        words |= article.words
        for term in article.title_terms:  # a term of titles alone is in one index's vocabulary (df 0)
            df.setdefault(term, 0)
    keys = np.fromiter(map(term_key, df), dtype=np.uint64, count=len(df))
    counts = np.fromiter(df.values(), dtype=np.int64, count=len(df))
    order = np.argsort(keys)
    return Counts(keys[order], counts[order], sentences, sentence_terms, paragraphs, paragraph_terms, frozenset(words))


def merge_counts(parts: Sequence[Counts]) -> Statistics:
    """The statistics of the whole collection from the counts of its parts."""
    keys = np.concatenate([p.keys for p in parts]) if parts else np.empty(0, np.uint64)
    df = np.concatenate([p.df for p in parts]) if parts else np.empty(0, np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    total = np.zeros(len(unique), dtype=np.int64)
    np.add.at(total, inverse, df)
    sentences = sum(p.sentences for p in parts)
    paragraphs = sum(p.paragraphs for p in parts)
    averages = (
        sum(p.sentence_terms for p in parts) / sentences if sentences else 0.0,
        sum(p.paragraph_terms for p in parts) / paragraphs if paragraphs else 0.0,
    )
    return Statistics(unique, total, sentences, averages)


# -- the vocabulary of the whole ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Lexicon:
    """Every term of the collection by key, with its df and idf, and the fuzzy word index over its words:
    what ``index.plan_query`` asks of a vocabulary (``index.Lexicon``), for the whole collection at once."""

    keys: np.ndarray  # uint64, sorted
    df: np.ndarray  # int64
    idf: np.ndarray  # float32
    fuzzy: FuzzyWords
    sentences: int

    def __len__(self) -> int:
        return self.sentences

    def _ids(self, keys: np.ndarray) -> np.ndarray:
        if not len(self.keys) or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        ids: np.ndarray = np.where(self.keys[at] == keys, at, -1).astype(np.int64)
        return ids

    def known(self, keys: np.ndarray) -> np.ndarray:
        known: np.ndarray = self._ids(keys) >= 0
        return known

    def key_idf(self, keys: np.ndarray) -> np.ndarray:
        idf: np.ndarray = self.idf[self._ids(keys)]
        return idf

    def key_df(self, keys: np.ndarray) -> np.ndarray:
        ids = self._ids(keys)
        df: np.ndarray = np.where(ids >= 0, self.df[np.maximum(ids, 0)] if len(self.df) else 0, 0)
        return df.astype(np.int64)

    def spellings(self, word: str) -> list[Spelling]:
        corrections = self.fuzzy.similar(word)
        return [
            Spelling(c.word, int(self.keys[c.term]), c.edits, c.similarity, int(self.df[c.term])) for c in corrections
        ]


# -- building and saving -------------------------------------------------------------------------

_LEXICON_ARRAYS: dict[str, np.dtype[Any]] = {
    "term_keys": np.dtype(np.uint64),
    "df": np.dtype(np.int64),
    "idf": np.dtype(np.float32),
    "fuzzy.indptr": np.dtype(np.int64),
    "fuzzy.words": np.dtype(np.int32),
    "fuzzy.word_terms": np.dtype(np.int64),
    "fuzzy.word_text": np.dtype(np.uint8),
    "fuzzy.word_offsets": np.dtype(np.int64),
}
_LEXICON_FILES = ("grams.json", *(f"{name}.npy" for name in _LEXICON_ARRAYS))


class Runner(Protocol):
    """How the passes of a sharded build run: here one after the other, or as Ray tasks
    (``retrieval.cluster``). ``starmap`` may return handles that later calls take as arguments in place of
    the values; ``fetch`` turns handles into values."""

    def starmap(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def fetch(self, handles: Sequence[Any]) -> list[Any]: ...


class InProcess:
    """The passes of a build, one after the other in this process."""

    def starmap(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [function(*args) for args in calls]

    def fetch(self, handles: Sequence[Any]) -> list[Any]:
        return list(handles)


def analyse_part(articles: Sequence[Article]) -> tuple[Analysed, ...]:
    """The first pass over a shard: its articles split and analysed."""
    return tuple(analyse(a) for a in articles)


def build_part(analysed: Sequence[Analysed], statistics: Statistics, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The second pass: the shard's index, weighted with the whole's ``statistics``, saved in ``folder``;
    returns its term keys and idf (for the whole's vocabulary)."""
    from retrieval.store import save_index

    index = build_index(analysed, statistics=statistics)
    save_index(index, folder)
    return np.asarray(index.term_keys).copy(), np.asarray(index.idf).copy()


def build_sharded(
    seeds: SeedSet | Sequence[Article], shards: int, out: Path, *, generation: int = 1, runner: Runner | None = None
) -> Mapping[str, Any]:
    """Split the articles into ``shards`` (``shard_of``), build each weighted with the whole's statistics,
    and save them with the whole's vocabulary in ``out`` (replacing a sharded build there whole, as
    ``store.save_index`` does). Returns the manifest.

    Two passes per shard: analyse its articles (then the counts of all are merged into the statistics),
    and build and save its index. ``runner`` runs the passes (default: here, one shard after the other)."""
    started = time.perf_counter()
    runner = runner or InProcess()
    articles = tuple(seeds.articles if isinstance(seeds, SeedSet) else seeds)
    parts = split(articles, shards)
    manifest: dict[str, Any] = {}

    def write(staging: Path) -> None:
        analysed = runner.starmap(analyse_part, [(part,) for part in parts])
        counts: list[Counts] = runner.fetch(runner.starmap(count, [(a,) for a in analysed]))
        statistics = merge_counts(counts)
        calls = [(a, statistics, shard_folder(staging, i)) for i, a in enumerate(analysed)]
        built: list[tuple[np.ndarray, np.ndarray]] = runner.fetch(runner.starmap(build_part, calls))
        idf = np.zeros(len(statistics.keys), dtype=np.float32)
        for keys, shard_idf in built:
            idf[np.searchsorted(statistics.keys, keys)] = shard_idf
        words = sorted(frozenset().union(*(c.words for c in counts)))
        word_keys = np.fromiter(map(term_key, words), dtype=np.uint64, count=len(words))
        fuzzy = FuzzyWords.build(zip(words, np.searchsorted(statistics.keys, word_keys).tolist(), strict=True))
        lexicon = Lexicon(statistics.keys, statistics.df, idf, fuzzy, statistics.sentences)
        manifest.update(
            _whole_manifest(
                articles, parts=parts, counts=counts, statistics=statistics, generation=generation, started=started
            )
        )
        manifest["files"] = _write_lexicon(lexicon, staging)
        from retrieval.store import write_json

        write_json(staging / "manifest.json", manifest)

    replace_folder(out, write, _replaceable)
    return manifest


def _replaceable(names: list[str]) -> bool:
    """Whether a folder holding ``names`` is a sharded build."""
    return "manifest.json" in names and all(
        n in _LEXICON_FILES or n == "manifest.json" or n.startswith(("shard-", ".saving-")) for n in names
    )


def _whole_manifest(
    articles: Sequence[Article],
    *,
    parts: Sequence[Sequence[Article]],
    counts: Sequence[Counts],
    statistics: Statistics,
    generation: int,
    started: float,
) -> dict[str, Any]:
    return {
        "kind": "sharded",
        "format": FORMAT,
        "generation": generation,
        "recipe": scoring_recipe(),
        "versions": library_versions(),
        "seeds": {"fingerprint": fingerprint(articles), "articles": len(articles), "sentences": statistics.sentences},
        "shards": [
            {"articles": len(p), "sentences": c.sentences, "fingerprint": fingerprint(p)}
            for p, c in zip(parts, counts, strict=True)
        ],
        "terms": len(statistics.keys),
        "averages": {"sentence": statistics.averages[0], "paragraph": statistics.averages[1]},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 3),
    }


def _write_lexicon(lexicon: Lexicon, folder: Path) -> dict[str, object]:
    from retrieval.store import write_array, write_json

    grams = sorted(lexicon.fuzzy.grams, key=lexicon.fuzzy.grams.__getitem__)
    files: dict[str, object] = {"grams.json": write_json(folder / "grams.json", grams)}
    arrays = {"term_keys": lexicon.keys, "df": lexicon.df, "idf": lexicon.idf}
    arrays |= {name: getattr(lexicon.fuzzy, name.removeprefix("fuzzy.")) for name in _LEXICON_ARRAYS if "." in name}
    for name, array_ in arrays.items():
        files[f"{name}.npy"] = write_array(folder / f"{name}.npy", array_)
    return files


# -- loading -------------------------------------------------------------------------------------


def is_sharded(folder: Path) -> bool:
    """Whether ``folder`` looks like a sharded build (its manifest says so; nothing else is checked). A
    manifest that is no regular file (a FIFO, a link, a device) is not one: never opened so as to block."""
    try:
        fd = os.open(folder / "manifest.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.pread(fd, 4096, 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return b'"kind":"sharded"' in head


def load_sharded(folder: Path) -> tuple[Mapping[str, Any], Lexicon]:
    """The manifest and vocabulary of the sharded build in ``folder``; ``IndexFileError`` (one line) for a
    damaged one, ``RecipeMismatch`` for one this code cannot use. Its shards are loaded where they serve."""
    from retrieval.integrity import Damaged, check_lexicon
    from retrieval.store import check_manifest, damaged, open_file, read_grams, read_manifest

    opened = ReadFolder(folder, damaged)
    try:
        manifest = read_manifest(opened)
        if manifest.get("kind") != "sharded" or manifest.get("format") != FORMAT:
            raise IndexFileError(f"not a sharded build of format {FORMAT}: {folder}")
        check_manifest(manifest | {"format": _index_format()})
        files, seeds, shards = manifest.get("files"), manifest.get("seeds"), manifest.get("shards")
        terms = manifest.get("terms")
        if not (
            isinstance(files, dict)
            and isinstance(seeds, dict)
            and isinstance(seeds.get("sentences"), int)
            and isinstance(terms, int)
            and isinstance(shards, list)
            and shards
            and all(isinstance(s, dict) and isinstance(s.get("articles"), int) for s in shards)
        ):
            raise damaged(folder / "manifest.json", "lacks counts, shards or the list of files")
        arrays: dict[str, np.ndarray] = {}
        grams: list[str] = []
        for name in _LEXICON_FILES:
            entry = files.get(name)
            fd, size = open_file(opened, name)
            try:
                if not isinstance(entry, dict) or size != entry.get("bytes") or checksum(fd) != entry.get("crc32"):
                    raise damaged(folder / name, "differs from the manifest (size or checksum)")
                if name == "grams.json":
                    grams = read_grams(read_bounded(fd, size), folder / name)
                else:
                    array_name = name.removesuffix(".npy")
                    shape = entry.get("shape")
                    length = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else -1
                    arrays[array_name] = map_npy(fd, size, _LEXICON_ARRAYS[array_name], length)
            except (OSError, ValueError, EOFError) as exc:
                raise damaged(folder / name, exc) from None
            finally:
                os.close(fd)
        try:
            check_lexicon(arrays, grams, terms=terms, sentences=seeds["sentences"])
        except Damaged as exc:
            raise damaged(folder / f"{exc.name}.npy", exc.problem) from None
    finally:
        opened.close()
    forget_pages(arrays.values())
    fuzzy = FuzzyWords.from_arrays(grams, [arrays[name] for name in _LEXICON_ARRAYS if name.startswith("fuzzy.")])
    return manifest, Lexicon(arrays["term_keys"], arrays["df"], arrays["idf"], fuzzy, seeds["sentences"])


def _index_format() -> int:
    from retrieval.store import FORMAT as INDEX_FORMAT

    return INDEX_FORMAT


def load_shard(folder: Path, shard: int, manifest: Mapping[str, Any]) -> Index:
    """Shard ``shard`` of the sharded build in ``folder`` (whose ``manifest`` was read), checked whole, and
    checked against the manifest's counts."""
    from retrieval.store import load_index

    index = load_index(shard_folder(folder, shard))
    expected = manifest["shards"][shard]
    seeds = index.manifest.get("seeds")
    # Its articles (counts and fingerprint), and the whole's statistics it was weighted with (averages).
    if (
        (len(index.articles), len(index)) != (expected.get("articles"), expected.get("sentences"))
        or not isinstance(seeds, Mapping)
        or seeds.get("fingerprint") != expected.get("fingerprint")
        or index.manifest.get("averages") != manifest.get("averages")
    ):
        raise IndexFileError(f"shard {shard} in {folder} is not the one its manifest lists: rebuild the shards")
    return index


# -- serving -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Details:
    """What ranking some of a shard's rows with the others' and showing them takes."""

    rows: np.ndarray  # int64, local rows
    features: np.ndarray  # their ``second.row_features`` (the columns comparing candidates are 0)
    relations: Relations
    places: np.ndarray
    """int32, rows × 6: position and paragraph of each row, of the sentence before and of the one after
    (-1, -1: none)."""
    texts: list[str]
    """Per row: its text and display text, then the sentence before's, then the one after's ("": none)."""

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, eq=False)
class ShardReply:
    """A shard's best rows for a plan with their first-stage scores, best first, and the ``Details`` of the
    first of them (the others' are asked for when they make the best of all shards: rarely)."""

    shard: int
    rows: np.ndarray  # int64, local rows
    scores: np.ndarray  # float32
    details: Details


_EMPTY = np.empty(0, dtype=np.int64)


class ShardServer:
    """One shard of a sharded build answering plans, for each generation it holds: what serves a shard in
    a Ray actor (``retrieval.cluster``) or in this process. A question names its generation, so a reload
    that loads the next one beside it never mixes the two."""

    def __init__(self, folder: Path | str, shard: int) -> None:
        self.shard = shard
        self.indexes: dict[int, Index] = {}
        self._masked: tuple[int, frozenset[str], np.ndarray | None] = (0, frozenset(), None)
        self.load(folder)

    def load(self, folder: Path | str) -> int:
        """Load this shard of the build in ``folder`` as the generation its manifest names; return it."""
        manifest = read_whole_manifest(Path(folder))
        generation = int(manifest["generation"])
        if generation not in self.indexes:
            self.indexes[generation] = load_shard(Path(folder), self.shard, manifest)
        return generation

    def drop(self, generation: int) -> None:
        """Forget a generation no question names any more."""
        self.indexes.pop(generation, None)

    def generations(self) -> list[int]:
        return sorted(self.indexes)

    def _index(self, generation: int) -> Index:
        index = self.indexes.get(generation)
        if index is None:
            held = self.generations()
            raise LookupError(f"shard {self.shard} does not hold generation {generation} (it holds {held})")
        return index

    def articles(self, generation: int) -> tuple[ArticleInfo, ...]:
        return self._index(generation).articles

    def article(self, article: int, generation: int) -> list[Sentence]:
        """Every sentence of the shard's article ``article``, in order."""
        return self._index(generation).article_sentences(article)

    def candidates(
        self, plan: Plan, n: int, detailed: int, generation: int, hidden: frozenset[str] = frozenset()
    ) -> ShardReply:
        """The shard's best ``n`` rows for ``plan``, the first ``detailed`` with their ``Details``; the
        articles whose ids are ``hidden`` (replaced or removed since the build) are left out."""
        index = self._index(generation)
        return best_rows(index, plan, n, detailed, shard=self.shard, hidden=self._mask(generation, hidden))

    def _mask(self, generation: int, hidden: frozenset[str]) -> np.ndarray | None:
        """The rows of the hidden articles (the last mask is kept: every question names the same ones)."""
        if not hidden:
            return None
        if self._masked[:2] != (generation, hidden):
            index = self._index(generation)
            positions = [i for i, a in enumerate(index.articles) if a.id in hidden]
            mask = np.isin(index.sentence_article, positions) if positions else None
            self._masked = (generation, hidden, mask)
        return self._masked[2]

    def details(self, plan: Plan, rows: np.ndarray, generation: int) -> Details:
        """The ``Details`` of ``rows`` (some of the best for ``plan``)."""
        index = self._index(generation)
        return _details(index, index.localize(plan).view, rows)


def best_rows(
    index: Index, plan: Plan, n: int, detailed: int, *, shard: int, hidden: np.ndarray | None = None
) -> ShardReply:
    """An index's best ``n`` rows for ``plan`` (none where ``hidden``), the first ``detailed`` with their
    ``Details``: what a shard answers, under the number ``shard``."""
    query = index.localize(plan)
    if len(query.terms) and n > 0:
        rows, scores = index.scorer.top(query.terms, query.weights, n, query.boosts, hidden=hidden)
    else:
        rows, scores = _EMPTY, np.empty(0, dtype=np.float32)
    return ShardReply(shard, rows, scores, _details(index, query.view, rows[:detailed]))


def _details(index: Index, view: QuestionView, rows: np.ndarray) -> Details:
    features, relations = second.row_features(index, view, rows)
    places = np.full((len(rows), 6), -1, dtype=np.int32)
    texts: list[str] = []
    for i, row in enumerate(rows.tolist()):
        for j, at in enumerate((row, int(relations.before[i]), int(relations.after[i]))):
            if at < 0:
                texts += ("", "")
                continue
            sentence = index.sentence(at)
            places[i, 2 * j : 2 * j + 2] = sentence.position, sentence.paragraph
            texts += (sentence.text, sentence.display)
    return Details(rows, features, relations, places, texts)


def read_whole_manifest(folder: Path) -> Mapping[str, Any]:
    """The manifest of the sharded build in ``folder`` (read bounded; ``IndexFileError`` when it is none)."""
    from retrieval.store import damaged, read_manifest

    opened = ReadFolder(folder, damaged)
    try:
        manifest = read_manifest(opened)
    finally:
        opened.close()
    shards = manifest.get("shards")
    if (
        manifest.get("kind") != "sharded"
        or not isinstance(manifest.get("generation"), int)
        or not isinstance(shards, list)
        or not shards
        or not all(isinstance(s, dict) for s in shards)
    ):
        raise IndexFileError(f"not a sharded build: {folder}")
    return manifest


class Transport(Protocol):
    """How a router reaches the shards: one reply per shard, None for a shard that did not answer in time."""

    shards: int

    def search(
        self, plan: Plan, n: int, detailed: int, generation: int, hidden: frozenset[str] = frozenset()
    ) -> list[ShardReply | None]: ...

    def details(self, wanted: Mapping[int, np.ndarray], plan: Plan, generation: int) -> dict[int, Details | None]:
        """For each shard of ``wanted``, the ``Details`` of those rows (None: no answer in time)."""
        ...

    def article(self, shard: int, article: int, generation: int) -> list[Sentence]: ...

    def articles(self, generation: int) -> list[tuple[ArticleInfo, ...]]: ...


class LocalShards:
    """Every shard served in this process (a sharded build searched from the command line, and tests)."""

    def __init__(self, servers: Sequence[ShardServer]) -> None:
        self.servers = list(servers)
        self.shards = len(self.servers)

    @classmethod
    def open(cls, folder: Path) -> LocalShards:
        manifest = read_whole_manifest(folder)
        return cls([ShardServer(folder, i) for i in range(len(manifest["shards"]))])

    def search(
        self, plan: Plan, n: int, detailed: int, generation: int, hidden: frozenset[str] = frozenset()
    ) -> list[ShardReply | None]:
        return [server.candidates(plan, n, detailed, generation, hidden) for server in self.servers]

    def details(self, wanted: Mapping[int, np.ndarray], plan: Plan, generation: int) -> dict[int, Details | None]:
        return {shard: self.servers[shard].details(plan, rows, generation) for shard, rows in wanted.items()}

    def article(self, shard: int, article: int, generation: int) -> list[Sentence]:
        return self.servers[shard].article(article, generation)

    def articles(self, generation: int) -> list[tuple[ArticleInfo, ...]]:
        return [server.articles(generation) for server in self.servers]


def detailed_share(n: int, shards: int) -> int:
    """How many of its best rows a shard details at once: twice its share of the best ``n`` and a few, and
    at least two thirds of ``n`` (the right article's shard often holds most of the best: on pquad_val a
    third shard's rows went past 22 of 30 for 2.6% of questions, an eighth's past 20 for 0.15%)."""
    return min(n, max(-(-2 * n // shards) + 2, -(-2 * n // 3)))


@dataclass(frozen=True, eq=False)
class Sharded:
    """One generation of a sharded collection, and the articles changed since it was built, searched as one
    index (see the module docstring). Never mutated: a change or a reload makes a new one, swapped whole, as
    an ``Index`` or a ``Collection`` is.

    Articles published or removed since the shards were built are served from a ``delta`` here, weighted
    with the whole's statistics (``build_index(..., statistics=...)``): the shards' articles they replace
    are ``hidden`` (each question tells the shards which). A later build of the shards folds them in."""

    manifest: Mapping[str, Any]
    lexicon: Lexicon
    transport: Transport
    added: tuple[Analysed, ...] = ()
    """The delta's articles, analysed, in its order."""
    hidden: frozenset[str] = frozenset()
    """Ids of the shards' articles replaced or removed since they were built."""
    delta: Index | None = field(default=None)
    articles: tuple[ArticleInfo, ...] = field(init=False)
    """The articles served: the shards' not hidden, shard after shard, then the delta's. A sentence's
    ``article`` is a position here."""
    _shard_articles: list[tuple[ArticleInfo, ...]] = field(init=False, repr=False)
    _positions: list[np.ndarray] = field(init=False, repr=False)
    """For each shard, each of its articles' position in ``articles`` (-1: hidden)."""
    _where: list[tuple[int, int]] = field(init=False, repr=False)
    """For each served position, its shard (the delta: ``shards``) and its position there."""

    def __post_init__(self) -> None:
        parts = self.transport.articles(self.generation)
        served: list[ArticleInfo] = []
        where: list[tuple[int, int]] = []
        positions = []
        for shard, part in enumerate(parts):
            position = np.full(len(part), -1, dtype=np.int64)
            for local, info in enumerate(part):
                if info.id not in self.hidden:
                    position[local] = len(served)
                    served.append(info)
                    where.append((shard, local))
            positions.append(position)
        delta = self.delta
        if delta is None and self.added:
            delta = build_index(self.added, statistics=self._statistics(self.added))
            object.__setattr__(self, "delta", delta)
        if delta is not None:
            where += [(len(parts), local) for local in range(len(delta.articles))]
            served += delta.articles
        object.__setattr__(self, "_shard_articles", parts)
        object.__setattr__(self, "_positions", positions)
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "articles", tuple(served))

    @classmethod
    def open(cls, folder: Path, transport: Transport | None = None) -> Sharded:
        """The sharded build in ``folder``, its shards served here unless a ``transport`` reaches them."""
        manifest, lexicon = load_sharded(folder)
        return cls(manifest, lexicon, transport or LocalShards.open(folder))

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    @property
    def shards(self) -> int:
        return len(self.manifest["shards"])

    def __len__(self) -> int:
        """Sentences served (the hidden articles' too, as a collection counts them until compacted)."""
        return int(self.manifest["seeds"]["sentences"]) + (len(self.delta) if self.delta is not None else 0)

    @property
    def delta_sentences(self) -> int:
        return len(self.delta) if self.delta is not None else 0

    def needs_compaction(self) -> bool:
        """Whether the delta has grown past what is worth building again at each change (the shards are
        then built again, as their next generation, ``retrieval.collection.DELTA_SENTENCES``)."""
        from retrieval.collection import DELTA_SENTENCES

        return self.delta_sentences > DELTA_SENTENCES or len(self.hidden) > 0.05 * len(self.articles)

    # -- changes ----------------------------------------------------------------------------------

    def _statistics(self, added: Sequence[Analysed]) -> Statistics:
        """The whole's statistics with the delta's articles counted in (their new words get an idf)."""
        counts = count(added)
        keys = np.concatenate([self.lexicon.keys, counts.keys])
        unique, inverse = np.unique(keys, return_inverse=True)
        df = np.zeros(len(unique), dtype=np.int64)
        np.add.at(df, inverse, np.concatenate([self.lexicon.df, counts.df]))
        averages = self.manifest["averages"]
        return Statistics(
            unique, df, len(self.lexicon) + counts.sentences, (averages["sentence"], averages["paragraph"])
        )

    def with_article(self, article: Article | Analysed) -> Sharded:
        """This collection with ``article`` added, or replacing the one with its id (only the delta is built)."""
        analysed = article if isinstance(article, Analysed) else analyse(article)
        return self._changed((*(a for a in self.added if a.id != article.id), analysed), article.id)

    def without(self, article_id: str) -> Sharded:
        """This collection without the article ``article_id``."""
        return self._changed(tuple(a for a in self.added if a.id != article_id), article_id)

    def _changed(self, added: tuple[Analysed, ...], article_id: str) -> Sharded:
        in_shards = any(a.id == article_id for part in self._shard_articles for a in part)
        hidden = self.hidden | {article_id} if in_shards else self.hidden
        return Sharded(self.manifest, self.lexicon, self.transport, added, hidden)

    def rebase(self, manifest: Mapping[str, Any], lexicon: Lexicon) -> Sharded | None:
        """The same articles served over the shards' next generation (built from the seeds a while ago):
        the articles it lacks, or holds in another version, go to the delta. None when one of them is
        not at hand (changed meanwhile by a file this worker did not see)."""
        added = {a.id: a for a in self.added}
        served = {info.id: info.digest for info in self.articles}
        shards = Sharded(manifest, lexicon, self.transport)
        built = {info.id: info.digest for info in shards.articles}
        hidden = frozenset(i for i, digest in built.items() if served.get(i) != digest)
        delta = []
        for article_id, digest in served.items():
            if built.get(article_id) != digest:
                article = added.get(article_id)
                if article is None or article.digest != digest:
                    return None
                delta.append(article)
        return Sharded(manifest, lexicon, self.transport, tuple(delta), hidden) if delta or hidden else shards

    # -- sentences --------------------------------------------------------------------------------

    def article_sentences(self, article: int) -> list[Sentence]:
        """Every sentence of the article at ``article`` (a position in ``articles``), in order."""
        shard, local = self._where[article]
        if shard == self.shards:
            assert self.delta is not None
            sentences = self.delta.article_sentences(local)
        else:
            sentences = self.transport.article(shard, local, self.generation)
        return [dataclasses.replace(s, article=article) for s in sentences]

    # -- the vocabulary of all (``index.Lexicon``) ----------------------------------------------------

    def known(self, keys: np.ndarray) -> np.ndarray:
        known = self.lexicon.known(keys)
        return known | self.delta.known(keys) if self.delta is not None else known

    def key_idf(self, keys: np.ndarray) -> np.ndarray:
        idf = self.lexicon.key_idf(keys)
        if self.delta is None:
            return idf
        return np.where(self.lexicon.known(keys), idf, self.delta.key_idf(keys))

    def key_df(self, keys: np.ndarray) -> np.ndarray:
        df = self.lexicon.key_df(keys)
        return df + self.delta.key_df(keys) if self.delta is not None else df

    def spellings(self, word: str) -> list[Spelling]:
        found = self.lexicon.spellings(word)
        if self.delta is None:
            return found
        words = {s.word: s for s in found}
        for spelling in self.delta.spellings(word):
            held = words.get(spelling.word)
            words[spelling.word] = dataclasses.replace(held, df=held.df + spelling.df) if held else spelling
        return sorted(words.values(), key=lambda s: (s.edits, s.word))

    # -- search -----------------------------------------------------------------------------------

    def search(self, question: str, k: int = 3) -> list[Hit]:
        return list(self.rank(question, k).hits)

    def rank(self, question: str, k: int = 3) -> Ranking:
        """Both stages over every shard and the delta (see the module docstring); ``missing`` counts the
        shards left out."""
        plan = plan_query(question, self)
        if plan is None or not plan.weights or k <= 0 or self._only_common(plan):
            return Ranking((), 0.0)
        n = max(k, CANDIDATES)
        replies = self.transport.search(plan, n, detailed_share(n, self.shards), self.generation, self.hidden)
        got = {reply.shard: reply for reply in replies if reply is not None and len(reply.rows)}
        missing = sum(reply is None for reply in replies)
        if self.delta is not None:
            reply = best_rows(self.delta, plan, n, n, shard=self.shards)
            if len(reply.rows):
                got[self.shards] = reply
        # The best of all by score (ids apart across shards: the shard above _SHARD_BITS, the row below).
        best = self._best([(shard, reply.rows, reply.scores) for shard, reply in got.items()], n)
        wanted = {
            shard: got[shard].rows[rest]
            for shard in {s for s, _ in best}
            if len(rest := np.array([i for s, i in best if s == shard and i >= len(got[shard].details)], int))
        }
        more = self.transport.details(wanted, plan, self.generation) if wanted else {}
        if any(details is None for details in more.values()):
            missing += sum(details is None for details in more.values())
            best = [(s, i) for s, i in best if more.get(s, True) is not None]
        if not best:
            return Ranking((), 0.0, missing)
        rows: list[tuple[Details, int]] = []
        for shard, i in best:
            prefix = got[shard].details
            if i < len(prefix):
                rows.append((prefix, i))
            else:
                extra = more[shard]
                assert extra is not None
                rows.append((extra, int(np.flatnonzero(extra.rows == got[shard].rows[i])[0])))
        shift = np.array([np.int64(shard) << _SHARD_BITS for shard, _ in best], dtype=np.int64)
        ids = np.array([d.rows[j] for d, j in rows], dtype=np.int64) + shift
        scores = np.array([got[shard].scores[i] for shard, i in best], dtype=np.float32)
        relations = Relations(
            *(
                np.where(column >= 0, column + shift, column)
                for name in ("article", "paragraph", "before", "after")
                for column in [np.array([getattr(d.relations, name)[j] for d, j in rows], dtype=np.int64)]
            )
        )
        features = np.stack([d.features[j] for d, j in rows])
        second.set_features(features, relations, ids, scores)
        model = second.model()
        ranked = model.ranker.predict(features)
        order = second.rerank(ranked)
        view = QuestionView(plan.text, plan.found, plan.word_idf, plan.unseen, plan.corrected)
        confidence = model.answerable(second.confidence_features(view, features[order], ranked[order]))
        coverage = features[:, second.FEATURES.index("cover_paragraph")]
        hits = tuple(
            self._hit(best[i][0], rows[i], score=float(ranked[i]), coverage=float(coverage[i]), marked=plan.marked)
            for i in order[:k]
        )
        return Ranking(hits, confidence, missing)

    @staticmethod
    def _best(parts: list[tuple[int, np.ndarray, np.ndarray]], n: int) -> list[tuple[int, int]]:
        """The best ``n`` (shard, position in its reply) of all by score; ties: shard, then row."""
        if not parts:
            return []
        shard = np.concatenate([np.full(len(rows), s) for s, rows, _ in parts])
        at = np.concatenate([np.arange(len(rows)) for _, rows, _ in parts])
        rows = np.concatenate([rows for _, rows, _ in parts])
        scores = np.concatenate([scores for _, _, scores in parts]).astype(np.float32)
        best = np.lexsort((rows, shard, -scores))[:n]
        return list(zip(shard[best].tolist(), at[best].tolist(), strict=True))

    def _position(self, shard: int, local: int) -> int:
        if shard == self.shards:
            return len(self.articles) - len(self.added) + local
        return int(self._positions[shard][local])

    def _hit(
        self, shard: int, row: tuple[Details, int], *, score: float, coverage: float, marked: frozenset[int]
    ) -> Hit:
        details, i = row
        article = self._position(shard, int(details.relations.article[i]))
        sentences: list[Sentence | None] = []
        for j in range(3):
            position, paragraph = (int(v) for v in details.places[i, 2 * j : 2 * j + 2])
            text, shown = details.texts[6 * i + 2 * j : 6 * i + 2 * j + 2]
            sentences.append(Sentence(article, position, paragraph, text, shown) if position >= 0 else None)
        sentence, before, after = sentences
        assert sentence is not None
        return Hit(sentence, self.articles[article], score, lambda: (before, after), lambda: coverage, marked)

    def _only_common(self, plan: Plan) -> bool:
        """``postings.NEVER_ALONE`` over the whole collection (each shard's own rule sees only its part)."""
        df = self.key_df(np.fromiter(plan.weights, dtype=np.uint64, count=len(plan.weights)))
        held = df[df > 0]
        return bool(len(held)) and int(held.min()) > max(NEVER_ALONE, NEVER_ALONE_FRACTION * len(self))


def reconcile_sharded(sharded: Sharded, seeds: SeedSet) -> Sharded | None:
    """``sharded`` (with no change of its own) serving exactly the articles of ``seeds``: those its shards
    lack or hold in another version go to its delta, those the seeds lack are hidden. None when that delta
    would be past the compaction limit (build the shards again instead)."""
    from retrieval.collection import DELTA_SENTENCES

    built = {info.id: info.digest for info in sharded.articles}
    changed = [a for a in seeds.articles if built.get(a.id) != a.digest]
    if sum(len(a.paragraphs) for a in changed) > DELTA_SENTENCES:
        return None  # paragraphs: a cheap lower bound of sentences
    wanted = {a.id: a.digest for a in seeds.articles}
    hidden = frozenset(i for i, digest in built.items() if wanted.get(i) != digest)
    if not changed and not hidden:
        return sharded
    added = tuple(analyse(a) for a in changed)
    return Sharded(sharded.manifest, sharded.lexicon, sharded.transport, added, hidden)
