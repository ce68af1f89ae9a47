"""The `pasokh` command line: the real console script for the contract, in-process for the details."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from bot.testing.processes import PASOKH_COMMAND, ROOT, SEEDS
from bot.testing.seed_questions import COMMANDER, PRIORITY, QUESTION, SEED_ARTICLE
from tests.conftest import write_seed


def run_pasokh(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PASOKH_COMMAND, *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=120,
    )


# -- the real console script --------------------------------------------------------------------


@pytest.mark.slow
def test_ask_answers_from_the_seed_article_with_the_commanders_name() -> None:
    result = run_pasokh("ask", QUESTION)
    assert result.returncode == 0, result.stderr
    assert COMMANDER in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_ask_json_has_exactly_the_documented_shape() -> None:
    result = run_pasokh("ask", "--json", "--top", "2", QUESTION)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    obj = json.loads(line)
    assert set(obj) == {"question", "answered", "confidence", "partial", "reply", "passages"}
    assert obj["question"] == QUESTION
    assert obj["answered"] is True
    assert COMMANDER in obj["reply"]
    assert len(obj["passages"]) == 2
    for passage in obj["passages"]:
        assert set(passage) == {"text", "answer_phrase", "score", "article", "sentence"}
        assert passage["answer_phrase"] is None  # «کیست»: a person, not marked
        assert set(passage["article"]) == {"id", "title", "date"}
        assert isinstance(passage["score"], float)
        assert isinstance(passage["sentence"], int)
    assert obj["passages"][0]["article"] == {
        "id": SEED_ARTICLE,
        "title": "بسیج؛ ستون استوار امنیت و همراهی در لرستان",
        "date": "2025-11-26",
    }


@pytest.mark.slow
def test_ask_reads_one_question_a_line_from_stdin(tmp_path: Path) -> None:
    result = run_pasokh("ask", "--json", "-", stdin=f"{QUESTION}\nسلام\n\nقیمت دلار و سکه در بازار چند است؟\n")
    assert result.returncode == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["answered"] for o in objs] == [True, False, False, False]
    assert objs[1]["passages"] == []
    assert objs[2]["passages"] == []
    assert objs[2]["reply"].startswith("لطفاً پرسش خود را بنویسید")


@pytest.mark.slow
def test_missing_seeds_folder_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_pasokh("ask", "--seeds", str(tmp_path / "nowhere"), QUESTION)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "seeds folder not found" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_index_build_then_ask_and_stats_from_it(tmp_path: Path) -> None:
    out = tmp_path / "index"
    built = run_pasokh("index", "build", "--seeds", str(SEEDS), "--out", str(out))
    assert built.returncode == 0, built.stderr
    asked = run_pasokh("ask", "--index", str(out), "--json", PRIORITY)
    assert json.loads(asked.stdout)["passages"][0]["sentence"] == 6  # ranked from the saved index
    stats = run_pasokh("index", "stats", "--index", str(out))
    assert stats.returncode == 0
    assert "articles           1" in stats.stdout
    assert "sentences          13" in stats.stdout


@pytest.mark.slow
def test_chat_answers_in_the_terminal_and_exits_on_end_of_input() -> None:
    result = run_pasokh("chat", stdin=f"{QUESTION}\nسلام\n")
    assert result.returncode == 0, result.stderr
    assert COMMANDER in result.stdout
    assert "پرسش خود را" in result.stdout
    assert "\u200f" in result.stdout  # lines are marked right-to-left


# -- in process ----------------------------------------------------------------------------------


def _ask_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["ask", "--json", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_bad_seed_files_are_named_and_the_rest_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_seed(tmp_path, "binary.txt", b"\x00\x01")
    write_seed(tmp_path, "latin1.txt", "caf\xe9".encode("latin-1"))
    write_seed(tmp_path, "empty.txt", "")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    write_seed(tmp_path, "good.txt", "date 2025-01-01 زلزله\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.")
    code, [obj], err = _ask_json(capsys, "--seeds", str(tmp_path), "زلزله کرمان چند ریشتر بود؟")
    assert code == 0
    assert obj["answered"]
    assert obj["passages"][0]["article"]["id"] == "good"
    for name, reason in [
        ("binary.txt", "binary file"),
        ("latin1.txt", "not UTF-8"),
        ("empty.txt", "empty file"),
        ("dangling.txt", "broken symbolic link"),
    ]:
        assert f"skipped {name}: {reason}" in err


def test_json_marks_the_number_asked_for_in_each_passage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_seed(tmp_path, "quake.txt", "date 2025-01-01 زلزله\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.")
    _, [asked], _ = _ask_json(capsys, "--seeds", str(tmp_path), "زلزله کرمان چند ریشتر بود؟")
    [passage] = asked["passages"]
    phrase = passage["answer_phrase"]
    assert phrase == {"text": "۵ ریشتر", "start": phrase["start"], "end": phrase["end"]}
    assert passage["text"][phrase["start"] : phrase["end"]] == "۵ ریشتر"
    _, [other], _ = _ask_json(capsys, "--seeds", str(tmp_path), "زلزله کرمان را لرزاند")  # asks for no number
    assert other["passages"][0]["answer_phrase"] is None


def test_a_header_date_that_is_no_date_is_named_and_the_article_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_seed(tmp_path, "bad.txt", "date 2026-13-45 زلزله\nزلزله‌ای به بزرگی ۵ ریشتر کرمان را لرزاند.")
    code, [obj], err = _ask_json(capsys, "--seeds", str(tmp_path), "زلزله کرمان چند ریشتر بود؟")
    assert code == 0
    assert obj["passages"][0]["article"] == {"id": "bad", "title": "زلزله", "date": None}
    assert "warning: bad.txt: header date '2026-13-45' is no day of the Gregorian calendar" in err
    assert "loaded without a date" in err


def test_no_loadable_seed_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_seed(tmp_path, "binary.txt", b"\x00")
    assert main(["ask", "--seeds", str(tmp_path), QUESTION]) == 2
    err = capsys.readouterr().err
    assert "no article could be loaded" in err
    assert "Traceback" not in err


def test_bad_index_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--index", str(tmp_path), QUESTION]) == 2
    assert "not a saved index" in capsys.readouterr().err


@pytest.mark.parametrize("question", ["", "   ", "؟؟؟", "😀", "<script>alert(1)</script>", "x" * 5000])
def test_odd_questions_get_a_persian_reply(question: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, [obj], _ = _ask_json(capsys, "--seeds", str(SEEDS), question)
    assert code == 0
    assert obj["answered"] is False
    assert obj["reply"]


def test_top_must_be_a_small_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", "--top", "0", QUESTION])
    assert exit_info.value.code == 2
    assert "between 1 and 50" in capsys.readouterr().err


def test_seeds_and_index_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ask", "--seeds", "a", "--index", "b", QUESTION])
    assert "not allowed with" in capsys.readouterr().err


def test_default_seeds_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_seed(tmp_path, "only.txt", "عنوان\nدر این خبر از زلزله کرمان گفته شد.")
    monkeypatch.setenv("PASOKH_SEEDS_DIR", str(tmp_path))
    _, [obj], _ = _ask_json(capsys, "زلزله کرمان")
    assert obj["passages"][0]["article"]["id"] == "only"
