"""Seed files on disk as they come: each unusable file named with its reason, the rest served, and the
previous index kept when nothing loads.

Encodings, decided: UTF-8 (with or without a BOM) is the format. UTF-16 and UTF-32 *with* a byte order mark
are read as well: the BOM says unambiguously how to decode them, and Windows Notepad saves «Unicode» that
way, so rejecting them would only make an editor re-save a file we can read. UTF-16 *without* a BOM is
rejected with a reason that says so: its byte order is a guess. Windows-1256 and other 8-bit code pages are
rejected as not UTF-8: they cannot be told apart reliably.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import retrieval.seeds as seeds_module
from bot.cli import main
from bot.library import Library
from retrieval import SeedsError, SeedSet, build_index, load_seeds
from retrieval.answer import answer
from retrieval.seeds import MAX_FILE_BYTES, Problem
from tests.conftest import write_seed

GOOD = "date 2025-01-01 زلزله کرمان\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.\n"
ARTICLE = "عنوان خبر\nمتن خبر درباره سیل گلستان.\n"
ARABIC_YEH = ARTICLE.replace("ی", "ي")  # Windows-1256 has only the Arabic yeh
ARABIC = "عنوان الخبر\nنص الخبر.\n"  # ISO-8859-6 has no Persian letters
IS_ROOT = os.geteuid() == 0


def _good_folder(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    write_seed(folder, "good.txt", GOOD)
    return folder


def _rejected(folder: Path) -> dict[str, tuple[str, Problem]]:
    seeds = load_seeds(folder)
    assert [a.id for a in seeds.articles] == ["good"]
    return {r.name: (r.reason, r.problem) for r in seeds.rejected}


# -- contents -------------------------------------------------------------------------------------

# (file bytes, reason, problem, what the row shows)
BAD_CONTENT = [
    (ARABIC_YEH.encode("cp1256"), "not UTF-8 text (invalid byte 0xda at offset 0)", Problem.NOT_UTF8, "Windows-1256"),
    (ARABIC.encode("iso8859_6"), "not UTF-8 text (invalid byte 0xd9 at offset 0)", Problem.NOT_UTF8, "ISO-8859-6"),
    ("Café\n".encode("latin-1"), "not UTF-8 text (invalid byte 0xe9 at offset 3)", Problem.NOT_UTF8, "Latin-1"),
    (
        ARTICLE.encode("utf-16-le"),
        "UTF-16 text without a byte order mark: save it as UTF-8",
        Problem.NOT_UTF8,
        "UTF-16 LE without BOM",
    ),
    (
        ARTICLE.encode("utf-16-be"),
        "UTF-16 text without a byte order mark: save it as UTF-8",
        Problem.NOT_UTF8,
        "UTF-16 BE without BOM",
    ),
    (ARTICLE.encode("utf-16")[:-1], "binary file (contains NUL bytes)", Problem.BINARY, "UTF-16 BOM, odd length"),
    (b"\xff\xfe\x00binary", "binary file (contains NUL bytes)", Problem.BINARY, "UTF-16 BOM then binary"),
    (b"\xff\xfe\xd8\xd8", "not UTF-8 text (invalid byte 0xff at offset 0)", Problem.NOT_UTF8, "BOM, lone surrogate"),
    ("\ufeff\0\0binary".encode("utf-16"), "binary file (contains NUL characters)", Problem.BINARY, "BOM then NULs"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file (contains NUL bytes)", Problem.BINARY, "a PNG"),
    (bytes(range(128, 256)), "not UTF-8 text (invalid byte 0x80 at offset 0)", Problem.NOT_UTF8, "high bytes, no NUL"),
    ("عنوان\nمتن\0خبر.\n".encode(), "binary file (contains NUL bytes)", Problem.BINARY, "NUL bytes in UTF-8 text"),
    (b"", "empty file", Problem.EMPTY, "empty"),
    (b" \n\t\r\n  \n", "empty file", Problem.EMPTY, "ASCII whitespace only"),
    ("\u00a0\u2003\n\u3000\u202f\n".encode(), "empty file", Problem.EMPTY, "Unicode spaces only"),
    ("\u200c\u200f\n\u200e\ufeff\n".encode(), "empty file", Problem.EMPTY, "ZWNJ and bidi marks only"),
    ("\ufeff".encode(), "empty file", Problem.EMPTY, "a BOM only"),
    ("\ufeff".encode("utf-16"), "empty file", Problem.EMPTY, "a UTF-16 BOM only"),
    ("فقط عنوان\n\u2003\n".encode(), "no text after the title line", Problem.NO_BODY, "title and a blank line"),
]


@pytest.mark.parametrize(("content", "reason", "problem", "shows"), BAD_CONTENT, ids=[c[3] for c in BAD_CONTENT])
def test_bad_content_is_named_with_its_reason(
    tmp_path: Path, content: bytes, reason: str, problem: Problem, shows: str
) -> None:
    write_seed(_good_folder(tmp_path), "bad.txt", content)
    assert _rejected(tmp_path) == {"bad.txt": (reason, problem)}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-bom", "utf-32", "utf-8-sig"])
def test_unicode_with_a_byte_order_mark_is_read(tmp_path: Path, codec: str) -> None:
    """The BOM says how to decode: Notepad's «Unicode» (UTF-16 LE with BOM) loads like UTF-8."""
    data = ("\ufeff" + ARTICLE).encode("utf-16-be") if codec == "utf-16-be-bom" else ARTICLE.encode(codec)
    write_seed(tmp_path, "unicode.txt", data)
    [article] = load_seeds(tmp_path).articles
    assert (article.title, article.paragraphs) == ("عنوان خبر", ("متن خبر درباره سیل گلستان.",))
    assert answer(build_index(load_seeds(tmp_path)), "سیل گلستان").answered


