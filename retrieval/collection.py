"""What the bot serves: a main index, a small delta index beside it, and the main's articles masked.

Adding, changing or removing one article builds only the delta, from the articles added or changed
since the main index was built, and weighted with the main index's statistics (``build_index(...,
beside=main)``: the main's idf for the terms it holds, its average lengths), so that the scores of both
compare. An article replaced or removed is hidden in the main index: its rows are never candidates.

A question is planned once against both vocabularies (``index.plan_query``), each segment's first stage
gives its best rows, the best ``CANDIDATES`` of both by score go to the second stage (each segment
computes its candidates' features, ratios to the best score of all), then the no-answer model: what one
index over the same articles would do, up to the statistics the delta borrows.

The delta has two tiers, so that a change costs in proportion to one article, not to the delta: a change
rebuilds only the fresh tier (at most ``FRESH_SENTENCES``); past that, the fresh articles join the first
tier, rebuilt with them (its own replaced or removed articles, hidden meanwhile, left out).

A ``Collection`` is immutable like an ``Index``: a change returns a new one, swapped whole. When the delta
grows past ``delta_limit`` the owner compacts it: a full build from the seeds, then ``rebase`` carries
over what changed meanwhile.

Saved, the delta's first tier is an index folder beside the main one (``delta_folder``) whose manifest
names the main index it was built beside. ``reconcile`` makes a collection from a main index, that tier
if it fits (the articles it lacks make the fresh tier), and the seeds folder as it is: the seeds decide,
so whatever a crash left, the articles served are the files there.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np

from retrieval import second
from retrieval.errors import IndexFileError
from retrieval.index import (
    Analysed,
    ArticleInfo,
    Hit,
    Index,
    Plan,
    Ranking,
    Spelling,
    analyse,
    build_index,
    plan_query,
)
from retrieval.postings import NEVER_ALONE, NEVER_ALONE_FRACTION
from retrieval.second import CANDIDATES
from retrieval.seeds import Article, SeedSet
from retrieval.sentences import Sentence

__all__ = [
    "DELTA_SENTENCES",
    "Collection",
    "Served",
    "delta_folder",
    "load_collection",
    "load_delta",
    "reconcile",
    "save_delta",
]

_logger = logging.getLogger(__name__)

DELTA_SENTENCES = 5_000
"""The delta is rebuilt whole at each change: past this many sentences (or ``DELTA_SHARE`` of the main
index, when that is less), it is time to compact."""
DELTA_SHARE = 0.05
MIN_DELTA = 500
"""A small main index still takes this many sentences in its delta before compacting."""
FRESH_SENTENCES = 300
"""The delta's second tier, rebuilt at each change, joins the first past this many sentences."""


class Served(Protocol):
    """What the bot serves and changes one article at a time: a ``Collection``, or a sharded collection
    (``retrieval.shards.Sharded``). Immutable: a change returns a new one."""

    @property
    def articles(self) -> tuple[ArticleInfo, ...]: ...

    @property
    def manifest(self) -> Mapping[str, Any]: ...

    @property
    def delta_sentences(self) -> int: ...

    def __len__(self) -> int: ...

    def rank(self, question: str, k: int = 3) -> Ranking: ...

    def search(self, question: str, k: int = 3) -> list[Hit]: ...

    def article_sentences(self, article: int) -> list[Sentence]: ...

    def with_article(self, article: Article | Analysed) -> Self: ...

    def without(self, article_id: str) -> Self: ...

    def needs_compaction(self) -> bool: ...


