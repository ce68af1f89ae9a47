"""Saved indexes: identical results after a round trip, recipe checks, and never a pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.testing.processes import SEEDS
from bot.testing.seed_questions import ANSWERABLE
from retrieval import Index, IndexFileError, RecipeMismatch, build_index, load_seeds
from retrieval.store import load_index, save_index
from tests.conftest import write_seed

QUESTIONS = [q for q, _ in ANSWERABLE] + ["هاشمی‌فر", "هاشمی فر", "جمشیدپور", "سلام"]


def _ranked(index: Index, question: str) -> list[tuple[str, int, float, float]]:
    return [(h.article.id, h.sentence.position, h.score, h.coverage) for h in index.search(question, 5)]


def test_round_trip_gives_identical_results(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path / "index")
    loaded = load_index(tmp_path / "index")
    assert loaded.articles == seed_index.articles
    assert [loaded.sentence(i) for i in range(len(loaded))] == [seed_index.sentence(i) for i in range(len(seed_index))]
    for question in QUESTIONS:
        assert _ranked(loaded, question) == _ranked(seed_index, question), question


def test_round_trip_on_zwnj_and_arabic_text(tmp_path: Path) -> None:
    write_seed(tmp_path, "z.txt", "date 2024-01-01 عنوان‌ها\nکتاب‌های علمي در كتابخانه‌ی ملی نگه‌داری می‌شوند.")
    index = build_index(load_seeds(tmp_path))
    save_index(index, tmp_path / "saved")
    loaded = load_index(tmp_path / "saved", seeds_fingerprint=load_seeds(tmp_path).fingerprint)
    assert loaded.sentence(0).text == index.sentence(0).text
    assert _ranked(loaded, "كتابهاي علمی كجا نگهداری میشوند") == _ranked(index, "کتاب‌های علمی کجا نگه‌داری می‌شوند")


def test_manifest_records_the_recipe(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["recipe"]["k1"] == pytest.approx(0.3)
    assert set(manifest["versions"]) >= {"hazm", "numpy", "scipy"}
    assert manifest["seeds"]["fingerprint"] == load_seeds(SEEDS).fingerprint
    assert manifest["seeds"]["sentences"] == len(seed_index)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["recipe"].__setitem__("k1", 1.2), "other analysis or scoring settings"),
        (lambda m: m["versions"].__setitem__("hazm", "0.10.0"), "built with hazm 0.10.0"),
        (lambda m: m.__setitem__("format", 99), "index format 99"),
    ],
    ids=["scoring setting", "hazm version", "format"],
)
def test_mismatch_is_refused_with_a_clear_message(seed_index: Index, tmp_path: Path, change, message: str) -> None:
    save_index(seed_index, tmp_path)
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    change(manifest)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RecipeMismatch, match=message):
        load_index(tmp_path)


def test_other_seeds_are_refused(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    with pytest.raises(RecipeMismatch, match="other seed files"):
        load_index(tmp_path, seeds_fingerprint="0" * 64)


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="not a saved index"):
        load_index(tmp_path)


def test_pickled_arrays_are_never_loaded(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    np.save(tmp_path / "idf.npy", np.array([object()], dtype=object), allow_pickle=True)  # needs a pickle
    with pytest.raises(IndexFileError, match=r"damaged index file .*idf\.npy"):
        load_index(tmp_path)


def test_truncated_array_is_a_clear_error(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    data = (tmp_path / "sentences.rows.npy").read_bytes()
    (tmp_path / "sentences.rows.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match="damaged index file"):
        load_index(tmp_path)


def test_missing_array_is_a_clear_error(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    (tmp_path / "term_keys.npy").unlink()
    with pytest.raises(IndexFileError, match=r"term_keys\.npy is missing"):
        load_index(tmp_path)


def test_saving_over_a_loaded_index_leaves_it_readable(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    loaded = load_index(tmp_path)  # memory-mapped
    save_index(seed_index, tmp_path)  # replaced file by file underneath
    assert _ranked(loaded, "فرمانده انتظامی لرستان") == _ranked(seed_index, "فرمانده انتظامی لرستان")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".saving-")]


def test_display_text_is_stored_and_loaded(tmp_path: Path) -> None:
    write_seed(
        tmp_path, "d.txt", "date 2024-01-01 عنوان COVID-19 و 5G\nسرعت 5G در ۲۰٪ شهرها از 120Mbps گذشت.\nورود میدانی"
    )
    index = build_index(load_seeds(tmp_path))
    save_index(index, tmp_path / "saved")
    loaded = load_index(tmp_path / "saved")
    assert [loaded.sentence(i).display for i in range(len(loaded))] == [
        "سرعت 5G در ۲۰٪ شهرها از 120Mbps گذشت.",
        "ورود میدانی",
    ]
    assert loaded.articles[0].display_title == "عنوان COVID-19 و 5G"
    assert loaded.manifest["recipe"]["display"] == index.manifest["recipe"]["display"]


def test_an_index_of_an_older_display_is_refused(seed_index: Index, tmp_path: Path) -> None:
    save_index(seed_index, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    manifest["recipe"]["display"] -= 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RecipeMismatch, match="rebuild"):
        load_index(tmp_path)
