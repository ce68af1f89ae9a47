"""Ranking quality on the QA sets in ../shared/data: fails when sentence Recall@1 drops below the floor.

The floors sit just under what the current design measures (see README); raise them with it.
"""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

# split: (Recall@1 floor, Recall@5 floor); measured with the second stage 89.0 / 97.4 and 64.4 / 91.4.
# pquad_val is the second stage's training set: 89.0 is not its quality on new questions (grouped
# cross-validation says 85.4, `python -m benchmarks.train`), but a fall below the floor is a regression.
FLOORS = {
    "pquad_val": (88.0, 96.8),
    "persianqa_test": (63.5, 90.8),
}


@pytest.mark.parametrize("split", sorted(FLOORS))
def test_recall_stays_above_the_floor(split: str) -> None:
    if not (SHARED_DATA / split / "questions.jsonl").exists():
        pytest.skip(f"{SHARED_DATA / split} is absent: the quality measurement needs ../shared/data")
    from benchmarks.quality import evaluate, load_split

    report = evaluate(load_split(split, SHARED_DATA))
    recall_1, recall_5 = FLOORS[split]
    assert report.recall_1 >= recall_1, report.row()
    assert report.recall_5 >= recall_5, report.row()
