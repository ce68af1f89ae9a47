"""Damaged saved indexes: run the table of ``bot.testing.damage`` and count what loading each one did.

    uv run python -m benchmarks.store_faults [--index DIR] [--timeout 10] [--show-all]

Without ``--index``, builds the index of the bundled seed article and two short articles (as
``tests/test_saved_index.py`` does) in a temporary folder. Each case copies the intact index, damages
the copy, loads it in a thread within ``--timeout`` seconds and, when it loads, compares every
sentence, article and the top 5 of a few questions with the intact index's. Prints a Markdown table
of outcomes by kind of damage, then every case whose outcome is not the expected one.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bot.testing import damage
from bot.testing.processes import SEEDS
from retrieval import build_index, load_seeds
from retrieval.store import load_index, save_index

_FILE_DAMAGES = ("missing", "empty", "half", "fifo", "dev zero", "link out", "directory", "byte changed", "appended")


def kind_of(name: str) -> str:
    """The row of the table a case counts in."""
    what = name.partition(": ")[2]
    if name.startswith("folder:"):
        return "the folder: missing, a file, a FIFO, empty; a link to an intact index (control)"
    if what in _FILE_DAMAGES:
        return f"any file: {what}"
    if "header says" in what:
        return "a .npy header's dtype changed (i4→i2, u8→i8, f4→i4, i8→i4, b1→u1, f4→f8)"
    if what.endswith("checksum refreshed"):
        return "what a file says, checksum refreshed to match (only the structural checks can tell)"
    if name.startswith("manifest.json:"):
        return "the manifest's content (no checksum covers it); 2 controls that change nothing served"
    return "what a file says (indptr, rows, weights, keys, offsets, …), checksum as saved"


def _intact(root: Path) -> Path:
    seeds = root / "seeds"
    seeds.mkdir()
    for path in SEEDS.iterdir():
        shutil.copy(path, seeds)
    for name, text in damage.EXTRA_ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    save_index(build_index(load_seeds(seeds)), root / "intact")
    return root / "intact"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_faults", description=__doc__)
    parser.add_argument("--index", type=Path, help="an intact saved index to damage copies of")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--show-all", action="store_true", help="print every case and its message")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="store-faults-") as temporary:
        root = Path(temporary)
        intact = args.index or _intact(root)
        expected = damage.answers(load_index(intact))
        started = time.perf_counter()
        results = []
        for i, case in enumerate(damage.cases()):
            scratch = root / f"case-{i}"
            scratch.mkdir()
            results.append(damage.try_case(intact, expected, case, scratch, timeout=args.timeout))
            shutil.rmtree(scratch, ignore_errors=True)
        seconds = time.perf_counter() - started

    rows: dict[str, collections.Counter[damage.Outcome]] = collections.defaultdict(collections.Counter)
    slowest: dict[str, float] = collections.defaultdict(float)
    for result in results:
        kind = kind_of(result.case.name)
        rows[kind][result.outcome] += 1
        slowest[kind] = max(slowest[kind], result.seconds)
    outcomes = list(damage.Outcome)
    print("| damage | cases | " + " | ".join(o.value for o in outcomes) + " | slowest s |")
    print("|---|---|" + "---|" * len(outcomes) + "---|")
    for kind, counts in rows.items():
        cells = " | ".join(str(counts[o]) for o in outcomes)
        print(f"| {kind} | {sum(counts.values())} | {cells} | {slowest[kind]:.2f} |")
    totals = collections.Counter(r.outcome for r in results)
    cells = " | ".join(f"**{totals[o]}**" for o in outcomes)
    print(f"| **all** | **{len(results)}** | {cells} | {max(r.seconds for r in results):.2f} |")
    unexpected = [r for r in results if not r.ok]
    print(f"\n{len(results)} cases in {seconds:.1f} s; {len(unexpected)} with another outcome than expected.")
    for result in unexpected if not args.show_all else results:
        detail = re.sub(r"/tmp/\S+?/case-\d+/", "…/", result.detail)
        print(f"- {result.case.name}: {result.outcome.name}: {detail}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
