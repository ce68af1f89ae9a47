"""The incremental index: a delta beside the main index, masked articles, its saved form, and the library
publishing through it without building the main index again."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from pathlib import Path

import numpy as np
import pytest

import bot.library
import retrieval.collection
from benchmarks.quality import Split, _key, load_split
from bot.library import Library
from bot.publishing import Outcome
from bot.testing.harness import copy_seeds
from bot.testing.seed_questions import SEED_ARTICLE
from retrieval import Article, Index, build_index, load_seeds
from retrieval.collection import Collection, delta_folder, load_collection, load_delta, reconcile, save_delta
from retrieval.seeds import seed_files
from retrieval.store import save_index
from tests.conftest import SHARED_DATA

ARTICLE = "date 2025-12-11 کتابخانهٔ مرکزی افتتاح شد\nکتابخانهٔ مرکزی شیراز با صد هزار جلد کتاب افتتاح شد.\n"
QUESTION = "کتابخانهٔ مرکزی شیراز چند جلد کتاب دارد؟"


def _pquad() -> Split:
    """pquad_val's paragraphs as articles; the test skips, in one line, on a machine without ../shared."""
    if not (SHARED_DATA / "pquad_val" / "corpus.jsonl").exists():
        pytest.skip(f"{SHARED_DATA / 'pquad_val'} is absent: these tests need ../shared/data")
    return _load_pquad()


@functools.cache
def _load_pquad() -> Split:
    return load_split("pquad_val", SHARED_DATA)


def _some(n: int) -> list[Article]:
    return _pquad().articles[:n]


def _top(index: Index | Collection, question: str) -> tuple[str, int] | None:
    hits = index.search(question, 1)
    return (hits[0].article.id, hits[0].sentence.position) if hits else None


def _questions(articles: list[Article]) -> list[dict[str, object]]:
    ids = {a.id for a in articles}
    return [q for q in _pquad().questions if q["doc_id"] in ids]


@pytest.fixture(scope="module")
def main() -> Index:
    return build_index(_some(60))


def test_a_collection_of_one_index_ranks_as_the_index(main: Index) -> None:
    collection = Collection.of(main)
    for q in _questions(_some(60))[:40]:
        assert collection.rank(str(q["question"]), 5) == main.rank(str(q["question"]), 5)


def test_an_added_article_is_found_and_ranked_as_built_from_scratch(
    main: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieval.collection, "FRESH_SENTENCES", 40)
    articles = _some(80)
    collection = Collection.of(main)
    for article in articles[60:]:
        collection = collection.with_article(article)
    assert collection.main is main and len(collection.articles) - len(main.articles) == 20
    assert collection.delta is not None and collection.fresh is not None  # both tiers in use
    scratch = build_index(articles)
    assert len(collection) == len(scratch) and [a.id for a in collection.articles] == [a.id for a in scratch.articles]
    questions = _questions(articles[60:])
    same = sum(_top(collection, str(q["question"])) == _top(scratch, str(q["question"])) for q in questions)
    assert same >= 0.95 * len(questions)
    # Sentences read through the collection name their article's position among the served ones.
    hit = collection.search(str(questions[0]["question"]), 1)[0]
    assert collection.articles[hit.sentence.article] is hit.article
    assert hit.sentence in collection.article_sentences(hit.sentence.article)


def test_replace_and_remove_mask_the_old_article_at_once(main: Index) -> None:
    article = main.articles[5]
    question = next(str(q["question"]) for q in _questions(_some(60)) if q["doc_id"] == article.id)
    before = _top(Collection.of(main), question)
    assert before is not None and before[0] == article.id
    old = next(a for a in _some(60) if a.id == article.id)
    changed = dataclasses.replace(old, paragraphs=("متنی دیگر درباره چیزی دیگر.",), digest="other")
    replaced = Collection.of(main).with_article(changed)
    assert replaced.hidden == {article.id} and len(replaced.articles) == len(main.articles)
    assert _top(replaced, question) != before  # the old text is never a candidate
    removed = replaced.without(article.id)
    assert article.id not in {a.id for a in removed.articles} and removed.delta is removed.fresh is None
    assert all(h.article.id != article.id for h in removed.search(question, 30))
    # Replaced again once in the delta's first tier: that version is hidden there.
    tiered = Collection.of(main).with_article(changed).merged().with_article(old)
    assert tiered.stale == {article.id} and [a.id for a in tiered.articles].count(article.id) == 1
    assert _top(tiered, question) == before
    assert all(h.article.id != article.id for h in tiered.without(article.id).search(question, 30))
    # Hidden rows are never returned, however many candidates are asked for.
    assert all(h.article.id != article.id for h in Collection.of(main).without(article.id).search(question, 30))