def test_a_50_mb_file_is_rejected_from_its_size_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _good_folder(tmp_path)
    with (tmp_path / "big.txt").open("wb") as big:
        big.truncate(50 * 1024 * 1024)  # sparse: 50 MB by its size, nothing on disk
    real_read = seeds_module._read_regular

    def read_regular(real: Path) -> bytes:
        assert real.name != "big.txt", "the 50 MB file was read"
        return real_read(real)

    monkeypatch.setattr(seeds_module, "_read_regular", read_regular)
    started = time.perf_counter()
    rejected = _rejected(tmp_path)
    assert time.perf_counter() - started < 1.0
    assert rejected == {"big.txt": ("too large: 52.4 MB (limit 10 MB)", Problem.TOO_LARGE)}


def test_a_file_that_grows_past_the_limit_while_read_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _good_folder(tmp_path)
    write_seed(tmp_path, "growing.txt", ARTICLE)
    real_read = seeds_module._read_regular
    monkeypatch.setattr(
        seeds_module,
        "_read_regular",
        lambda real: b"x" * (MAX_FILE_BYTES + 1) if real.name == "growing.txt" else real_read(real),
    )
    assert _rejected(tmp_path) == {"growing.txt": ("too large: 10.5 MB (limit 10 MB)", Problem.TOO_LARGE)}


# -- kinds of file --------------------------------------------------------------------------------


def _dangling(folder: Path) -> None:
    (folder / "x.txt").symlink_to(folder / "missing.txt")


def _loop(folder: Path) -> None:
    (folder / "x.txt").symlink_to(folder / "y.txt")
    (folder / "y.txt").symlink_to(folder / "x.txt")


def _self_loop(folder: Path) -> None:
    (folder / "x.txt").symlink_to(folder / "x.txt")


def _through_a_file(folder: Path) -> None:
    (folder / "x.txt").symlink_to(folder / "good.txt" / "inside.txt")  # ENOTDIR


def _folder(folder: Path) -> None:
    (folder / "x.txt").mkdir()
    write_seed(folder / "x.txt", "inner.txt", ARTICLE)


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "x.txt")  # reading it would block forever


def _device(folder: Path) -> None:
    (folder / "x.txt").symlink_to("/dev/zero")  # reading it would never end


# (make the file, {name: (reason, problem)}, what the row shows)
KINDS: list[tuple[Callable[[Path], None], dict[str, tuple[str, Problem]], str]] = [
    (_dangling, {"x.txt": ("broken symbolic link", Problem.BROKEN_LINK)}, "dangling link"),
    (
        _loop,
        {"x.txt": ("symbolic link loop", Problem.BROKEN_LINK), "y.txt": ("symbolic link loop", Problem.BROKEN_LINK)},
        "link loop",
    ),
    (_self_loop, {"x.txt": ("symbolic link loop", Problem.BROKEN_LINK)}, "link to itself"),
    (_through_a_file, {"x.txt": ("broken symbolic link", Problem.BROKEN_LINK)}, "link through a file"),
    (_folder, {"x.txt": ("a folder, not a file", Problem.NOT_A_FILE)}, "folder named x.txt"),
    (_fifo, {"x.txt": ("not a regular file (a device, pipe or socket)", Problem.NOT_A_FILE)}, "named pipe"),
    # /dev/null lies outside the seeds folder: that is the first reason to skip it.
    (_device, {"x.txt": ("a symbolic link to a file outside the seeds folder", Problem.OUTSIDE)}, "link to a device"),
]


