"""The second stage's model file and tree walk (``retrieval.second``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import second
from retrieval.index import Index
from retrieval.second import Model, Trees

# Two trees: the first splits feature 0 at 0.5 (left 1.0, right 2.0); the second is a single leaf (0.25).
_TREES = {
    "baseline": 0.5,
    "depth": 1,
    "roots": [0, 3],
    "feature": [0, 0, 0, 0],
    "threshold": [0.5, "inf", "inf", "inf"],
    "children": [[1, 1, 2, 3], [2, 1, 2, 3]],
    "value": [0.0, 1.0, 2.0, 0.25],
}


def test_trees_sum_the_leaf_each_row_reaches() -> None:
    trees = Trees.from_json(_TREES)
    x = np.array([[0.0, 9.0], [0.5, 9.0], [0.51, -9.0]], dtype=np.float32)
    assert trees.predict(x).tolist() == [1.75, 1.75, 2.75]  # <= threshold goes left
    assert Trees.from_json(trees.to_json()).predict(x).tolist() == [1.75, 1.75, 2.75]  # written as read


def test_a_model_trained_on_other_features_is_refused_in_one_line(tmp_path: Path) -> None:
    data = json.loads(second.MODEL_FILE.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="trained on other features: retrain"):
        Model.load(path)


def test_the_bundled_model_reads_what_the_code_computes() -> None:
    model = second.model()
    assert 0 < model.threshold < 1
    assert model.ranker.feature.max() < len(second.FEATURES)
    assert model.confidence.feature.max() < len(second.CONFIDENCE_FEATURES)


def test_confidence_separates_an_answerable_question_from_an_off_topic_one(seed_index: Index) -> None:
    answerable = seed_index.rank("بسیج از چه عناصری تشکیل شده است؟", 3)
    off_topic = seed_index.rank("قیمت دلار امروز چند است؟", 3)
    assert 0.0 <= off_topic.confidence < second.model().threshold <= answerable.confidence <= 1.0
