"""The same questions typed the ways people type Persian, to measure robustness as well as averages.

Each variant rewrites a question deterministically:

- ``no ZWNJ``: every ZWNJ left out («می‌شود» → «میشود»);
- ``ZWNJ as space``: every ZWNJ typed as a space («می شود»);
- ``Arabic letters``: ی and ک typed as Arabic ي and ك (a Windows Arabic layout);
- ``diacritics``: a kasra or fatha on the first letter of every longer word, and «ٔ» after a final ه
  followed by another word («خانهٔ ما»);
- ``colloquial``: question words spoken rather than written («چیست» → «چیه», «کیست» → «کیه»,
  «چه کسی» → «کی», «است؟» → «هست؟», «چگونه» → «چطوری», «کجاست» → «کجاس»);
- ``typo``: one letter dropped from the middle of the question's longest word.

    uv run python -m benchmarks.variants [pquad_val persianqa_test]

prints Recall@1 of the first 1,000 answerable questions of each split in every variant, and in brackets
Recall@1 as asked → as rewritten on just the questions the variant changes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["VARIANTS"]

_ZWNJ = "\u200c"
_WORD = re.compile(r"[^\W\d_]+")
_COLLOQUIAL = [
    (re.compile(r"\bچیست\b"), "چیه"),
    (re.compile(r"\bکیست\b"), "کیه"),
    (re.compile(r"\bچه کسی\b"), "کی"),
    (re.compile(r"\bچه کسانی\b"), "کیا"),
    (re.compile(r"\bچگونه\b"), "چطوری"),
    (re.compile(r"\bکجاست\b"), "کجاس"),
    (re.compile(r"\bاست(?=\s*[؟?]?\s*$)"), "هست"),
    (re.compile(r"\bمی‌باشد\b"), "هست"),
]


def _diacritics(text: str) -> str:
    marks = iter("\u0650\u064e" * 200)
    text = re.sub(r"(?<=[^\W\d_]{2})ه (?=[^\W\d_])", "هٔ ", text, count=2)
    return _WORD.sub(lambda m: m.group()[0] + next(marks) + m.group()[1:] if len(m.group()) >= 4 else m.group(), text)


def _colloquial(text: str) -> str:
    for pattern, spoken in _COLLOQUIAL:
        text = pattern.sub(spoken, text)
    return text


def _typo(text: str) -> str:
    words = _WORD.findall(text)
    if not words:
        return text
    longest = max(words, key=len)
    if len(longest) < 5:
        return text
    middle = len(longest) // 2
    return text.replace(longest, longest[:middle] + longest[middle + 1 :], 1)


VARIANTS: dict[str, Callable[[str], str]] = {
    "no ZWNJ": lambda q: q.replace(_ZWNJ, ""),
    "ZWNJ as space": lambda q: q.replace(_ZWNJ, " "),
    "Arabic letters": lambda q: q.replace("ی", "ي").replace("ک", "ك"),
    "diacritics": _diacritics,
    "colloquial": _colloquial,
    "typo": _typo,
}


QUESTIONS = 1000


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.quality import DATA, SPLITS, gold_rows, hit_row, load_split
    from retrieval import Index, build_index

    def first(index: Index, question: str) -> int | None:
        hits = index.search(question, 1)
        return hit_row(index, hits[0].sentence.article, hits[0].sentence.position) if hits else None

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="*", default=list(SPLITS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    print("| split | as asked | " + " | ".join(VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 2) + "|")
    for name in args.splits:
        split = load_split(name, args.data)
        index = build_index(split.articles)
        questions = split.questions[:QUESTIONS]
        gold = gold_rows(index, questions)

        asked = [first(index, q["question"]) in rows for q, rows in zip(questions, gold, strict=True)]
        cells = [f"{100 * sum(asked) / len(asked):.1f}"]
        for rewrite in VARIANTS.values():
            typed = [rewrite(q["question"]) for q in questions]
            hit = [first(index, t) in rows for t, rows in zip(typed, gold, strict=True)]
            changed = [i for i, (t, q) in enumerate(zip(typed, questions, strict=True)) if t != q["question"]]
            before = 100 * sum(asked[i] for i in changed) / max(len(changed), 1)
            after = 100 * sum(hit[i] for i in changed) / max(len(changed), 1)
            cells.append(f"{100 * sum(hit) / len(hit):.1f} ({before:.1f} → {after:.1f} on {len(changed)})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
