"""The targets of the second stage (issue 12), measured in one run with the bundled model.

    uv run python -m benchmarks.targets [--data DIR]

- pquad_val: the model was trained on it, so its rows are the grouped cross-validation figures that the
  training run (``python -m benchmarks.train``) stored in the model file, never scores on trained questions;
- persianqa_test (never trained on): Recall@1, the answer inside the passage the bot shows (the best
  sentence and its neighbours), answerable and unanswerable questions refused;
- off-topic: each set's questions asked of the other set's articles, refused by the product's rule;
- people's typing (``benchmarks.variants``): Recall@1 as asked → as typed, on the questions each variant
  changes (pquad_val rows include trained questions: the differences are what they show).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.quality import DATA, gold_rows, hit_row, load_split
from benchmarks.variants import VARIANTS
from retrieval import Index, build_index, second
from retrieval.answer import answer


def _shown(index: Index, question: str, gold: set[int]) -> tuple[bool, bool]:
    """Whether the best sentence holds the answer, and whether the passage shown (with neighbours) does."""
    hits = index.search(question, 1)
    if not hits:
        return False, False
    row = hit_row(index, hits[0].sentence.article, hits[0].sentence.position)
    around = {row} | {row + d for d, s in ((-1, hits[0].before), (1, hits[0].after)) if s is not None}
    return row in gold, bool(around & gold)


def _refused(index: Index, questions: Sequence[dict]) -> float:
    return 100 * sum(not answer(index, q["question"]).answered for q in questions) / max(len(questions), 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    stored = json.loads(second.MODEL_FILE.read_text(encoding="utf-8"))["report"]
    model = second.model()
    pquad, persian = load_split("pquad_val", args.data), load_split("persianqa_test", args.data)
    pquad_index, persian_index = build_index(pquad.articles), build_index(persian.articles)

    rows: list[tuple[str, str]] = []
    cv = stored["pquad_val grouped CV"]
    rows.append(("pquad_val sentence R@1 (grouped CV)", f"{cv['R@1']:.1f}"))
    gold = gold_rows(persian_index, persian.questions)
    shown = [_shown(persian_index, q["question"], g) for q, g in zip(persian.questions, gold, strict=True)]
    rows.append(("persianqa_test R@1 (not trained on)", f"{100 * sum(s for s, _ in shown) / len(shown):.1f}"))
    rows.append(("answer inside the passage shown, pquad_val (grouped CV)", f"{cv['passage']:.1f}"))
    rows.append(
        ("answer inside the passage shown, persianqa_test", f"{100 * sum(p for _, p in shown) / len(shown):.1f}")
    )
    refused = stored["no answer refused (CV)"]
    rows.append(
        (
            "pquad_val unanswerable refused (grouped CV), answerable refused",
            f"{refused['unanswerable']:.1f} at {refused['answerable']:.1f}",
        )
    )
    rows.append(
        (
            "off-topic refused: pquad_val on persianqa_test / persianqa_test on pquad_val",
            f"{_refused(persian_index, pquad.questions):.1f} / {_refused(pquad_index, persian.questions):.1f}",
        )
    )
    rows.append(("persianqa_test answerable refused", f"{_refused(persian_index, persian.questions):.1f}"))
    rows.append(("persianqa_test unanswerable refused", f"{_refused(persian_index, persian.unanswerable):.1f}"))
    for split, index in ((pquad, pquad_index), (persian, persian_index)):
        questions = split.questions[:1000]
        golds = gold_rows(index, questions)
        cells = []
        for name, rewrite in VARIANTS.items():
            changed = [(q, g) for q, g in zip(questions, golds, strict=True) if rewrite(q["question"]) != q["question"]]
            before = sum(_shown(index, q["question"], g)[0] for q, g in changed)
            after = sum(_shown(index, rewrite(q["question"]), g)[0] for q, g in changed)
            n = max(len(changed), 1) / 100
            cells.append(f"{name} {before / n:.1f} → {after / n:.1f}")
        rows.append((f"typed as people type, {split.name} (R@1 as asked → typed)", "; ".join(cells)))
    print(f"model {model.version}, threshold {model.threshold:.3f}")
    print("| measure | measured |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