@pytest.mark.parametrize(("make", "expected", "shows"), KINDS, ids=[k[2] for k in KINDS])
def test_file_kinds_are_named_with_their_reason(
    tmp_path: Path, make: Callable[[Path], None], expected: dict[str, tuple[str, Problem]], shows: str
) -> None:
    make(_good_folder(tmp_path))
    assert _rejected(tmp_path) == expected


def test_a_file_without_read_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write_seed(_good_folder(tmp_path), "locked.txt", ARTICLE)
    if IS_ROOT:
        # root reads whatever the mode says: make the read fail as it would for anyone else.
        real_read = seeds_module._read_regular

        def read_regular(real: Path) -> bytes:
            if real == locked.resolve():
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_read(real)

        monkeypatch.setattr(seeds_module, "_read_regular", read_regular)
    else:
        locked.chmod(0)
    assert _rejected(tmp_path) == {"locked.txt": ("cannot be read: permission denied", Problem.UNREADABLE)}


def test_other_read_errors_are_named_with_the_systems_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_seed(_good_folder(tmp_path), "flaky.txt", ARTICLE)
    real_read = seeds_module._read_regular

    def read_regular(real: Path) -> bytes:
        if real.name == "flaky.txt":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(real)

    monkeypatch.setattr(seeds_module, "_read_regular", read_regular)
    assert _rejected(tmp_path) == {"flaky.txt": (f"cannot be read: {os.strerror(errno.EIO)}", Problem.UNREADABLE)}


def test_a_file_name_that_is_not_utf8_is_named_and_loading_goes_on(tmp_path: Path) -> None:
    """Once a traceback: the id «\\udcff» could not be encoded for the index's fingerprint."""
    _good_folder(tmp_path)
    try:
        (tmp_path / os.fsdecode(b"\xff\xfe.txt")).write_bytes(ARTICLE.encode())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    reason = "the file name is not UTF-8 or has control characters: rename it"
    assert _rejected(tmp_path) == {"\ufffd\ufffd.txt": (reason, Problem.BAD_NAME)}
    build_index(load_seeds(tmp_path))  # the good article still builds


# -- the folder changing under the load ------------------------------------------------------------


def _after_listing(monkeypatch: pytest.MonkeyPatch, then: Callable[[Path], None]) -> None:
    """Run ``then(folder)`` right after the seed files are listed, before any is read."""
    real_seed_files = seeds_module.seed_files

    def seed_files(folder: Path) -> list[Path]:
        paths = real_seed_files(folder)
        then(folder)
        return paths

    monkeypatch.setattr(seeds_module, "seed_files", seed_files)


def test_a_file_deleted_between_listing_and_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_seed(_good_folder(tmp_path), "gone.txt", ARTICLE)
    _after_listing(monkeypatch, lambda folder: (folder / "gone.txt").unlink())
    assert _rejected(tmp_path) == {"gone.txt": ("disappeared while loading", Problem.VANISHED)}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FileNotFoundError(errno.ENOENT, "gone"), ("disappeared while loading", Problem.VANISHED)),
        (IsADirectoryError(errno.EISDIR, "folder"), ("a folder, not a file", Problem.NOT_A_FILE)),
    ],
    ids=["deleted", "replaced by a folder"],
)
def test_a_file_changed_between_its_size_check_and_its_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: tuple[str, Problem]
) -> None:
    write_seed(_good_folder(tmp_path), "x.txt", ARTICLE)
    real_read = seeds_module._read_regular

    def read_regular(real: Path) -> bytes:
        if real.name == "x.txt":
            raise error
        return real_read(real)

    monkeypatch.setattr(seeds_module, "_read_regular", read_regular)
    assert _rejected(tmp_path) == {"x.txt": expected}


