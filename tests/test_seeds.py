"""Seed files: the header, continuation lines, files without a header, and files that cannot be used."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

import retrieval.seeds as seeds_module
from bot.testing.processes import SEEDS
from bot.testing.seed_questions import SEED_ARTICLE
from retrieval import Flawed, SeedsError, load_seeds
from retrieval.answer import format_date
from retrieval.seeds import Problem, parse_article, parse_date
from retrieval.sentences import split_article
from tests.conftest import write_seed


def test_bundled_seed_article() -> None:
    seeds = load_seeds(SEEDS)
    [article] = seeds.articles
    assert article.id == SEED_ARTICLE
    assert article.title == "بسیج؛ ستون استوار امنیت و همراهی در لرستان"
    assert article.date == dt.date(2025, 11, 26)
    assert seeds.rejected == ()


def test_header_with_leading_spaces_and_title() -> None:
    article = parse_article("a", "   date 2024-03-20 عنوان خبر\nمتن خبر.")
    assert (article.title, article.date, article.paragraphs) == ("عنوان خبر", dt.date(2024, 3, 20), ("متن خبر.",))


def test_header_with_persian_digits() -> None:
    article = parse_article("a", "date ۲۰۲۴-۰۳-۲۰ عنوان\nمتن.")
    assert article.date == dt.date(2024, 3, 20)


# (header date, the day it names, what the row shows)
HEADER_DATES = [
    ("1404-09-05", dt.date(2025, 11, 26), "Jalali, as Persian editors write"),
    ("۱۴۰۴-۰۹-۰۵", dt.date(2025, 11, 26), "Jalali in Persian digits"),
    ("1404/09/05", dt.date(2025, 11, 26), "Jalali with slashes"),
    ("۱۴۰۴/۹/۵", dt.date(2025, 11, 26), "one-digit month and day"),
    ("1300-01-01", dt.date(1921, 3, 21), "the first year read as Jalali"),
    ("1499-12-29", dt.date(2121, 3, 20), "the last year read as Jalali"),
    ("1403-12-30", dt.date(2025, 3, 20), "a Jalali leap day"),
    ("2025-11-26", dt.date(2025, 11, 26), "Gregorian"),
    ("۲۰۲۵/۱۱/۲۶", dt.date(2025, 11, 26), "Gregorian in Persian digits, with slashes"),
    ("1500-01-01", dt.date(1500, 1, 1), "a year past the Jalali ones is Gregorian"),
    ("1299-12-31", dt.date(1299, 12, 31), "and one before them"),
]


@pytest.mark.parametrize(("raw", "day", "shows"), HEADER_DATES, ids=[c[2] for c in HEADER_DATES])
def test_header_dates(raw: str, day: dt.date, shows: str) -> None:
    assert parse_date(raw) == day
    assert parse_article("a", f"date {raw} عنوان\nمتن.").date == day


def test_a_jalali_header_is_shown_in_both_calendars() -> None:
    article = parse_article("a", "date 1404-09-05 عنوان\nمتن.")
    assert article.date is not None
    assert format_date(article.date) == "۵ آذر ۱۴۰۴ (۲۶ نوامبر ۲۰۲۵)"


# (header date, part of the reason, what the row shows)
BAD_DATES = [
    ("2026-13-45", "is no day of the Gregorian calendar", "month 13"),
    ("1404-13-01", "is no day of the Jalali calendar", "Jalali month 13"),
    ("1404-12-30", "is no day of the Jalali calendar", "Esfand 30 of a common year"),
    ("1404-09/05", "is not YYYY-MM-DD", "mixed separators"),
    ("yesterday", "is not YYYY-MM-DD", "not a date"),
]


@pytest.mark.parametrize(("raw", "reason", "shows"), BAD_DATES, ids=[c[2] for c in BAD_DATES])
def test_a_header_date_that_is_no_date_is_reported_and_the_article_loads(
    tmp_path: Path, raw: str, reason: str, shows: str
) -> None:
    write_seed(tmp_path, "bad.txt", f"date {raw} عنوان\nمتن خبر.")
    write_seed(tmp_path, "good.txt", "date 1404-09-05 عنوان\nمتن خبر.")
    seeds = load_seeds(tmp_path)
    assert [(a.id, a.title, a.date) for a in seeds.articles] == [
        ("bad", "عنوان", None),
        ("good", "عنوان", dt.date(2025, 11, 26)),
    ]
    assert seeds.rejected == ()
    [flawed] = seeds.flawed
    assert (flawed.name, flawed.problem) == ("bad.txt", Problem.BAD_DATE)
    assert f"header date {raw!r} {reason}" in flawed.reason
    assert flawed.reason.endswith("loaded without a date")
    assert isinstance(flawed, Flawed)


def test_without_header_the_first_line_is_the_title() -> None:
    article = parse_article("a", "عنوان بدون تاریخ\nپاراگراف اول.\nپاراگراف دوم.")
    assert article.title == "عنوان بدون تاریخ"
    assert article.date is None
    assert article.paragraphs == ("پاراگراف اول.", "پاراگراف دوم.")


def test_invalid_header_date_leaves_the_date_unknown() -> None:
    article = parse_article("a", "date 2024-13-45 عنوان\nمتن.")
    assert (article.title, article.date) == ("عنوان", None)


def test_line_starting_with_punctuation_continues_the_previous_one() -> None:
    article = parse_article("a", "عنوان\nبه گزارش خبرگزاری\n، سردار گفت.\nپاراگراف بعد.")
    assert article.paragraphs == ("به گزارش خبرگزاری، سردار گفت.", "پاراگراف بعد.")


def test_the_seed_articles_broken_line_is_mended() -> None:
    [article] = load_seeds(SEEDS).articles
    assert any("سیمای استان لرستان، سردار «محمدرضا هاشمیفر»" in p for p in article.paragraphs)


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    write_seed(tmp_path, "bom.txt", "\ufeffdate 2025-01-02 عنوان\nمتن.".encode())
    [article] = load_seeds(tmp_path).articles
    assert (article.title, article.date) == ("عنوان", dt.date(2025, 1, 2))


def test_markdown_file(tmp_path: Path) -> None:
    write_seed(tmp_path, "note.md", "# عنوان مقاله\n\n**متن** پررنگ.\n- بند فهرست.")
    [article] = load_seeds(tmp_path).articles
    assert article.title == "عنوان مقاله"
    assert article.paragraphs == ("متن پررنگ.", "بند فهرست.")


def test_files_load_in_name_order_with_ids_from_names(tmp_path: Path) -> None:
    for name in ("b.txt", "a.md", "c.txt"):
        write_seed(tmp_path, name, f"عنوان {name}\nمتن.")
    write_seed(tmp_path, "notes.docx", "ignored")
    write_seed(tmp_path, ".hidden.txt", "ignored")
    assert [a.id for a in load_seeds(tmp_path).articles] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\n", "empty file"),
        (b"\x00\x01\x02binary\x00", "binary file (contains NUL bytes)"),
        ("عنوان\nمتن".encode("cp1256"), "not UTF-8 text (invalid byte 0xda at offset 0)"),
        ("فقط عنوان".encode(), "no text after the title line"),
    ],
    ids=["empty", "blank", "binary", "windows-1256", "title only"],
)
def test_bad_file_is_named_with_its_reason_and_the_rest_load(tmp_path: Path, content: bytes, reason: str) -> None:
    write_seed(tmp_path, "bad.txt", content)
    write_seed(tmp_path, "good.txt", "عنوان\nمتن خوب.")
    seeds = load_seeds(tmp_path)
    assert [a.id for a in seeds.articles] == ["good"]
    assert [(r.name, r.reason) for r in seeds.rejected] == [("bad.txt", reason)]


def test_dangling_link_is_reported(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    write_seed(tmp_path, "good.txt", "عنوان\nمتن.")
    seeds = load_seeds(tmp_path)
    assert [(r.name, r.reason) for r in seeds.rejected] == [("gone.txt", "broken symbolic link")]


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write_seed(tmp_path, "locked.txt", "عنوان\nمتن.")
    write_seed(tmp_path, "good.txt", "عنوان\nمتن.")
    if os.geteuid() == 0:
        # root reads whatever the mode says: make the read itself fail as it would for anyone else.
        real_read = seeds_module._read_regular

        def read_regular(real: Path) -> bytes:
            if real == locked.resolve():
                raise PermissionError(13, "Permission denied")
            return real_read(real)

        monkeypatch.setattr(seeds_module, "_read_regular", read_regular)
    else:
        locked.chmod(0)
    seeds = load_seeds(tmp_path)
    assert [(r.name, r.reason) for r in seeds.rejected] == [("locked.txt", "cannot be read: permission denied")]
    assert [a.id for a in seeds.articles] == ["good"]


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    write_seed(tmp_path, "same.md", "عنوان یک\nمتن.")
    write_seed(tmp_path, "same.txt", "عنوان دو\nمتن.")
    seeds = load_seeds(tmp_path)
    assert [a.title for a in seeds.articles] == ["عنوان یک"]
    assert seeds.rejected[0].name == "same.txt"


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(SeedsError, match="seeds folder not found"):
        load_seeds(tmp_path / "nowhere")


def test_folder_with_nothing_loadable_raises(tmp_path: Path) -> None:
    write_seed(tmp_path, "bad.txt", b"\x00")
    with pytest.raises(SeedsError, match=r"no article could be loaded .*1 file\(s\) rejected"):
        load_seeds(tmp_path)


def test_changed_content_changes_the_fingerprint(tmp_path: Path) -> None:
    write_seed(tmp_path, "a.txt", "عنوان\nمتن.")
    before = load_seeds(tmp_path).fingerprint
    assert load_seeds(tmp_path).fingerprint == before
    write_seed(tmp_path, "a.txt", "عنوان\nمتن دیگر.")
    assert load_seeds(tmp_path).fingerprint != before


# -- sentences ------------------------------------------------------------------------------------


def test_header_never_fuses_with_the_lead() -> None:
    [article] = load_seeds(SEEDS).articles
    sentences = split_article(article, 0)
    assert sentences[0].text.startswith("فرمانده انتظامی استان لرستان در دیدار")
    assert not any("date" in s.text or "2025" in s.text for s in sentences)


def test_sentences_know_their_article_paragraph_and_position() -> None:
    article = parse_article("a", "عنوان\nجمله یک. جمله دو!\nجمله سه؟")
    sentences = split_article(article, 7)
    assert [(s.article, s.paragraph, s.position, s.text) for s in sentences] == [
        (7, 0, 0, "جمله یک."),
        (7, 0, 1, "جمله دو!"),
        (7, 1, 2, "جمله سه؟"),
    ]


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("حضرت علی (ع.) فرمود. او رفت.", ["حضرت علی (ع.) فرمود.", "او رفت."]),
        ("دکتر ع. محمدی آمد. جلسه تمام شد.", ["دکتر ع. محمدی آمد.", "جلسه تمام شد."]),
        ("او گفت: «سلام. خوبی؟» و رفت. بعد برگشت.", ["او گفت: «سلام. خوبی؟» و رفت.", "بعد برگشت."]),
        ("نرخ تورم ۱۲.۵ درصد شد. خبر تمام.", ["نرخ تورم ۱۲.۵ درصد شد.", "خبر تمام."]),
        ("بدون نقطه پایانی", ["بدون نقطه پایانی"]),
    ],
    ids=["abbreviation in parentheses", "initial", "quotation", "decimal", "no final stop"],
)
def test_sentence_splitting(paragraph: str, expected: list[str]) -> None:
    from retrieval.sentences import split_paragraph

    assert split_paragraph(paragraph) == expected
