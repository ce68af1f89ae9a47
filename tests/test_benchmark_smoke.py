"""The comparison benchmark runs end to end on a tiny corpus: every system measured, a report written.

Needs the shared data (``../shared/data``) and the ``bench`` dependency group; skipped without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DATA / "pquad_val").is_dir() or not (DATA / "news" / "articles.jsonl").is_file(),
        reason=f"the shared evaluation data is not at {DATA}: the benchmark needs ../shared/data",
    ),
]

SYSTEMS = ("pasokh", "bm25s-fast", "bm25s-best", "tantivy", "sklearn-tfidf")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for package in ("bm25s", "tantivy", "matplotlib", "psutil"):
        pytest.importorskip(package, reason="the bench group is not installed: uv sync --group bench")
    from benchmarks.run import main

    out = tmp_path_factory.mktemp("benchmark")
    argv = ["--sizes", "300", "--questions", "20", "--titles", "5", "--quality-limit", "20"]
    assert main([*argv, "--data", str(DATA), "--out", str(out), "--time-limit", "120"]) == 0
    return out


def test_every_system_is_measured_for_quality(run: Path) -> None:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert set(results["quality"]) == set(SYSTEMS)
    for system, splits in results["quality"].items():
        assert "error" not in splits, f"{system}: {splits.get('error')}"
        for split in ("pquad_val", "persianqa_test"):
            assert splits[split]["questions"] == 20
            assert 0 <= splits[split]["recall_1"] <= splits[split]["recall_5"] <= 100
    # A tiny index of the questions' own paragraphs: every system finds most answers in its top 5.
    assert all(splits["pquad_val"]["recall_5"] >= 50 for splits in results["quality"].values())
    assert results["quality"]["pasokh"]["pquad_val"]["answered"] is not None
    variants = results["quality"]["pasokh"]["pquad_val"]["variants"]
    assert set(variants) == {
        "as asked",
        "no ZWNJ",
        "ZWNJ as space",
        "Arabic letters",
        "diacritics",
        "colloquial",
        "typo",
    }
    assert all(0 <= v <= 100 for v in variants.values())


def test_every_system_is_built_saved_loaded_and_timed(run: Path) -> None:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["corpora"]["300"]["sentences"] == 300
    rows = results["scale"]["300"]
    assert set(rows) == set(SYSTEMS)
    for system, row in rows.items():
        assert "error" not in row, f"{system}: {row.get('error')}"
        build, load = row["build"], row["load"]
        assert build["sentences"] == 300
        assert build["queries"] == 25
        assert 0 < build["median_ms"] <= build["p99_ms"]
        assert build["disk_mb"] > 0
        assert load["rss_after_load_mb"] > 0
        # The saved index ranks as the built one did.
        assert load["same_rankings"] == load["compared"] > 0, system


def test_the_report_has_every_section_and_chart(run: Path) -> None:
    report = (run / "report.md").read_text(encoding="utf-8")
    for heading in ("## Quality on the QA sets", "## No answer", "### Corpora", "### 300 sentences"):
        assert heading in report
    assert "failed" not in report
    for chart in ("quality.png", "latency.png", "scale.png"):
        assert (run / chart).stat().st_size > 0
        assert f"]({chart})" in report
    assert not (run / "work").exists()


def test_the_store_cost_benchmark_measures_every_part(tmp_path: Path) -> None:
    from benchmarks.store_cost import MEASURES, main

    assert main(["--out", str(tmp_path), "--sentences", "2000", "--repeat", "1", "--data", str(DATA)]) == 0
    report = (tmp_path / "store_cost.md").read_text(encoding="utf-8")
    assert report.startswith("2,000 sentences")
    for what in MEASURES:
        assert f"| {what} | warm |" in report
    assert "| load | cold |" in report


def test_the_incremental_benchmark_adds_finds_restarts_and_compacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.incremental import main

    argv = ["--sentences", "2000", "--adds", "3", "--busy-adds", "2", "--questions", "20", "--memory-adds", "2"]
    assert main([*argv, "--data", str(DATA), "--out", str(tmp_path)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["add"]["found_first_by_its_marker"] == 3
    assert results["restart_delta"]["articles"] >= 3
    assert results["memory_mb"]["delta_sentences_after"] == 0
