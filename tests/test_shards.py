"""A collection sharded by article (``retrieval.shards``), searched in this process: it ranks as one index
over the same articles, its saved form is refused in one line when damaged, shards hold generations apart,
and a shard that does not answer leaves a partial ranking that the reply owns up to."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retrieval.shards
from benchmarks.quality import load_split
from bot.testing.processes import SEEDS
from retrieval import Article, Index, build_index, load_seeds, second
from retrieval.answer import PARTIAL, Outcome, answer, plain_reply
from retrieval.errors import IndexFileError
from retrieval.index import Plan, plan_query
from retrieval.second import CANDIDATES
from retrieval.shards import (
    Details,
    LocalShards,
    Sharded,
    ShardReply,
    ShardServer,
    build_sharded,
    detailed_share,
    load_sharded,
    shard_folder,
    shard_of,
    split,
)
from tests.conftest import SHARED_DATA

SHARDS = 3
PQUAD_ARTICLES = 200
QUESTIONS = 240
SEED_QUESTIONS = ("بسیج از چه عناصری تشکیل شده است؟", "قیمت دلار امروز چند است؟")


@dataclass(frozen=True)
class Built:
    articles: list[Article]
    more: list[Article]
    """Other pquad_val articles, in none of the builds."""
    questions: list[str]
    single: Index
    folder: Path
    sharded: Sharded


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The bundled seeds and the first pquad_val articles: one index, and 3 shards saved and opened."""
    if not (SHARED_DATA / "pquad_val" / "corpus.jsonl").exists():
        pytest.skip(f"{SHARED_DATA / 'pquad_val'} is absent: these tests need ../shared/data")
    pquad = load_split("pquad_val", SHARED_DATA)
    articles = [*load_seeds(SEEDS).articles, *pquad.articles[:PQUAD_ARTICLES]]
    ids = {a.id for a in articles}
    questions = [*SEED_QUESTIONS, *(str(q["question"]) for q in pquad.questions if q["doc_id"] in ids)][:QUESTIONS]
    folder = tmp_path_factory.mktemp("sharded") / "index"
    build_sharded(articles, SHARDS, folder)
    return Built(
        articles, pquad.articles[PQUAD_ARTICLES:], questions, build_index(articles), folder, Sharded.open(folder)
    )


def _tops(hits: Sequence[Any]) -> list[tuple[str, int]]:
    return [(h.article.id, h.sentence.position) for h in hits]


# -- ranking as one index -------------------------------------------------------------------------


def test_shards_rank_like_one_index_over_the_same_articles(built: Built) -> None:
    same_top = same_hits = 0
    for question in built.questions:
        one, sharded = built.single.rank(question, 3), built.sharded.rank(question, 3)
        assert sharded.missing == 0
        same_top += _tops(one.hits)[:1] == _tops(sharded.hits)[:1]
        if _tops(one.hits) == _tops(sharded.hits):
            same_hits += 1
            assert [h.score for h in sharded.hits] == pytest.approx([h.score for h in one.hits], abs=1e-4)
            assert sharded.confidence == pytest.approx(one.confidence, abs=1e-4)
            # What a hit shows reads the same: its text, neighbours, article and coverage.
            for a, b in zip(one.hits, sharded.hits, strict=True):
                assert (b.sentence.text, b.sentence.display) == (a.sentence.text, a.sentence.display)
                assert built.sharded.articles[b.sentence.article].id == b.article.id == a.article.id
                assert [s and s.display for s in (b.before, b.after)] == [s and s.display for s in (a.before, a.after)]
                assert b.coverage == pytest.approx(a.coverage, abs=1e-5)
                assert b.terms == a.terms
    n = len(built.questions)
    assert n >= 200
    assert same_top >= 0.995 * n, f"top-1 identical for {same_top} of {n} questions"
    assert same_hits >= 0.98 * n, f"top-3 identical for {same_hits} of {n} questions"