@pytest.mark.parametrize("swap", ["a FIFO", "a link out of the folder"])
def test_a_file_swapped_after_its_look_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    """Between the look (stat) and the read, the file becomes a FIFO (whose open would block until a writer
    came) or a link to a file outside the folder."""
    seeds = _good_folder(tmp_path / "seeds")
    write_seed(seeds, "x.txt", ARTICLE)
    secret = tmp_path / "secret.txt"
    secret.write_text("تنظیمات\nTELEGRAM_BOT_TOKEN=123:secret-value است.\n", encoding="utf-8")
    real_stat = Path.stat

    def stat_then_swap(self: Path, **kwargs: Any) -> os.stat_result:
        looked = real_stat(self, **kwargs)
        if self.name == "x.txt" and stat.S_ISREG(looked.st_mode):
            self.unlink()
            os.mkfifo(self) if swap == "a FIFO" else self.symlink_to(secret)
        return looked

    monkeypatch.setattr(Path, "stat", stat_then_swap)
    result: list[SeedSet] = []
    loading = threading.Thread(target=lambda: result.append(load_seeds(seeds)), daemon=True)
    loading.start()
    loading.join(10)
    if loading.is_alive():  # blocked in open(): a writer lets it go, and the test fails
        with (seeds / "x.txt").open("w"):
            pass
        loading.join(10)
        pytest.fail("loading blocked on a FIFO swapped in after the look")
    [loaded] = result
    assert [r.name for r in loaded.rejected] == ["x.txt"]
    assert all("secret-value" not in p for a in loaded.articles for p in a.paragraphs)


def test_the_folder_deleted_between_listing_and_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = _good_folder(tmp_path / "seeds")
    _after_listing(monkeypatch, shutil.rmtree)
    with pytest.raises(SeedsError, match="seeds folder disappeared while loading"):
        load_seeds(seeds)


def test_the_folder_replaced_between_listing_and_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = _good_folder(tmp_path / "seeds")
    write_seed(seeds, "old.txt", ARTICLE)

    def replace(folder: Path) -> None:
        folder.rename(tmp_path / "retired")
        _good_folder(folder)
        write_seed(folder, "new.txt", ARTICLE)  # not listed: the next load finds it

    _after_listing(monkeypatch, replace)
    assert _rejected(seeds) == {"old.txt": ("disappeared while loading", Problem.VANISHED)}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "seeds folder not found"),
        (lambda p: p.write_text("x"), "not a folder"),
        (lambda p: p.symlink_to(p), "seeds folder cannot be read"),
        (lambda p: p.mkdir(), r"no article could be loaded .*\(no \.txt or \.md files\)"),
    ],
    ids=["missing", "a file", "a link loop", "empty"],
)
def test_a_seeds_folder_that_cannot_be_used_is_one_error(
    tmp_path: Path, make: Callable[[Path], None], message: str
) -> None:
    seeds = tmp_path / "seeds"
    make(seeds)
    with pytest.raises(SeedsError, match=message):
        load_seeds(seeds)


# -- through the command line and the bot's library ----------------------------------------------


def _every_bad_file(folder: Path) -> dict[str, str]:
    """Write one of each bad file beside good.txt; return their names and the reason each should get."""
    write_seed(folder, "cp1256.txt", ARABIC_YEH.encode("cp1256"))
    write_seed(folder, "binary.txt", b"\x00\x01\x02")
    write_seed(folder, "empty.md", b"")
    write_seed(folder, "utf16.txt", ARTICLE.encode("utf-16-le"))
    with (folder / "big.txt").open("wb") as big:
        big.truncate(50 * 1024 * 1024)
    _dangling(folder)
    (folder / "dir.md").mkdir()
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    return {
        "cp1256.txt": "not UTF-8 text",
        "binary.txt": "binary file",
        "empty.md": "empty file",
        "utf16.txt": "UTF-16 text without a byte order mark",
        "big.txt": "too large",
        "x.txt": "broken symbolic link",
        "dir.md": "a folder, not a file",
        "loop.txt": "symbolic link loop",
    }


