"""How often the answer phrase holds the gold answer, per kind of question, on the QA sets.

Each answerable question of a split is answered as the bot answers it, and the best passage's sentence
is searched for the answer phrase of the question's kind (``retrieval.phrase``), enabled or not; persons,
places and questions of no kind («other») have no finder and get no mark. A mark is right when its words
hold one of the gold answers' words, in order, both sides folded alike («۱۲ نفر» holds «۱۲»; «۱۲» does
not hold «۱۲ نفر»).

Two groups of columns: over every answered question, which is what readers see, and over those whose
shown sentence holds a gold answer, where a wrong mark is the finder's fault. ``marked`` is the coverage
(marks per question), ``precision`` the share of marks that are right.

    uv run python -m benchmarks.phrases [pquad_val persianqa_test]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.quality import DATA, SPLITS, load_split
from retrieval import analysis, build_index
from retrieval.answer import answer
from retrieval.phrase import ENABLED, Kind, answer_phrase, asked_for, question_kind

HEADER = (
    "| split | kind | enabled | questions | answered | marked (coverage) | precision "
    "| gold in sentence | marked | precision |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _spaced(text: str) -> str:
    return f" {' '.join(analysis.words(text))} "


def _holds(text: str, answers: Sequence[str]) -> bool:
    """Whether ``text`` holds one of ``answers`` as whole words, in order (both folded)."""
    spaced = _spaced(text)
    return any(words.strip() and words in spaced for words in map(_spaced, answers))


def measure(name: str, data: Path) -> Counter[tuple[Kind | None, str]]:
    """Count, per kind, the questions, answers and marks of split ``name`` (keys: (kind, what))."""
    split = load_split(name, data)
    index = build_index(split.articles)
    counts: Counter[tuple[Kind | None, str]] = Counter()
    for q in split.questions:
        kind = question_kind(q["question"])
        counts[kind, "questions"] += 1
        result = answer(index, q["question"])
        if not result.answered:
            continue
        sentence = result.passages[0].sentence
        span = answer_phrase(asked_for(q["question"], kinds=tuple(Kind)), sentence)
        right = span is not None and _holds(sentence[span[0] : span[1]], q["answers"])
        for where in ("answered", "gold") if _holds(sentence, q["answers"]) else ("answered",):
            counts[kind, where] += 1
            counts[kind, f"{where} marked"] += span is not None
            counts[kind, f"{where} right"] += right
    return counts


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def rows(name: str, counts: Counter[tuple[Kind | None, str]]) -> list[str]:
    """The table's rows for one split (or both, summed)."""
    out = []
    for kind in (*Kind, None):
        n = {what: counts[kind, what] for what in ("questions", "answered", "gold")}
        enabled = "—" if kind is None else "yes" if kind in ENABLED else "no"
        cells = [name, kind.value if kind else "other", enabled, str(n["questions"])]
        for where in ("answered", "gold"):
            marked, right = counts[kind, f"{where} marked"], counts[kind, f"{where} right"]
            cells += [str(n[where]), f"{marked} ({_share(marked, n[where])})", _share(right, marked)]
        out.append(f"| {' | '.join(cells)} |")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="*", default=list(SPLITS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    print(HEADER)
    total: Counter[tuple[Kind | None, str]] = Counter()
    for name in args.splits:
        counts = measure(name, args.data)
        total += counts
        print("\n".join(rows(name, counts)), flush=True)
    if len(args.splits) > 1:
        print("\n".join(rows("all", total)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