def test_a_sharded_build_counts_the_whole_as_one_index_does(built: Built) -> None:
    manifest, lexicon = load_sharded(built.folder)
    assert manifest["seeds"]["articles"] == len(built.articles) == len(built.sharded.articles)
    assert len(built.sharded) == len(built.single) == len(lexicon)
    # The whole's vocabulary is one index's: every term (a title's alone too), its df and its idf.
    assert manifest["terms"] == len(built.single.term_keys)
    assert np.array_equal(lexicon.keys, built.single.term_keys)
    assert np.array_equal(lexicon.df, np.diff(built.single.sentences.indptr))
    np.testing.assert_allclose(lexicon.idf, built.single.idf, rtol=1e-6)
    assert sorted(a.id for a in built.sharded.articles) == sorted(a.id for a in built.single.articles)
    # An article's sentences are read through the collection as through one index.
    for position in (0, len(built.sharded.articles) // 2, len(built.sharded.articles) - 1):
        article = built.sharded.articles[position]
        other = next(i for i, a in enumerate(built.single.articles) if a.id == article.id)
        sentences = built.sharded.article_sentences(position)
        assert [s.text for s in sentences] == [s.text for s in built.single.article_sentences(other)]
        assert {s.article for s in sentences} == {position}


def test_the_second_stage_sees_the_same_candidates_through_the_shards(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-row features from each shard, completed by ``set_features`` over the merged candidates, equal
    ``candidate_features`` over the same candidates in one index."""
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    set_features = second.set_features

    def recorded(features: np.ndarray, relations: Any, ids: np.ndarray, scores: np.ndarray, **kw: Any) -> np.ndarray:
        result = set_features(features, relations, ids, scores, **kw)
        seen.append((result.copy(), ids.copy(), scores.copy()))
        return result

    servers = LocalShards.open(built.folder).servers
    compared = 0
    for question in built.questions[:120]:
        single = built.single
        query = single._query(question)
        if query is None or not len(query.terms):
            continue
        rows, scores = single.scorer.top(query.terms, query.weights, CANDIDATES, query.boosts)
        expected = second.candidate_features(single, query.view, rows, scores)
        # candidate_features is row_features then set_features, for one index.
        features, relations = second.row_features(single, query.view, rows)
        assert np.array_equal(second.set_features(features, relations, rows.astype(np.int64), scores), expected)
        with monkeypatch.context() as patch:
            patch.setattr(second, "set_features", recorded)
            seen.clear()
            built.sharded.rank(question, 3)
        if not seen:
            continue
        got, ids, got_scores = seen[0]
        keys = []
        for id_ in ids.tolist():
            index = servers[id_ >> 40].indexes[1]
            sentence = index.sentence(id_ & ((1 << 40) - 1))
            keys.append((index.articles[sentence.article].id, sentence.position))
        wanted = [(single.articles[s.article].id, s.position) for s in map(single.sentence, rows.tolist())]
        if sorted(keys) != sorted(wanted):
            continue  # a tie at the 30th candidate picked another sentence: the sets differ
        compared += 1
        order = [wanted.index(key) for key in keys]
        np.testing.assert_allclose(got_scores, scores[order], rtol=1e-5)
        np.testing.assert_allclose(got, expected[order], rtol=1e-5, atol=1e-5, err_msg=question)
    assert compared >= 100


def test_shard_of_is_stable_and_balanced(built: Built) -> None:
    # The hash is part of the saved form: an article never moves while the number of shards stays.
    assert [shard_of("000_9ca2ac7c38fe4584", n) for n in (1, 2, 3, 8)] == [0, 0, 1, 2]
    assert [shard_of("news-1", n) for n in (1, 2, 3, 8)] == [0, 0, 0, 6]
    assert [shard_of("خبر", n) for n in (1, 2, 3, 8)] == [0, 1, 1, 5]
    parts = split(built.articles, SHARDS)
    assert [a.id for part in parts for a in part] == [
        a.id for i in range(SHARDS) for a in built.articles if shard_of(a.id, SHARDS) == i
    ]  # in their order
    # A larger collection leaves every article where it was.
    more = split([*built.articles, *built.more], SHARDS)
    assert [[a.id for a in p][: len(part)] for p, part in zip(more, parts, strict=True)] == [
        [a.id for a in part] for part in parts
    ]
    for shards in (3, 8):
        counts = Counter(shard_of(f"article-{i}", shards) for i in range(20_000))
        mean = 20_000 / shards
        assert set(counts) == set(range(shards))
        assert all(abs(c - mean) <= 0.08 * mean for c in counts.values()), counts
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 0.35 * len(built.articles) / SHARDS, sizes
    with pytest.raises(ValueError, match="at least one shard"):
        split(built.articles, 0)


def test_detailed_share_covers_at_least_two_thirds() -> None:
    for shards in (1, 2, 3, 8, 64):
        share = detailed_share(CANDIDATES, shards)
        assert -(-2 * CANDIDATES // 3) <= share <= CANDIDATES
    assert detailed_share(CANDIDATES, 1) == CANDIDATES


# -- a damaged build -------------------------------------------------------------------------------


def _refresh(folder: Path, name: str) -> None:
    """Record ``name``'s new size and checksum in the manifest, as a careful forger would."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data = (folder / name).read_bytes()
    manifest["files"][name].update(bytes=len(data), crc32=zlib.crc32(data))
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _other_build(tmp: Path, articles: Sequence[Article]) -> Path:
    other = tmp / "other"
    build_sharded(articles, SHARDS, other)
    return other


def _swap_shard(folder: Path, source: Path, shard: int = 1) -> None:
    shutil.rmtree(shard_folder(folder, shard))
    shutil.copytree(shard_folder(source, shard), shard_folder(folder, shard))


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _damage(case: str, folder: Path, tmp: Path, articles: Sequence[Article]) -> None:
    """Damage the sharded build in ``folder`` as ``case`` says (``tmp``: room for another build)."""
    manifest = folder / "manifest.json"
    if case == "idf.npy truncated":
        _truncate(folder / "idf.npy")
    elif case == "term_keys.npy truncated, checksum refreshed":
        _truncate(folder / "term_keys.npy")
        _refresh(folder, "term_keys.npy")
    elif case == "fuzzy.words.npy emptied, checksum refreshed":
        (folder / "fuzzy.words.npy").write_bytes(b"")
        _refresh(folder, "fuzzy.words.npy")
    elif case == "manifest.json not JSON":
        manifest.write_bytes(b'{"kind":"sharded", \xff')
    elif case == "manifest.json a list":
        manifest.write_text('["kind", "sharded"]')
    elif case == "manifest.json without shards":
        manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items() if k != "shards"}))
    elif case == "df.npy a FIFO":
        _fifo(folder / "df.npy")
    elif case == "manifest.json a FIFO":
        _fifo(manifest)
    elif case == "shard-001 missing":
        shutil.rmtree(shard_folder(folder, 1))
    elif case == "shard-002 empty":
        shutil.rmtree(shard_folder(folder, 2))
        shard_folder(folder, 2).mkdir()
    elif case == "shard-001 from a build of other articles":
        _swap_shard(folder, _other_build(tmp, articles[:-40]))
    elif case == "shard-001 from a build with other shards":
        # The same articles in shard 1 but another whole (so other statistics): same counts, other weights.
        kept = [a for i, a in enumerate(articles) if shard_of(a.id, SHARDS) == 1 or i % 2]
        _swap_shard(folder, _other_build(tmp, kept))
    elif case == "shard-001 from a build whose article there changed date only":
        # Same text, counts and statistics; another file (its digest): only the fingerprint tells.
        at = next(i for i, a in enumerate(articles) if shard_of(a.id, SHARDS) == 1)
        changed = [*articles[:at], dataclasses.replace(articles[at], digest="other"), *articles[at + 1 :]]
        _swap_shard(folder, _other_build(tmp, changed))
    elif case == "manifest.json shards not objects":
        whole = json.loads(manifest.read_text())
        manifest.write_text(json.dumps(whole | {"shards": [1] * SHARDS}))
    else:
        raise AssertionError(case)


