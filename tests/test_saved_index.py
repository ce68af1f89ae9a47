"""A damaged saved index is refused at load, in one line and in time, and saves never mix two indexes.

The table of damage is ``bot.testing.damage`` (also run by ``python -m benchmarks.store_faults``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.cli import main
from bot.library import Library
from bot.testing import damage
from bot.testing.processes import PASOKH_COMMAND, ROOT, SEEDS, pasokh_environment
from retrieval import Index, IndexFileError, build_index, folders, load_seeds
from retrieval.store import CHECKSUM, DTYPES, FILES, FORMAT, load_index, save_index

TIME_LIMIT = 5.0
"""Seconds any case may take to load (or be refused); a hang shows as HUNG after 10."""


def _write_seeds(folder: Path, *, extra: bool = True) -> Path:
    folder.mkdir(parents=True)
    for path in SEEDS.iterdir():
        shutil.copy(path, folder)
    if extra:
        for name, text in damage.EXTRA_ARTICLES.items():
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[object]]:
    """Seeds with three articles, their index saved intact, and what it serves."""
    root = tmp_path_factory.mktemp("saved")
    seeds = _write_seeds(root / "seeds")
    index = build_index(load_seeds(seeds))
    save_index(index, root / "intact")
    expected = damage.answers(index)
    assert damage.answers(load_index(root / "intact")) == expected
    return seeds, root / "intact", expected


def _damaged_copy(intact: Path, tmp_path: Path, case_name: str) -> Path:
    [case] = [c for c in damage.cases() if c.name == case_name]
    folder = tmp_path / "index"
    shutil.copytree(intact, folder)
    case.damage(folder)
    return folder


# -- the table -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for all the table's cases (a ``tmp_path`` each costs more than the case)."""
    return tmp_path_factory.mktemp("cases")


_READ_ALIKE = ("manifest.json", "articles.json", "sentence_article.npy")
"""One file of each way the loader reads one: the manifest, a JSON file, a memory-mapped array."""


def _table() -> list[Any]:
    """The whole table. A damage done alike to every file (missing, empty, a FIFO, a byte changed...) runs
    in the fast tier on ``_READ_ALIKE`` and on the other files with ``-m slow`` (about 280 of 460 cases)."""
    table = damage.cases()
    files: dict[str, set[str]] = {}
    for case in table:
        file, _, kind = case.name.partition(": ")
        files.setdefault(kind, set()).add(file)
    alike = {kind for kind, damaged in files.items() if damaged >= {"manifest.json", *FILES}}

    def tier(case: damage.Case) -> list[pytest.MarkDecorator]:
        file, _, kind = case.name.partition(": ")
        return [pytest.mark.slow] if kind in alike and file not in _READ_ALIKE else []

    return [pytest.param(case, id=case.name, marks=tier(case)) for case in table]


@pytest.mark.parametrize("case", _table())
def test_damage_is_refused_in_one_line(case: damage.Case, saved, scratch: Path) -> None:
    _, intact, expected = saved
    result = damage.try_case(intact, expected, case, Path(tempfile.mkdtemp(dir=scratch)))
    assert result.outcome is case.expected, result.detail
    assert result.seconds < TIME_LIMIT
    if case.expected is damage.Outcome.REFUSED:
        assert "\n" not in result.detail
        assert "rebuild" in result.detail or "not a saved index" in result.detail


def test_the_table_covers_every_file_and_the_outside_pass(saved) -> None:
    names = [c.name for c in damage.cases()]
    for name in ("manifest.json", *FILES):
        assert f"{name}: fifo" in names
        assert f"{name}: empty" in names
    for outside in ("header says <i2", "header says <i8", "header says <i4", "reversed", "shuffled", "NaN", "unsorted"):
        assert any(outside in n and n.endswith("refreshed") for n in names), outside
    assert len(names) > 400