def test_cli_names_every_bad_file_and_answers_from_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _every_bad_file(_good_folder(tmp_path))
    code = main(["ask", "--json", "--seeds", str(tmp_path), "زلزله کرمان چند ریشتر بود؟"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Traceback" not in err
    assert '"answered": true' in out
    for name, reason in expected.items():
        assert f"skipped {name}: {reason}" in err
    assert err.count("skipped ") == len(expected)


async def test_library_reload_reports_bad_files_and_serves_the_rest(tmp_path: Path) -> None:
    seeds = _good_folder(tmp_path / "seeds")
    library = Library(seeds)
    library.open()
    expected = _every_bad_file(seeds)
    write_seed(seeds, "flood.txt", ARTICLE)
    report = await library.reload()
    assert report.ok
    assert report.added == ("flood",)
    assert {r.name for r in report.rejected} == set(expected)
    assert answer(library.index, "سیل گلستان").answered


@pytest.mark.parametrize(
    ("break_folder", "error"),
    [
        (shutil.rmtree, "seeds folder not found"),
        (lambda folder: [p.write_bytes(b"\x00") for p in folder.iterdir()], "no article could be loaded"),
    ],
    ids=["folder removed", "nothing loadable"],
)
async def test_library_keeps_the_old_index_when_nothing_loads(
    tmp_path: Path, break_folder: Callable[[Path], object], error: str
) -> None:
    seeds = _good_folder(tmp_path / "seeds")
    library = Library(seeds)
    old = library.open()
    break_folder(seeds)
    report = await library.reload()
    assert not report.ok
    assert error in (report.error or "")
    assert library.index is old
    assert (report.articles_after, report.sentences_after) == (report.articles_before, report.sentences_before)
    assert answer(library.index, "زلزله کرمان").answered


async def test_library_keeps_the_old_index_when_the_folder_vanishes_mid_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = _good_folder(tmp_path / "seeds")
    library = Library(seeds)
    old = library.open()
    _after_listing(monkeypatch, shutil.rmtree)
    report = await library.reload()
    assert report.error is not None
    assert "seeds folder disappeared while loading" in report.error
    assert library.index is old


def test_a_link_out_of_the_seeds_folder_is_never_read(tmp_path: Path) -> None:
    seeds, outside = tmp_path / "seeds", tmp_path / "etc"
    seeds.mkdir()
    outside.mkdir()
    secret = outside / "pasokh.env"
    secret.write_text("تنظیمات\nTELEGRAM_BOT_TOKEN=123456:secret-token-value است.\n", encoding="utf-8")
    write_seed(seeds, "a_news.txt", GOOD)
    (seeds / "b_env.txt").symlink_to(secret)  # a stranger would ask «TELEGRAM_BOT_TOKEN چیست؟»
    (seeds / "c_passwd.txt").symlink_to("/etc/passwd")
    (seeds / "d_alias.txt").symlink_to(seeds / "a_news.txt")  # a link inside the folder is fine
    loaded = load_seeds(seeds)
    assert sorted(a.id for a in loaded.articles) == ["a_news", "d_alias"]
    assert {(r.name, r.problem) for r in loaded.rejected} == {
        ("b_env.txt", Problem.OUTSIDE),
        ("c_passwd.txt", Problem.OUTSIDE),
    }
    result = answer(build_index(loaded), "TELEGRAM_BOT_TOKEN چیست؟")
    assert not any("secret-token-value" in h.sentence.text for h in result.hits)


def test_every_problem_has_words_for_editors() -> None:
    from bot.conversation.texts import PROBLEMS

    assert set(PROBLEMS) == set(Problem)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("forged\npasokh: loaded 1000 articles.txt", "forged\\npasokh: loaded 1000 articles.txt"),
        ("\u202etxt.exe.txt", "\\u202etxt.exe.txt"),
    ],
)
def test_file_names_that_could_forge_output_or_reorder_text_are_refused_and_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, shown: str
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seed(seeds, "good.txt", GOOD)
    write_seed(seeds, name, "date 2025-01-01\nمتنی که عنوانش نام پرونده می‌شد.")
    assert main(["ask", "--seeds", str(seeds), "زلزله کرمان"]) == 0
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "skipped" in line]  # one line, not a forged second
    assert shown in line and "rename it" in line
    assert "\u202e" not in err


async def test_a_closed_library_stops_loading_and_reloading(tmp_path: Path) -> None:
    from bot.library import Library, Stopping

    for n in range(3):
        write_seed(tmp_path, f"{n}.txt", GOOD)
    library = Library(tmp_path)
    library.open()
    before = library.index
    library.close()  # the bot is stopping: a reload under way gives up at its next file
    report = await library.reload()
    assert not report.ok and "stopped" in (report.error or "")
    assert library.index is before
    with pytest.raises(Stopping):
        _closed(Library(tmp_path)).open()


def _closed(library: Any) -> Any:
    library.close()
    return library