def test_a_saved_delta_is_used_when_it_fits_and_refused_when_damaged(
    tmp_path: Path, main: Index, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "index"
    save_index(main, folder)
    collection = Collection.of(main).with_article(_some(61)[60]).without(main.articles[0].id).merged()
    save_delta(collection, folder)
    loaded = load_delta(folder, main)
    assert loaded is not None and [a.id for a in loaded.articles] == [_some(61)[60].id]
    question = str(_questions([_some(61)[60]])[0]["question"])
    assert _top(Collection(main, loaded, collection.added, collection.hidden), question) == _top(collection, question)
    assert load_delta(folder, build_index(_some(10))) is None  # built beside another main index
    searched = load_collection(folder)  # `pasokh ask --index`: no seeds at hand
    assert [a.id for a in searched.articles] == [a.id for a in collection.articles]
    only_hidden = Collection.of(main).without(main.articles[1].id)
    save_delta(only_hidden, folder)
    assert load_collection(folder).hidden == {main.articles[1].id}
    save_delta(collection, folder)
    damaged = delta_folder(folder) / "sentences.weights.npy"
    damaged.write_bytes(damaged.read_bytes()[:-4] + b"\0\0\0\1")
    with caplog.at_level(logging.WARNING):
        assert load_delta(folder, main) is None
    assert "not used" in caplog.text and "sentences.weights.npy" in caplog.text


def test_reconcile_follows_the_seeds(main: Index) -> None:
    seeds = load_seeds_of([*_some(60)[1:], _some(61)[60]])
    collection = reconcile(main, None, seeds)
    assert collection is not None and collection.main is main
    assert collection.hidden == {main.articles[0].id} and [a.id for a in collection.added] == [_some(61)[60].id]
    assert [a.id for a in collection.articles] == [a.id for a in seeds.articles]


def load_seeds_of(articles: list[Article]) -> retrieval.SeedSet:
    return retrieval.SeedSet(tuple(articles), ())


@pytest.mark.slow
def test_incremental_ranks_like_from_scratch_on_pquad_val() -> None:
    """Main index over 90% of the articles, the other 10% added one by one, against one index over all."""
    split = _pquad()
    cut = int(0.9 * len(split.articles))
    collection = Collection.of(build_index(split.articles[:cut]))
    for article in split.articles[cut:]:
        collection = collection.with_article(article)
    scratch = build_index(split.articles)
    same = recalled_scratch = recalled = 0
    for q in split.questions:
        answers = {_key(a) for a in q["answers"]} - {""}
        tops = []
        for index in (scratch, collection):
            hits = index.search(q["question"], 1)
            tops.append((hits[0].article.id, hits[0].sentence.position, _key(hits[0].sentence.text)) if hits else None)
        same += tops[0] == tops[1]
        recalled_scratch += tops[0] is not None and any(a in tops[0][2] for a in answers)
        recalled += tops[1] is not None and any(a in tops[1][2] for a in answers)
    n = len(split.questions)
    assert abs(recalled - recalled_scratch) / n * 100 <= 0.3
    assert same / n >= 0.98


# -- the library --------------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Library:
    opened = Library(copy_seeds(tmp_path / "seeds"), tmp_path / "index")
    opened.open()
    return opened


def _no_full_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole index was built")

    monkeypatch.setattr(bot.library, "build_index", refused)


async def test_publish_builds_only_the_delta_and_a_restart_builds_nothing(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieval.collection, "FRESH_SENTENCES", 0)  # every change joins the first tier
    main = library.index.main
    _no_full_build(monkeypatch)
    report = await library.publish("library", ARTICLE.encode())
    assert report.outcome is Outcome.ADDED and library.index.main is main
    assert library.index.search(QUESTION, 1)[0].article.id == "library"
    corrected = await library.publish("library", ARTICLE.replace("صد", "دویست").encode())
    assert corrected.outcome is Outcome.REPLACED and library.index.main is main
    assert "دویست" in library.index.search(QUESTION, 1)[0].sentence.text

    def no_delta_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the delta was built again")

    monkeypatch.setattr(retrieval.collection, "build_index", no_delta_build)
    again = Library(library.seeds_dir, library.index_dir)
    again.open()
    assert [a.id for a in again.index.articles] == [a.id for a in library.index.articles]
    assert _top(again.index, QUESTION) == _top(library.index, QUESTION)


async def test_the_fresh_tier_is_built_from_the_seeds_on_opening(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieval.collection, "FRESH_SENTENCES", 1)
    await library.publish("first", ARTICLE.encode())
    await library.publish("second", ARTICLE.replace("شیراز", "تبریز").encode())  # joins the first tier
    await library.publish("third", ARTICLE.replace("شیراز", "یزد").encode())  # fresh: not saved
    index = library.index
    assert index.delta is not None and index.fresh is not None
    built: list[int] = []
    build = retrieval.collection.build_index

    def counted(articles: object, **kwargs: object) -> object:
        built.append(len(articles))  # type: ignore[arg-type]
        return build(articles, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retrieval.collection, "build_index", counted)
    again = Library(library.seeds_dir, library.index_dir)
    again.open()
    assert built == [1]  # the fresh article only
    assert [a.id for a in again.index.articles] == [a.id for a in index.articles]


async def test_a_file_written_before_a_crash_is_served_after_the_restart(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    await library.publish("library", ARTICLE.encode())
    # Killed after the seed file was written, before the delta was saved: the file decides.
    (library.seeds_dir / "library.txt").write_text(ARTICLE.replace("صد", "سیصد"), encoding="utf-8")
    _no_full_build(monkeypatch)
    again = Library(library.seeds_dir, library.index_dir)
    again.open()
    assert "سیصد" in again.index.search(QUESTION, 1)[0].sentence.text
    # And removed behind its back: not served.
    (library.seeds_dir / "library.txt").unlink()
    third = Library(library.seeds_dir, library.index_dir)
    third.open()
    assert "library" not in {a.id for a in third.index.articles}


async def test_a_damaged_delta_is_built_again_from_the_seeds(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval.collection, "FRESH_SENTENCES", 0)
    await library.publish("library", ARTICLE.encode())
    assert library.index_dir is not None
    damaged = delta_folder(library.index_dir) / "idf.npy"
    damaged.write_bytes(damaged.read_bytes()[:-4] + b"\1\2\3\4")
    _no_full_build(monkeypatch)
    again = Library(library.seeds_dir, library.index_dir)
    again.open()
    assert again.index.search(QUESTION, 1)[0].article.id == "library"
    assert load_delta(library.index_dir, again.index.main) is not None  # saved again, whole


@pytest.mark.slow  # the compaction builds the index in a child process
async def test_a_large_delta_is_compacted_in_the_background(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval.collection, "MIN_DELTA", 2)
    main = library.index.main
    for n in range(3):
        await library.publish(f"a{n}", ARTICLE.replace("شیراز", f"شهر {n}").encode())
    compacting = library._compacting
    assert compacting is not None
    await compacting
    index = library.index
    assert index.main is not main and index.delta is None and not index.hidden
    assert {f"a{n}" for n in range(3)} <= {a.id for a in index.main.articles}
    assert library.index_dir is not None and not delta_folder(library.index_dir).exists()
    assert np.array_equal(index.main.term_keys, build_index(load_seeds(library.seeds_dir)).term_keys)


_PUBLISHER = """
import asyncio, sys
from pathlib import Path
from bot.library import Library

async def main():
    library = Library(Path(sys.argv[1]), Path(sys.argv[2]))
    library.open()
    for n in range(1000):
        text = sys.argv[3].replace("صد", f"{n} صد")
        assert (await library.publish("library", text.encode())).ok
        print(n, flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13, 0.3])
def test_killed_in_the_middle_of_publishing_serves_the_old_or_the_new_article(tmp_path: Path, delay: float) -> None:
    """``kill -9`` while an article is published again and again: after a restart it is served whole, as
    the last version published or the one being published, and nothing is built but the delta."""
    import os
    import signal
    import subprocess
    import sys
    import time

    seeds, index = copy_seeds(tmp_path / "seeds"), tmp_path / "index"
    with subprocess.Popen(
        [sys.executable, "-c", _PUBLISHER, str(seeds), str(index), ARTICLE], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        for _ in range(3):
            last = int(child.stdout.readline())
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for line in child.stdout.read().split():
            last = int(line)
    library = Library(seeds, index)
    library.open()
    served = library.index.search(QUESTION, 1)[0]
    assert served.article.id == "library"
    found = re.search(r"(\d+) صد", served.sentence.text)
    assert found is not None
    version = int(found.group(1))
    assert version in (last, last + 1)
    assert f"{version} صد" in (seeds / "library.txt").read_text(encoding="utf-8")
    # A temporary file the killed writer left is hidden: never loaded (and removed after an hour).
    assert {p.name for p in seed_files(seeds)} == {f"{SEED_ARTICLE}.txt", "library.txt"}