@dataclass(frozen=True, eq=False)
class Collection:
    """The main index, the delta beside it in two tiers (None: empty) and the articles of the main index
    and of the delta's first tier that later changes hide. Never mutated.

    A change rebuilds only the fresh tier (at most about ``FRESH_SENTENCES``); past that, the fresh
    articles join the delta's first tier, rebuilt then with them (and without its hidden ones)."""

    main: Index
    delta: Index | None = None
    added: tuple[Analysed, ...] = ()
    """The delta's (first tier's) articles, analysed, in its order."""
    hidden: frozenset[str] = frozenset()
    """Ids of the main index's articles replaced or removed since it was built."""
    _main_ids: Mapping[str, int] | None = field(default=None, repr=False)
    fresh: Index | None = None
    """The delta's second tier: the articles changed since the first was built."""
    fresh_added: tuple[Analysed, ...] = ()
    stale: frozenset[str] = frozenset()
    """Ids of the first tier's articles replaced or removed since it was built."""
    _mask: np.ndarray | None = field(default=None, init=False, repr=False)
    _live: np.ndarray = field(init=False, repr=False)
    """Main positions of the main's articles still served, in order."""
    _delta_mask: np.ndarray | None = field(default=None, init=False, repr=False)
    _delta_live: np.ndarray = field(init=False, repr=False)
    articles: tuple[ArticleInfo, ...] = field(init=False)
    """The articles served: the main's not hidden, then the delta's tiers'. A sentence's ``article`` is a
    position here."""

    def __post_init__(self) -> None:
        main = self.main
        if self._main_ids is None:
            object.__setattr__(self, "_main_ids", {a.id: i for i, a in enumerate(main.articles)})
        served = self._masked("", main, [self.main_ids[i] for i in self.hidden])
        if self.delta is not None:
            stale = [i for i, a in enumerate(self.delta.articles) if a.id in self.stale]
            served += self._masked("_delta", self.delta, stale)
        else:
            object.__setattr__(self, "_delta_live", np.empty(0, dtype=np.int64))
        fresh = self.fresh.articles if self.fresh is not None else ()
        object.__setattr__(self, "articles", served + fresh)

    def _masked(self, prefix: str, segment: Index, hidden: list[int]) -> tuple[ArticleInfo, ...]:
        """Note which of a segment's articles and rows are hidden; return the articles served."""
        live = np.ones(len(segment.articles), dtype=bool)
        live[np.array(hidden, dtype=np.int64)] = False
        object.__setattr__(self, f"{prefix}_live", np.flatnonzero(live))
        if not hidden:
            return segment.articles
        mask = ~live[segment.sentence_article]
        mask.flags.writeable = False
        object.__setattr__(self, f"{prefix}_mask", mask)
        return tuple(segment.articles[i] for i in np.flatnonzero(live).tolist())

    @classmethod
    def of(cls, index: Index) -> Collection:
        """A collection of one index and no change."""
        return cls(index)

    @property
    def main_ids(self) -> Mapping[str, int]:
        """Each main article's id and position."""
        assert self._main_ids is not None
        return self._main_ids

    @property
    def manifest(self) -> Mapping[str, Any]:
        """The main index's manifest, with the delta's size."""
        delta = {
            "articles": len(self.articles) - len(self._live),
            "sentences": self.delta_sentences,
            "hidden": len(self.hidden),
        }
        return dict(self.main.manifest) | {"delta": delta}

    @property
    def delta_sentences(self) -> int:
        """Sentences in the delta's two tiers (hidden ones included: they cost until compacted)."""
        return sum(len(tier) for tier in (self.delta, self.fresh) if tier is not None)

    def delta_limit(self) -> int:
        """Delta sentences past which the collection should be compacted."""
        return int(min(DELTA_SENTENCES, max(MIN_DELTA, DELTA_SHARE * len(self.main))))

    def needs_compaction(self) -> bool:
        return self.delta_sentences > self.delta_limit() or len(self.hidden) > DELTA_SHARE * len(self.main.articles)

    def __len__(self) -> int:
        """Sentences served."""
        hidden = sum(int(np.count_nonzero(m)) for m in (self._mask, self._delta_mask) if m is not None)
        return len(self.main) - hidden + self.delta_sentences

    # -- changes ----------------------------------------------------------------------------------

    def with_article(self, article: Article | Analysed) -> Collection:
        """This collection with ``article`` added, or replacing the one with its id."""
        analysed = article if isinstance(article, Analysed) else analyse(article)
        return self._changed((*(a for a in self.fresh_added if a.id != article.id), analysed), article.id)

    def without(self, article_id: str) -> Collection:
        """This collection without the article ``article_id`` (the same when it has none)."""
        return self._changed(tuple(a for a in self.fresh_added if a.id != article_id), article_id)

    def _changed(self, fresh: tuple[Analysed, ...], article_id: str) -> Collection:
        if self.delta is not None and len(self.added) != len(self.delta.articles):
            raise ValueError("a collection loaded without its articles cannot change: reconcile it with the seeds")
        hidden = self.hidden | {article_id} if article_id in self.main_ids else self.hidden
        stale = self.stale | {article_id} if any(a.id == article_id for a in self.added) else self.stale
        if sum(len(a.sentences) for a in fresh) > FRESH_SENTENCES:
            return self.merged(hidden, stale, fresh)
        tier = build_index(fresh, beside=self.main) if fresh else None
        return Collection(self.main, self.delta, self.added, hidden, self.main_ids, tier, fresh, stale)

    def merged(
        self,
        hidden: frozenset[str] | None = None,
        stale: frozenset[str] | None = None,
        fresh: tuple[Analysed, ...] | None = None,
    ) -> Collection:
        """The same articles served with the delta in one tier (built again with the fresh articles)."""
        stale = self.stale if stale is None else stale
        fresh = self.fresh_added if fresh is None else fresh
        added = (*(a for a in self.added if a.id not in stale), *fresh)
        if not fresh and not stale:
            return self
        delta = build_index(added, beside=self.main) if added else None
        return Collection(self.main, delta, added, self.hidden if hidden is None else hidden, self.main_ids)

    def rebase(self, main: Index) -> Collection | None:
        """The same articles served over a new main index (built from the seeds a while ago): the ones it
        lacks or holds in another version go to the delta. None when one of them is not at hand."""
        added = {a.id: a for a in (*self.added, *self.fresh_added)}  # the fresh version last
        return _combine(main, [(info.id, info.digest, added.get(info.id)) for info in self.articles])

    # -- sentences --------------------------------------------------------------------------------

    def _segments(self) -> list[tuple[Index, np.ndarray | None, int]]:
        """Each segment, the rows it hides, and the row its rows start at here."""
        segments: list[tuple[Index, np.ndarray | None, int]] = [(self.main, self._mask, 0)]
        start = len(self.main)
        if self.delta is not None:
            segments.append((self.delta, self._delta_mask, start))
            start += len(self.delta)
        if self.fresh is not None:
            segments.append((self.fresh, None, start))
        return segments

    def _segment(self, row: int) -> tuple[Index, int]:
        for segment, _, start in reversed(self._segments()):
            if row >= start:
                return segment, row - start
        raise IndexError(row)

    def _position(self, segment: Index, article: int) -> int:
        """The served position of a segment's article."""
        if segment is self.main:
            return int(np.searchsorted(self._live, article)) if self._mask is not None else article
        if segment is self.delta:
            at = int(np.searchsorted(self._delta_live, article)) if self._delta_mask is not None else article
            return len(self._live) + at
        return len(self._live) + len(self._delta_live) + article

    def _served(self, segment: Index, sentence: Sentence) -> Sentence:
        return dataclasses.replace(sentence, article=self._position(segment, sentence.article))

    def sentence(self, row: int) -> Sentence:
        """Sentence ``row`` (the main's rows, then the delta's), its ``article`` a position in ``articles``."""
        segment, local = self._segment(row)
        return self._served(segment, segment.sentence(local))

    def neighbours(self, row: int) -> tuple[Sentence | None, Sentence | None]:
        segment, local = self._segment(row)
        return tuple(None if s is None else self._served(segment, s) for s in segment.neighbours(local))  # type: ignore[return-value]

    def article_sentences(self, article: int) -> list[Sentence]:
        """Every sentence of the served article at ``article``, in order."""
        if article < len(self._live):
            segment, local = self.main, int(self._live[article])
        elif article < len(self._live) + len(self._delta_live):
            assert self.delta is not None
            segment, local = self.delta, int(self._delta_live[article - len(self._live)])
        else:
            assert self.fresh is not None
            segment, local = self.fresh, article - len(self._live) - len(self._delta_live)
        return [dataclasses.replace(s, article=article) for s in segment.article_sentences(local)]

    # -- the vocabulary of all (``index.Lexicon``) --------------------------------------------------

    def _others(self) -> list[Index]:
        return [tier for tier in (self.delta, self.fresh) if tier is not None]

    def known(self, keys: np.ndarray) -> np.ndarray:
        known = self.main.known(keys)
        for tier in self._others():
            known = known | tier.known(keys)
        return known

    def key_idf(self, keys: np.ndarray) -> np.ndarray:
        """Each key's idf in the first segment holding it (the tiers take the main index's for its terms)."""
        idf = self.main.key_idf(keys)
        held = self.main.known(keys)
        for tier in self._others():
            idf = np.where(held, idf, tier.key_idf(keys))
            held = held | tier.known(keys)
        return idf

    def key_df(self, keys: np.ndarray) -> np.ndarray:
        df = self.main.key_df(keys)
        for tier in self._others():
            df = df + tier.key_df(keys)
        return df

    def spellings(self, word: str) -> list[Spelling]:
        found = self.main.spellings(word)
        if not self._others():
            return found
        words = {s.word: s for s in found}
        for tier in self._others():
            for s in tier.spellings(word):
                held = words.get(s.word)
                words[s.word] = dataclasses.replace(held, df=held.df + s.df) if held else s
        return sorted(words.values(), key=lambda s: (s.edits, s.word))

    def _rows(self) -> int:
        return len(self.main) + self.delta_sentences

    # -- search -----------------------------------------------------------------------------------

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The best ``k`` sentences for ``question``, best first (see ``Index.search``)."""
        return list(self.rank(question, k).hits)

    def rank(self, question: str, k: int = 3) -> Ranking:
        """Both stages over both segments (see ``Index.rank`` and the module docstring)."""
        if self.delta is None and self.fresh is None and self._mask is None:
            return self.main.rank(question, k)
        plan = plan_query(question, _AsLexicon(self))
        if plan is None or not plan.weights or k <= 0 or self._only_common(plan):
            return Ranking((), 0.0)
        n = max(k, CANDIDATES)
        found = []
        for number, (segment, mask, start) in enumerate(self._segments()):
            query = segment.localize(plan)
            if not len(query.terms):
                continue
            rows, scores = segment.scorer.top(query.terms, query.weights, n, query.boosts, hidden=mask)
            found.append((number, segment, start, query, rows, scores))
        if not found:
            return Ranking((), 0.0)
        part = np.concatenate([np.full(len(f[4]), i) for i, f in enumerate(found)])
        rows = np.concatenate([f[4] for f in found])
        scores = np.concatenate([f[5] for f in found]).astype(np.float32)
        best = np.lexsort((rows, part, -scores))[:n]
        if not len(best):
            return Ranking((), 0.0)
        part, rows, scores = part[best], rows[best], scores[best]
        top = float(scores[0])
        features = np.zeros((len(best), len(second.FEATURES)), dtype=np.float32)
        for i, (_, segment, _, query, _, _) in enumerate(found):
            mine = part == i
            if np.any(mine):
                features[mine] = second.candidate_features(segment, query.view, rows[mine], scores[mine], top=top)
        model = second.model()
        ranked = model.ranker.predict(features)
        order = second.rerank(ranked)
        view = found[0][3].view
        confidence = model.answerable(second.confidence_features(view, features[order], ranked[order]))
        hits = []
        for i in order[:k]:
            _, segment, start, query, _, _ = found[int(part[i])]
            local = int(rows[i])
            sentence = self._served(segment, segment.sentence(local))
            hits.append(
                Hit(
                    sentence,
                    self.articles[sentence.article],
                    float(ranked[i]),
                    functools.partial(self.neighbours, start + local),
                    functools.partial(segment._coverage, query, local),
                    query.marked,
                )
            )
        return Ranking(tuple(hits), confidence)

    def _only_common(self, plan: Plan) -> bool:
        """Whether the question's rarest term is so common in both segments that no sentence is offered
        (``postings.NEVER_ALONE``: the scorer's rule, over the collection rather than one segment)."""
        df = self.key_df(np.fromiter(plan.weights, dtype=np.uint64, count=len(plan.weights)))
        held = df[df > 0]
        return bool(len(held)) and int(held.min()) > max(NEVER_ALONE, NEVER_ALONE_FRACTION * self._rows())


@dataclass(frozen=True)
class _AsLexicon:
    """A collection as ``plan_query`` sees it (``len`` is every row, as an index's is)."""

    collection: Collection

    def __len__(self) -> int:
        return self.collection._rows()

    def known(self, keys: np.ndarray) -> np.ndarray:
        return self.collection.known(keys)

    def key_idf(self, keys: np.ndarray) -> np.ndarray:
        return self.collection.key_idf(keys)

    def spellings(self, word: str) -> list[Spelling]:
        return self.collection.spellings(word)


_Served = tuple[str, str, Article | Analysed | None]
"""An article to serve: its id and digest, and the article itself when at hand."""


def _combine(main: Index, served: Sequence[_Served], delta: Index | None = None) -> Collection | None:
    """A collection over ``main`` serving exactly ``served``; ``delta`` (saved) is used when it holds some of
    the articles the main index lacks and nothing else, the others going to its fresh tier. None when one
    of those is not at hand."""
    delta = delta if delta is not None and delta.articles else None
    main_digests = {a.id: a.digest for a in main.articles}
    served_digests = {article_id: digest for article_id, digest, _ in served}
    hidden = frozenset(i for i, digest in main_digests.items() if served_digests.get(i) != digest)
    added: list[Analysed] = []
    for article_id, digest, article in served:
        if main_digests.get(article_id) != digest:
            if article is None or article.digest != digest:
                return None
            added.append(article if isinstance(article, Analysed) else analyse(article))
    kept = {(a.id, a.digest) for a in delta.articles} if delta is not None else set()
    if delta is not None and len(kept) == len(delta.articles) and kept <= {(a.id, a.digest) for a in added}:
        # The saved delta holds some of them (articles changed since went to its fresh tier): kept.
        by_id = {a.id: a for a in added}
        fresh = tuple(a for a in added if (a.id, a.digest) not in kept)
        tier = build_index(fresh, beside=main) if fresh else None
        return Collection(main, delta, tuple(by_id[a.id] for a in delta.articles), hidden, None, tier, fresh)
    return Collection(main, build_index(added, beside=main) if added else None, tuple(added), hidden)


def reconcile(main: Index, delta: Index | None, seeds: SeedSet) -> Collection | None:
    """A collection over ``main`` serving exactly the articles of ``seeds``, with the saved ``delta`` when
    it holds what the main index lacks, else a delta built now. None when that delta would be past the
    compaction limit (build the whole index instead)."""
    main_digests = {a.id: a.digest for a in main.articles}
    changed = [a for a in seeds.articles if main_digests.get(a.id) != a.digest]
    if sum(len(a.paragraphs) for a in changed) > Collection(main).delta_limit():
        return None  # paragraphs: a cheap lower bound of sentences
    return _combine(main, [(a.id, a.digest, a) for a in seeds.articles], delta)


# -- saving the delta beside the main index ------------------------------------------------------


def delta_folder(index_folder: Path) -> Path:
    """Where the delta of the index saved in ``index_folder`` is saved: a folder beside it."""
    return index_folder.with_name(f"{index_folder.name}.delta")


def _main_identity(main: Index) -> dict[str, object]:
    seeds = main.manifest.get("seeds")
    fingerprint = seeds.get("fingerprint") if isinstance(seeds, Mapping) else None
    return {"fingerprint": fingerprint, "built_at": main.manifest.get("built_at"), "sentences": len(main)}


def save_delta(collection: Collection, index_folder: Path) -> None:
    """Save the collection's delta beside the main index saved in ``index_folder`` (replacing the folder
    whole, see ``store.save_index``), naming the main index it was built beside and the articles of it
    hidden; nothing changed since it was built: no folder."""
    from retrieval.store import save_index

    folder = delta_folder(index_folder)
    if collection.delta is None and not collection.hidden:
        shutil.rmtree(folder, ignore_errors=True)
        return
    delta = collection.delta if collection.delta is not None else build_index(())
    segment = {"beside": _main_identity(collection.main), "hidden": sorted(collection.hidden)}
    save_index(dataclasses.replace(delta, manifest=dict(delta.manifest) | segment), folder)


def load_delta(index_folder: Path, main: Index) -> Index | None:
    """The delta saved beside ``index_folder`` when there is one, intact and built beside ``main``; else
    None (logged when there was one)."""
    from retrieval.store import load_index

    folder = delta_folder(index_folder)
    if not (folder / "manifest.json").exists():
        return None
    try:
        delta = load_index(folder)
    except IndexFileError as exc:
        _logger.warning("saved delta in %s not used (%s): built again from the seeds", folder, exc)
        return None
    if delta.manifest.get("beside") != _main_identity(main):
        _logger.info("saved delta in %s was built beside another index: built again from the seeds", folder)
        return None
    return delta


def load_collection(index_folder: Path) -> Collection:
    """The index saved in ``index_folder`` with its saved delta and hidden articles, for searching only
    (without the seeds, its delta's articles are not at hand to change it). ``IndexFileError`` as
    ``store.load_index``; a delta that does not fit is left out (logged)."""
    from retrieval.store import load_index

    main = load_index(index_folder)
    delta = load_delta(index_folder, main)
    if delta is None:
        return Collection(main)
    hidden = delta.manifest.get("hidden")
    ids = {a.id for a in main.articles}
    masked = (
        frozenset(i for i in hidden if isinstance(i, str) and i in ids) if isinstance(hidden, list) else frozenset()
    )
    return Collection(main, delta if delta.articles else None, (), masked)