DAMAGE = (
    "idf.npy truncated",
    "term_keys.npy truncated, checksum refreshed",
    "fuzzy.words.npy emptied, checksum refreshed",
    "manifest.json not JSON",
    "manifest.json a list",
    "manifest.json without shards",
    "df.npy a FIFO",
    "manifest.json a FIFO",
    "shard-001 missing",
    "shard-002 empty",
    "shard-001 from a build of other articles",
    "shard-001 from a build with other shards",
    "shard-001 from a build whose article there changed date only",
    "manifest.json shards not objects",
)


def _refused(call: Callable[[], object]) -> BaseException | None:
    """What ``call`` raised, run in a thread so that a hang fails the test instead of stopping it."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported to the test
            raised[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "opening the damaged build hangs"
    return raised[0]


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_sharded_build_is_refused_in_one_line(case: str, built: Built, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    shutil.copytree(built.folder, folder)
    _damage(case, folder, tmp_path, built.articles)
    for opening in (lambda: Sharded.open(folder), lambda: [ShardServer(folder, i) for i in range(SHARDS)]):
        exc = _refused(opening)
        if exc is None and case.startswith(("idf", "term_keys", "fuzzy", "df.npy")):
            continue  # a shard server reads only its shard and the manifest, not the vocabulary
        assert isinstance(exc, IndexFileError), f"{case}: {type(exc).__name__}: {exc}"
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message, message
        assert str(folder) in message, message


def test_a_copy_of_an_intact_build_opens(built: Built, tmp_path: Path) -> None:
    """The damage table's copies are refused for their damage, not for being copies."""
    folder = tmp_path / "index"
    shutil.copytree(built.folder, folder)
    copy = Sharded.open(folder)
    question = built.questions[2]
    assert _tops(copy.rank(question, 3).hits) == _tops(built.sharded.rank(question, 3).hits)