def test_a_fifo_never_blocks_the_loader_even_with_a_writer_waiting(saved, tmp_path: Path) -> None:
    """A process that opens the FIFO for writing would unblock a reader; the loader must not read it at all."""
    _, intact, _ = saved
    folder = tmp_path / "index"
    shutil.copytree(intact, folder)
    (folder / "sentences.rows.npy").unlink()
    os.mkfifo(folder / "sentences.rows.npy")
    outcome: list[BaseException | Index] = []

    def load() -> None:
        try:
            outcome.append(load_index(folder))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "load_index blocked on a FIFO"
    assert isinstance(outcome[0], IndexFileError)
    assert "is a FIFO" in str(outcome[0])


# -- what the manifest records ------------------------------------------------------------------


def test_the_manifest_records_every_files_size_checksum_dtype_and_shape(saved) -> None:
    _, intact, _ = saved
    manifest = json.loads((intact / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT
    assert set(manifest["files"]) == set(FILES)
    for name, entry in manifest["files"].items():
        assert entry["bytes"] == (intact / name).stat().st_size
        assert len(entry[CHECKSUM]) == 8
        if name.endswith(".npy"):
            array_ = np.load(intact / name, allow_pickle=False)
            assert entry["dtype"] == array_.dtype.str == DTYPES[name[:-4]].str
            assert entry["shape"] == list(array_.shape)


def test_loaded_arrays_are_read_only_memory_maps(saved) -> None:
    _, intact, _ = saved
    index = load_index(intact)
    assert not index.sentences.rows.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        index.idf[0] = 1.0


# -- the command line and the bot ---------------------------------------------------------------


@pytest.mark.parametrize(
    "case_name",
    ["sentences.rows.npy: empty", "manifest.json: no built_at", "idf.npy: NaN, checksum refreshed", "grams.json: fifo"],
)
@pytest.mark.parametrize("command", [["index", "stats", "--index"], ["ask", "سردار جمشیدی پور", "--index"]])
def test_the_cli_says_so_in_one_line_and_exits_2(
    case_name: str, command: list[str], saved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, intact, _ = saved
    folder = _damaged_copy(intact, tmp_path, case_name)
    code = main([*command, str(folder)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("pasokh: error: damaged index file ")


@pytest.mark.slow  # starts pasokh
def test_the_real_cli_exits_2_on_a_fifo_manifest_without_hanging(saved, tmp_path: Path) -> None:
    _, intact, _ = saved
    folder = _damaged_copy(intact, tmp_path, "manifest.json: fifo")
    started = time.perf_counter()
    result = subprocess.run(
        [*PASOKH_COMMAND, "index", "stats", "--index", str(folder)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=pasokh_environment(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"pasokh: error: damaged index file {folder}/manifest.json: is a FIFO, not a regular file: "
        "rebuild it with `pasokh index build`"
    ]
    assert time.perf_counter() - started < 30


def test_index_stats_reads_an_intact_index(saved, capsys: pytest.CaptureFixture[str]) -> None:
    _, intact, _ = saved
    assert main(["index", "stats", "--index", str(intact)]) == 0
    out = capsys.readouterr().out
    assert "articles           3" in out
    assert " MB on disk" in out


@pytest.mark.parametrize(
    "case_name",
    [
        "sentences.rows.npy: shuffled, checksum refreshed",
        "manifest.json: fifo",
        "term_keys.npy: dev zero",
        "folder: empty",
    ],
)
def test_the_bot_rebuilds_from_the_seeds_and_logs_why(
    case_name: str, saved, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeds, intact, expected = saved
    folder = _damaged_copy(intact, tmp_path, case_name)
    library = Library(seeds, folder)
    with caplog.at_level(logging.WARNING, logger="bot.library"):
        index = library.open()
    assert damage.answers(index) == expected
    if case_name != "folder: empty":  # no manifest: nothing to explain, it builds and saves
        [record] = [r for r in caplog.records if "not used" in r.message]
        assert f"saved index in {folder} not used (damaged index file" in record.getMessage()
    # and the rebuilt index replaced the damaged one
    assert damage.answers(load_index(folder, seeds_fingerprint=load_seeds(seeds).fingerprint)) == expected


# -- saving --------------------------------------------------------------------------------------

_SAVER = """
import sys
from pathlib import Path
from retrieval.store import load_index, save_index
index = load_index(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[3])):
    save_index(index, Path(sys.argv[2]))
"""


@pytest.mark.slow  # two saving processes
def test_concurrent_saves_never_mix(saved, tmp_path: Path) -> None:
    """Two processes save different indexes into one folder 20 times each while this one keeps loading it."""
    _, intact, expected_a = saved
    small = build_index(load_seeds(_write_seeds(tmp_path / "small-seeds", extra=False)))
    save_index(small, tmp_path / "small")
    expected_b = damage.answers(small)
    target = tmp_path / "target"
    save_index(small, target)
    with contextlib.ExitStack() as stack:
        savers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", _SAVER, str(source), str(target), "20"],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for source in (intact, tmp_path / "small")
        ]
        for saver in savers:
            stack.callback(saver.kill)
            assert saver.stdout is not None and saver.stdout.readline() == "ready\n"
        for saver in savers:
            assert saver.stdin is not None
            saver.stdin.write("go\n")
            saver.stdin.flush()
        seen = {"a": 0, "b": 0}
        while any(saver.poll() is None for saver in savers) or not sum(seen.values()):
            served = damage.answers(load_index(target))  # never an error, never a mix
            assert served in (expected_a, expected_b)
            seen["a" if served == expected_a else "b"] += 1
        assert [saver.wait(60) for saver in savers] == [0, 0]
    assert damage.answers(load_index(target)) in (expected_a, expected_b)
    assert seen["a"] + seen["b"] >= 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".target.")]  # no folder left behind


def test_saving_leaves_nothing_beside_the_folder(saved, tmp_path: Path) -> None:
    _, intact, expected = saved
    index = load_index(intact)
    save_index(index, tmp_path / "out")
    save_index(index, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert damage.answers(load_index(tmp_path / "out")) == expected


def test_saving_without_an_atomic_exchange_renames_twice(
    saved, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file system cannot exchange two folders, the old one moves aside and goes once the new is in."""
    _, intact, expected = saved
    monkeypatch.setattr(folders, "_exchange", lambda a, b: None)
    index = load_index(intact)
    save_index(index, tmp_path / "out")
    save_index(index, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert damage.answers(load_index(tmp_path / "out")) == expected


def test_a_folder_of_other_files_is_never_replaced(saved, tmp_path: Path) -> None:
    _, intact, _ = saved
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="holds files other than a saved index"):
        save_index(load_index(intact), tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_the_cli_refuses_to_build_over_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["index", "build", "--seeds", str(SEEDS), "--out", str(tmp_path)]) == 2
    assert "holds files other than a saved index" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_saving_through_a_link_replaces_the_folder_it_points_to(saved, tmp_path: Path) -> None:
    _, intact, expected = saved
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    save_index(load_index(intact), tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert damage.answers(load_index(tmp_path / "real")) == expected


def test_a_saved_index_keeps_the_folders_permissions(saved, tmp_path: Path) -> None:
    _, intact, _ = saved
    (tmp_path / "out").mkdir(mode=0o750)
    os.chmod(tmp_path / "out", 0o750)
    save_index(load_index(intact), tmp_path / "out")
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750


def test_saving_removes_what_a_killed_save_left_an_hour_ago(saved, tmp_path: Path) -> None:
    _, intact, _ = saved
    stale, fresh = tmp_path / ".out.saving-1-0000", tmp_path / ".out.saving-2-1111"
    for leftover in (stale, fresh):
        leftover.mkdir()
        (leftover / "idf.npy").write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    save_index(load_index(intact), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.saving-2-1111", "out"]  # another save may be writing


def test_a_mount_point_is_not_swapped_but_refused_in_words(
    saved, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A volume mounted at the index folder cannot be renamed: the message says to save inside it."""
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == tmp_path / "mounted")
    (tmp_path / "mounted").mkdir()
    assert main(["index", "build", "--seeds", str(SEEDS), "--out", str(tmp_path / "mounted")]) == 2
    assert "it is a mount point" in capsys.readouterr().err
