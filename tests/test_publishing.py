"""Publishing one article: ids and names we make, channel posts as seed files, atomic writes, and the
library's publish / remove, which change the folder and the index together or not at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import retrieval.collection
from bot.library import Library, Stopping
from bot.publishing import (
    IRAN,
    Outcome,
    channel_article,
    channel_article_id,
    post_link,
    seed_name,
    uploaded_article_id,
)
from bot.settings import Settings, SettingsError
from bot.testing.harness import copy_seeds
from bot.testing.seed_questions import SEED_ARTICLE
from retrieval import Article, Rejected, load_seeds
from retrieval.folders import remove_file, write_file
from retrieval.seeds import Problem, dated, load_bytes, load_file_checked
from tests.conftest import write_seed

ARTICLE = "date 2025-12-11 کتابخانهٔ مرکزی افتتاح شد\nکتابخانهٔ مرکزی با صد هزار جلد کتاب افتتاح شد.\n"


@pytest_asyncio.fixture
async def library(tmp_path: Path) -> AsyncIterator[Library]:
    opened = Library(copy_seeds(tmp_path / "seeds"))
    opened.open()
    yield opened
    opened.close()  # as the bot does on stopping: a compaction started meanwhile stops, no test waits for it


def names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# -- ids and names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "article_id"),
    [
        ("library.txt", "library"),  # the name without its extension
        ("Report.MD", "Report"),
        ("خبر تازه.txt", "خبر-تازه"),  # Persian letters stay; a space is a -
        ("../../etc/passwd.txt", "etc-passwd"),  # no way out of the folder
        ("..\\..\\boot.ini.txt", "boot-ini"),
        (".hidden.txt", "hidden"),  # never a hidden file (the folder's readers skip those)
        ("a\u202egnp.txt", "a-gnp"),  # no direction override in a name
        ("x" * 300 + ".txt", "x" * 80),
        (".txt", "txt"),  # a hidden file's name is all name
        ("...", None),
    ],
)
def test_an_uploaded_files_name_becomes_a_safe_id(file_name: str, article_id: str | None) -> None:
    assert uploaded_article_id(file_name) == article_id


@pytest.mark.parametrize(
    ("article_id", "suffix"),
    [("../x", ".txt"), ("", ".txt"), (".x", ".txt"), ("-x", ".txt"), ("a/b", ".txt"), ("x", ".pdf")],
)
def test_a_name_that_could_escape_or_hide_is_never_made(article_id: str, suffix: str) -> None:
    with pytest.raises(ValueError, match="not an article id"):
        seed_name(article_id, suffix)


def test_channel_posts_have_stable_ids_and_links() -> None:
    assert channel_article_id(-1009876543210, 42) == "channel-9876543210-42"
    assert post_link(-1009876543210, "outlet", 42) == "https://t.me/outlet/42"
    assert post_link(-1009876543210, None, 42) == "https://t.me/c/9876543210/42"


def test_a_channel_post_is_dated_the_day_in_iran_and_ends_with_its_link() -> None:
    late_evening_utc = dt.datetime(2025, 12, 1, 21, 0, tzinfo=dt.UTC)  # 00:30 on 2 December in Tehran
    data = channel_article("عنوان خبر\nمتن خبر.", late_evening_utc, "https://t.me/outlet/7", "channel-1-7")
    assert isinstance(data, bytes)
    assert data.decode() == "date 2025-12-02 عنوان خبر\nمتن خبر.\nمنبع: https://t.me/outlet/7\n"
    assert late_evening_utc.astimezone(IRAN).date() == dt.date(2025, 12, 2)
    article, _ = load_bytes("channel-1-7.txt", data)
    assert isinstance(article, Article) and article.title == "عنوان خبر" and article.date == dt.date(2025, 12, 2)


def test_a_post_of_one_line_is_no_article_even_with_its_link() -> None:
    rejected = channel_article("فقط یک خط", dt.datetime.now(dt.UTC), "https://t.me/outlet/7", "channel-1-7")
    assert isinstance(rejected, Rejected) and rejected.problem is Problem.NO_BODY


# -- the seed format, reused --------------------------------------------------------------------------


def test_bytes_load_as_the_same_file_would(tmp_path: Path) -> None:
    for name, data in [("a.txt", ARTICLE.encode()), ("b.md", b"# T\n- one\n"), ("c.txt", b"\x00\x01"), ("d.txt", b"")]:
        from_file, _ = load_file_checked(write_seed(tmp_path, name, data))
        from_bytes, _ = load_bytes(name, data)
        assert from_bytes == from_file


def test_a_name_with_a_separator_is_refused_when_loading_bytes() -> None:
    rejected, _ = load_bytes("../a.txt", ARTICLE.encode())
    assert isinstance(rejected, Rejected) and rejected.problem is Problem.BAD_NAME


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("عنوان\nمتن", "date 2025-12-11 عنوان"),
        ("\n  عنوان  \nمتن", "date 2025-12-11 عنوان"),
        ("date 1404-09-05 عنوان\nمتن", "date 1404-09-05 عنوان"),  # a date given is kept
    ],
)
def test_an_added_article_is_dated_unless_it_says_its_date(text: str, first_line: str) -> None:
    assert dated(text, dt.date(2025, 12, 11)).splitlines()[0] == first_line


# -- writing files ------------------------------------------------------------------------------------


def test_a_file_is_written_whole_and_no_temporary_file_stays(tmp_path: Path) -> None:
    write_file(tmp_path, "a.txt", b"old")
    write_file(tmp_path, "a.txt", b"new")
    assert names(tmp_path) == {"a.txt"} and (tmp_path / "a.txt").read_bytes() == b"new"
    assert remove_file(tmp_path, "a.txt") and not remove_file(tmp_path, "a.txt")


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_file(tmp_path, "a.txt", b"old")

    def crash(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        write_file(tmp_path, "a.txt", b"new")
    assert names(tmp_path) == {"a.txt"} and (tmp_path / "a.txt").read_bytes() == b"old"


@pytest.mark.parametrize("name", ["../a.txt", "sub/a.txt", ".a.txt", "..", "", "a\0.txt"])
def test_a_name_outside_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    with pytest.raises(ValueError, match="not a plain file name"):
        write_file(folder, name, b"x")
    assert names(tmp_path) == {"seeds"} and not names(folder)


def test_what_a_killed_writer_left_is_never_loaded_and_is_cleaned_later(tmp_path: Path) -> None:
    write_seed(tmp_path, "a.txt", ARTICLE)
    left = write_seed(tmp_path, ".writing-1-abc.tmp", ARTICLE[:30])  # killed mid-way
    assert [a.id for a in load_seeds(tmp_path).articles] == ["a"]
    an_hour_ago = time.time() - 3700
    os.utime(left, (an_hour_ago, an_hour_ago))
    write_file(tmp_path, "b.txt", ARTICLE.encode())
    assert names(tmp_path) == {"a.txt", "b.txt"}


# -- the library --------------------------------------------------------------------------------------


async def test_publish_adds_then_replaces_and_a_reload_agrees(library: Library) -> None:
    report = await library.publish("library", ARTICLE.encode())
    assert report.outcome is Outcome.ADDED and report.title == "کتابخانهٔ مرکزی افتتاح شد"
    assert (report.date, report.sentences, report.articles) == (dt.date(2025, 12, 11), 1, 2)
    again = await library.publish("library", ARTICLE.replace("صد هزار", "دویست هزار").encode(), suffix=".md")
    assert again.outcome is Outcome.REPLACED and again.articles == 2
    assert names(library.seeds_dir) == {f"{SEED_ARTICLE}.txt", "library.md"}
    reload = await library.reload()
    assert reload.ok and not (reload.added or reload.removed or reload.changed)


async def test_a_flaw_is_reported_and_the_article_published(library: Library) -> None:
    report = await library.publish("odd", "date 2025-13-45 عنوان\nمتن خبر.".encode())
    assert report.outcome is Outcome.ADDED and report.flaws == (Problem.BAD_DATE,) and report.date is None


async def test_no_article_means_nothing_written(library: Library) -> None:
    before, index = names(library.seeds_dir), library.index
    report = await library.publish("x", b"\xff\xfe\xfd\x00")
    assert report.outcome is Outcome.REJECTED and report.problem is not None
    assert names(library.seeds_dir) == before and library.index is index


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), Stopping("stopped")])
async def test_a_failed_publication_keeps_the_old_index_and_files(
    library: Library, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    await library.publish("library", ARTICLE.encode(), suffix=".md")
    before, index = {p.name: p.read_bytes() for p in library.seeds_dir.iterdir()}, library.index

    def broken(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(retrieval.collection.Collection, "_changed", broken)
    for article_id in ("library", "new"):  # a correction, and an addition
        report = await library.publish(article_id, ARTICLE.replace("صد", "سی").encode(), suffix=".txt")
        assert report.outcome is Outcome.FAILED and not report.ok
        assert {p.name: p.read_bytes() for p in library.seeds_dir.iterdir()} == before
        assert library.index is index
    removal = await library.remove("library")
    assert removal.outcome is Outcome.FAILED
    assert {p.name: p.read_bytes() for p in library.seeds_dir.iterdir()} == before


async def test_a_removal_that_fails_puts_a_link_back(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_seed(library.seeds_dir, "real.txt", ARTICLE)
    (library.seeds_dir / "linked.txt").symlink_to(target.name)
    assert (await library.reload()).ok

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk")

    monkeypatch.setattr(retrieval.collection.Collection, "_changed", broken)
    assert (await library.remove("linked")).outcome is Outcome.FAILED
    assert os.readlink(library.seeds_dir / "linked.txt") == "real.txt"


async def test_remove_unknown_last_and_held(library: Library) -> None:
    assert (await library.remove("nothing")).outcome is Outcome.NOT_FOUND
    assert (await library.remove(SEED_ARTICLE)).outcome is Outcome.LAST
    assert names(library.seeds_dir) == {f"{SEED_ARTICLE}.txt"}
    for n in range(5):
        await library.publish(f"a{n}", ARTICLE.encode())
    for n in range(3):  # gone behind the bot's back (a folder half copied)
        (library.seeds_dir / f"a{n}.txt").unlink()
    index = library.index
    held = await library.publish("b", ARTICLE.encode())
    assert held.outcome is Outcome.HELD and held.missing == 3
    assert "b.txt" not in names(library.seeds_dir) and library.index is index


async def test_writers_take_turns(library: Library) -> None:
    added = await asyncio.gather(*(library.publish(f"n{i}", ARTICLE.encode()) for i in range(4)))
    assert [r.outcome for r in added] == [Outcome.ADDED] * 4
    reload, removal, publication = await asyncio.gather(
        library.reload(), library.remove(SEED_ARTICLE), library.publish("n0", ARTICLE.replace("صد", "سی").encode())
    )
    assert reload.ok and removal.outcome is Outcome.REMOVED and publication.outcome is Outcome.REPLACED
    assert {a.id for a in library.index.articles} == {f"n{i}" for i in range(4)}
    assert {a.id for a in load_seeds(library.seeds_dir).articles} == {f"n{i}" for i in range(4)}


async def test_recent_lists_the_newest_files_first(library: Library) -> None:
    await library.publish("first", ARTICLE.encode())
    os.utime(library.seeds_dir / "first.txt", (time.time() - 60, time.time() - 60))
    await library.publish("second", ARTICLE.encode())
    assert [info.id for info, _ in library.recent(2)] == ["second", "first"]


# -- settings -----------------------------------------------------------------------------------------


def test_channel_ids_from_the_environment() -> None:
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_CHANNEL_IDS": " -1001, -1002 ,"})
    assert settings.channel_ids == frozenset({-1001, -1002})
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).channel_ids == frozenset()


@pytest.mark.parametrize("value", ["1001234567890", "abc", "-", "\u2212100123", "-100١٢", "-0", "@outlet"])
def test_bad_channel_ids_are_a_clear_error(value: str) -> None:
    with pytest.raises(SettingsError, match="PASOKH_CHANNEL_IDS") as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_CHANNEL_IDS": value})
    assert "-1001234567890" in str(raised.value) and "\n" not in str(raised.value)


def test_files_are_downloaded_beside_the_bot_api() -> None:
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).file_base_url == "https://api.telegram.org/file/bot"
    local = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081"})
    assert local.file_base_url == "http://127.0.0.1:8081/file/bot"


async def test_a_failed_publication_over_a_link_puts_the_link_back(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_seed(library.seeds_dir, "real.txt", ARTICLE)
    (library.seeds_dir / "linked.txt").symlink_to(target.name)
    assert (await library.reload()).ok

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk")

    monkeypatch.setattr(retrieval.collection.Collection, "_changed", broken)
    assert (await library.publish("linked", ARTICLE.replace("صد", "سی").encode())).outcome is Outcome.FAILED
    assert os.readlink(library.seeds_dir / "linked.txt") == "real.txt"
    assert target.read_text(encoding="utf-8") == ARTICLE  # the link's target was never written through


async def test_a_publication_cancelled_mid_way_holds_its_turn_until_its_thread_ends(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    started, go_on = threading.Event(), threading.Event()
    build = retrieval.collection.build_index

    def slow(*args: object, **kwargs: object) -> object:
        started.set()
        go_on.wait(10)
        return build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retrieval.collection, "build_index", slow)
    first = asyncio.ensure_future(library.publish("a", ARTICLE.encode()))
    await asyncio.to_thread(started.wait, 10)
    first.cancel()
    second = asyncio.ensure_future(library.publish("b", ARTICLE.encode()))
    await asyncio.sleep(0.1)
    assert not first.done() and not second.done()  # the first still writes; the second waits its turn
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).outcome is Outcome.ADDED
    assert {"a", "b"} <= {a.id for a in library.index.articles}  # the folder holds both: so does the index