# -- generations -----------------------------------------------------------------------------------


def _changed(articles: Sequence[Article]) -> list[Article]:
    """The articles with the last 20 removed and one added: a next generation."""
    added = dataclasses.replace(
        articles[-1],
        id="generation-2",
        title="کتابخانهٔ مرکزی شیراز افتتاح شد",
        paragraphs=("کتابخانهٔ مرکزی شیراز با صد هزار جلد کتاب افتتاح شد.",),
        digest="generation-2",
    )
    return [*articles[:-20], added]


def test_a_shard_server_holds_generations_apart(built: Built, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    shutil.copytree(built.folder, folder)
    servers = [ShardServer(folder, i) for i in range(SHARDS)]
    first = Sharded(load_sharded(folder)[0], load_sharded(folder)[1], LocalShards(servers))
    question = "کتابخانهٔ مرکزی شیراز چند جلد کتاب دارد؟"
    before = [_tops(first.rank(q, 3).hits) for q in built.questions[:20]]

    changed = _changed(built.articles)
    build_sharded(changed, SHARDS, folder, generation=2)
    assert [server.load(folder) for server in servers] == [2] * SHARDS
    assert all(server.generations() == [1, 2] for server in servers)
    second_ = Sharded(*load_sharded(folder), LocalShards(servers))
    assert (first.generation, second_.generation) == (1, 2)
    # The old router still answers from generation 1 (its files replaced on disk), the new from 2.
    assert [_tops(first.rank(q, 3).hits) for q in built.questions[:20]] == before
    assert all(h.article.id != "generation-2" for h in first.rank(question, 5).hits)
    assert second_.rank(question, 1).hits[0].article.id == "generation-2"
    assert len(second_.articles) == len(changed) and len(first.articles) == len(built.articles)
    # Loading the same generation again keeps the one held.
    held = servers[0].indexes[2]
    assert servers[0].load(folder) == 2 and servers[0].indexes[2] is held

    for server in servers:
        server.drop(1)
    assert all(server.generations() == [2] for server in servers)
    plan = plan_query(question, first.lexicon)
    assert plan is not None
    with pytest.raises(LookupError, match="generation 1"):
        servers[0].candidates(plan, CANDIDATES, 20, 1)
    with pytest.raises(LookupError, match="generation 1"):
        first.rank(question, 3)
    assert second_.rank(question, 1).hits[0].article.id == "generation-2"


# -- a shard that does not answer ------------------------------------------------------------------


class Silent(LocalShards):
    """Every shard in this process, but ``silent`` never answers (as a shard past its deadline)."""

    def __init__(self, servers: Sequence[ShardServer], silent: int, *, details_too: bool = False) -> None:
        super().__init__(servers)
        self.silent, self.details_too = silent, details_too

    def search(
        self, plan: Plan, n: int, detailed: int, generation: int, hidden: frozenset[str] = frozenset()
    ) -> list[ShardReply | None]:
        replies = super().search(plan, n, detailed, generation, hidden)
        return [None if i == self.silent and not self.details_too else r for i, r in enumerate(replies)]

    def details(self, wanted: Mapping[int, np.ndarray], plan: Plan, generation: int) -> dict[int, Details | None]:
        got = super().details(wanted, plan, generation)
        return {s: None if s == self.silent and self.details_too else d for s, d in got.items()}


def test_a_silent_shard_leaves_a_partial_ranking_and_says_so(built: Built) -> None:
    manifest, lexicon = load_sharded(built.folder)
    servers = LocalShards.open(built.folder).servers
    silent = 1
    partial = Sharded(manifest, lexicon, Silent(servers, silent))
    by_id = {a.id: shard_of(a.id, SHARDS) for a in built.articles}
    not_answered = answered = 0
    for question in built.questions[:80]:
        ranking = partial.rank(question, 3)
        assert ranking.missing == 1
        assert all(by_id[h.article.id] != silent for h in ranking.hits)
        whole = built.sharded.rank(question, 3)
        if whole.hits and by_id[whole.hits[0].article.id] != silent:
            # The silent shard's rows are only left out: what the others hold ranks as before.
            assert _tops(ranking.hits)[:1] == _tops(whole.hits)[:1]
        result = answer(partial, question)
        assert result.missing == 1 and result.partial
        reply = plain_reply(result)
        if result.outcome is Outcome.NOT_FOUND:
            not_answered += 1
            assert reply.endswith(PARTIAL)
        else:
            answered += 1
            assert PARTIAL not in reply
    assert not_answered and answered
    # Nothing is said when every shard answered.
    result = answer(built.sharded, SEED_QUESTIONS[1])
    assert result.outcome is Outcome.NOT_FOUND and result.missing == 0
    assert PARTIAL not in plain_reply(result)


def test_rows_detailed_on_demand_rank_as_rows_detailed_at_once(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards detail only their first rows with their reply; the others are asked for when they make the
    best of all (``Transport.details``): the ranking is the same either way, and a shard that does not
    answer that second call is left out."""
    monkeypatch.setattr(retrieval.shards, "detailed_share", lambda n, shards: 2)
    manifest, lexicon = load_sharded(built.folder)
    servers = LocalShards.open(built.folder).servers
    by_id = {a.id: shard_of(a.id, SHARDS) for a in built.articles}
    questions = built.questions[:40]
    on_demand = Sharded(manifest, lexicon, LocalShards(servers))
    for question in questions:
        ranking, whole = on_demand.rank(question, 3), built.sharded.rank(question, 3)
        assert _tops(ranking.hits) == _tops(whole.hits) and ranking.missing == 0
        assert [h.score for h in ranking.hits] == pytest.approx([h.score for h in whole.hits], abs=1e-6)
        assert ranking.confidence == pytest.approx(whole.confidence, abs=1e-6)
    for silent in range(SHARDS):
        partial = Sharded(manifest, lexicon, Silent(servers, silent, details_too=True))
        left_out = 0
        for question in questions:
            ranking = partial.rank(question, 3)
            assert ranking.missing in (0, 1)
            left_out += ranking.missing
            if ranking.missing:
                assert all(by_id[h.article.id] != silent for h in ranking.hits)
            else:
                assert _tops(ranking.hits) == _tops(built.sharded.rank(question, 3).hits)
        assert left_out >= len(questions) // 4, (silent, left_out)


def test_the_router_plans_a_question_as_one_index_does(built: Built) -> None:
    """The whole's vocabulary (df, idf, spelling corrections) plans a question as one index over it."""
    misspelled = 0
    for question in built.questions[:60]:
        words = question.split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        typo = " ".join(w[:2] + w[3:] if i == longest and len(w) > 4 else w for i, w in enumerate(words))
        for asked in (question, typo):
            one, whole = plan_query(asked, built.single), plan_query(asked, built.sharded.lexicon)
            if one is None or whole is None:
                assert one is None and whole is None
                continue
            assert whole.weights.keys() == one.weights.keys()
            assert list(whole.weights.values()) == pytest.approx(list(one.weights.values()), rel=1e-6)
            assert whole.found == one.found and whole.subject == one.subject and whole.marked == one.marked
            np.testing.assert_allclose(whole.word_idf, one.word_idf, rtol=1e-6)
            assert whole.unseen.tolist() == one.unseen.tolist()
            assert whole.corrected.tolist() == one.corrected.tolist()
            misspelled += asked is typo and bool(whole.corrected.any())
    assert misspelled >= 10  # the typos were corrected against the whole vocabulary


# -- the delta: articles published or removed since the shards were built ------------------------------


def test_articles_added_and_removed_since_the_build_are_served_from_the_delta(built: Built) -> None:
    added = built.more[:5]
    sharded = built.sharded
    for article in added:
        sharded = sharded.with_article(article)
    removed = built.articles[-1]
    sharded = sharded.without(removed.id)
    assert sharded.generation == built.sharded.generation and sharded.delta_sentences > 0
    served = [*(a for a in built.articles if a.id != removed.id), *added]
    assert sorted(a.id for a in sharded.articles) == sorted(a.id for a in served)
    single = build_index(served)
    ids = {a.id for a in added}
    pquad = load_split("pquad_val", SHARED_DATA)
    questions = [str(q["question"]) for q in pquad.questions if q["doc_id"] in ids][:40]
    same = sum(_tops(sharded.search(q, 1)) == _tops(single.search(q, 1)) for q in questions)
    assert same >= 0.95 * len(questions)  # the delta borrows the whole's statistics, as a collection's does
    found = {h.article.id for q in questions for h in sharded.search(q, 3)}
    assert found & ids and removed.id not in found
    # A full article from the delta and one from a shard, at their served positions.
    for position in (len(sharded.articles) - 1, 0):
        sentences = sharded.article_sentences(position)
        assert sentences and all(s.article == position for s in sentences)


def test_a_saved_build_is_reconciled_with_the_seeds_folder_as_it_is(built: Built) -> None:
    from retrieval import SeedSet
    from retrieval.shards import reconcile_sharded

    changed = dataclasses.replace(
        built.articles[1],
        paragraphs=(*built.articles[1].paragraphs, "جمله‌ای تازه دربارهٔ زرافه‌ها."),
        digest="changed",
    )
    seeds = SeedSet((changed, *built.articles[2:], built.more[0]), ())
    served = reconcile_sharded(built.sharded, seeds)
    assert served is not None
    assert {a.id for a in served.articles} == {a.id for a in seeds.articles}
    assert served.hidden == {built.articles[0].id, changed.id} and len(served.added) == 2
    assert any("زرافه" in h.sentence.text for h in served.search("زرافه‌ها", 3))


def test_telling_a_sharded_build_never_opens_a_fifo_or_a_link(tmp_path: Path) -> None:
    from retrieval.shards import is_sharded

    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "manifest.json")  # opened for reading without O_NONBLOCK, this blocks
    (tmp_path / "link").mkdir()
    (tmp_path / "elsewhere.json").write_text('{"kind":"sharded"}')
    (tmp_path / "link" / "manifest.json").symlink_to(tmp_path / "elsewhere.json")
    outcome: list[bool] = []
    worker = threading.Thread(target=lambda: outcome.extend(is_sharded(tmp_path / k) for k in ("fifo", "link")))
    worker.start()
    worker.join(10)
    assert outcome == [False, False]
