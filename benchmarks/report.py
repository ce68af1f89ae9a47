"""The benchmark's report: Markdown tables and PNG charts from ``results.json``.

uv run --group bench python -m benchmarks.report DIR    # render DIR/report.md again
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pasokh", "hazm", "scikit-learn", "numpy", "scipy", "bm25s", "tantivy", "matplotlib", "psutil", "nltk")
LABELS = {
    "pasokh": "Pasokh",
    "bm25s-fast": "bm25s fast (stopwords removed, k1=1.5 b=0.75)",
    "bm25s-best": "bm25s best (stopwords kept, k1=0.9 b=0.4)",
    "tantivy": "Tantivy (default tokenizer, hazm-normalized)",
    "sklearn-tfidf": "scikit-learn TfidfVectorizer (defaults, raw text)",
}
# Sentence Recall@1 / Recall@5 in the data README (measured on its own, slightly different, sentence split).
README_REFERENCE = {
    ("sklearn-tfidf", "pquad_val"): "72.0 / 87.0",
    ("sklearn-tfidf", "persianqa_test"): "43.5 / 77.3",
    ("bm25s-fast", "pquad_val"): "72.9 / 86.8",
    ("bm25s-fast", "persianqa_test"): "47.3 / 77.9",
    ("bm25s-best", "pquad_val"): "78.5 / —",
    ("tantivy", "pquad_val"): "76.6 / 88.9",
    ("tantivy", "persianqa_test"): "50.7 / 79.1",
}
SPLITS = ("pquad_val", "persianqa_test")
COLORS = {name: f"C{i}" for i, name in enumerate(LABELS)}

CORPUS_TEXT = """\
A corpus of N sentences starts from the base collection: the paragraphs of `pquad_val` and
`persianqa_test` and the news articles of `news/articles.jsonl` (title, and the lines of `text` as
paragraphs; the abstract is left out), shuffled together once with a fixed seed. Sentences are Pasokh's
(`retrieval.sentences.split_article`), and every system indexes those same texts. Past the base, the
collection is repeated; each copy varies every article deterministically (seeded by article id and copy
number): paragraphs shuffled, one sentence dropped or repeated, up to three digits changed, up to three
ZWNJs turned into a space or removed and up to two «می »/«مي » prefixes given a ZWNJ, and in every other
copy Arabic ي/ك typed as Persian ی/ک. Articles are taken in order until N sentences (the last one cut at
a sentence). See `benchmarks/corpus.py`."""


def machine() -> dict[str, Any]:
    """The machine, Python, library versions and the project's commit."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": _git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted": [
            line[3:] for line in _git("status", "--porcelain", "--", "retrieval", "benchmarks").splitlines()
        ],
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout


# -- numbers ---------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _ms(value: Any) -> str:
    if value is None:
        return "—"
    return _num(value, 2 if value < 10 else 1)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return lines


def _failed(error: str) -> str:
    return f"**failed**: {error}"


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """Probability that a random answerable question gets more confidence than a random unanswerable one."""
    if not len(positive) or not len(negative):
        return None
    neg = np.sort(np.asarray(negative, dtype=float))
    pos = np.asarray(positive, dtype=float)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def matched_refusals(
    answerable: Sequence[float], unanswerable: Sequence[float], rate: float
) -> tuple[float, float, float]:
    """Refuse below the confidence that refuses ``rate`` (0..1) of the answerable questions.

    Returns (threshold, share of answerable refused, share of unanswerable refused), shares in percent.
    """
    ranked = np.sort(np.asarray(answerable, dtype=float))
    threshold = float(ranked[min(int(rate * len(ranked)), len(ranked) - 1)])
    refused = 100 * float(np.mean(ranked < threshold))
    refused_unanswerable = 100 * float(np.mean(np.asarray(unanswerable, dtype=float) < threshold))
    return threshold, refused, refused_unanswerable


def _pasokh_refusal_rates(quality: dict[str, Any]) -> dict[str, float]:
    pasokh = quality.get("pasokh", {})
    rates = {}
    for split in SPLITS:
        answered = pasokh.get(split, {}).get("answered") if "error" not in pasokh else None
        if answered:
            rates[split] = 1 - float(np.mean(answered))
    return rates


# -- sections --------------------------------------------------------------------------------------


def _machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    s = results["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    dirty = f" (uncommitted changes in: {', '.join(m['uncommitted'])})" if m["uncommitted"] else ""
    return [
        f"- Date: {results['started']} to {results.get('finished', '(unfinished)')}",
        f"- Machine: {m['cpu']}, {m['cpus']} logical CPUs ({m['usable_cpus']} usable), {m['memory_gib']} GiB; "
        f"{m['platform']}",
        f"- Load average (1, 5, 15 min) at the start: {_loads(m.get('load_average'))}; at the end: "
        f"{_loads(results.get('load_average_end'))} (above 1, other processes shared the {m['cpus']} CPUs and "
        "timings are pessimistic)",
        f"- Python {m['python']}; {versions}",
        f"- Project commit {m['commit'] or 'unknown'}{dirty}",
        f"- Limits per measurement: {s['time_limit_s']:.0f} s, {s['memory_limit_gib']:g} GiB resident; "
        f"timed queries stop after {s['query_budget_s']:.0f} s (at least 20 are timed); "
        f"k = {s['k']}; one query at a time, one thread (BLAS/OpenMP pools set to 1, Tantivy indexes "
        "with one thread).",
        "- Each measurement runs in its own process, forked from a server process that has imported the "
        "libraries (hazm, NLTK, scikit-learn, bm25s, Tantivy, Pasokh): import time is never measured, and every "
        "measurement starts from the same memory. bm25s and Tantivy fork from a second server that has also "
        "built hazm's Normalizer and WordTokenizer (about 170 MB resident), which they need to analyse text; "
        "Pasokh and scikit-learn do not use them.",
    ]


def _loads(values: Sequence[float] | None) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "—"


def _quality_section(results: dict[str, Any]) -> list[str]:
    quality = results["quality"]
    if not quality:
        return ["Not measured in this run."]
    rows = []
    for system, result in quality.items():
        if "error" in result:
            rows.append([LABELS.get(system, system), "—", _failed(result["error"]), *["—"] * 9])
            continue
        for split, r in result.items():
            rows.append(
                [
                    LABELS.get(system, system),
                    split,
                    _num(r["sentences"]),
                    _num(r["recall_1"]),
                    _num(r["recall_5"]),
                    _num(r["mrr_10"]),
                    _num(r["paragraph_recall_1"]),
                    _num(r["paragraph_recall_5"]),
                    _ms(r.get("median_ms")),
                    _ms(r.get("p99_ms")),
                    _num(r["build_s"], 2),
                    README_REFERENCE.get((system, split), "—"),
                ]
            )
    header = ["system", "split", "sentences", "R@1", "R@5", "MRR@10", "para R@1", "para R@5", "median ms",
              "p99 ms", "build s", "data README R@1 / R@5"]  # fmt: skip
    limit = results["settings"].get("quality_limit")
    scope = f"the first {limit} questions of each split" if limit else "every answerable question of each split"
    return [
        f"Sentence retrieval on {scope} (metric of the data README: a hit is a sentence containing a gold "
        "answer, both sides folded alike; gold rows from `benchmarks.quality.gold_rows_in`). Percent.",
        "",
        *_table(header, rows),
    ]


def _variants_section(results: dict[str, Any]) -> list[str]:
    quality = results["quality"]
    names: list[str] = []
    rows = []
    for system, result in quality.items():
        if "error" in result:
            continue
        for split, r in result.items():
            variants = r.get("variants") or {}
            names = names or list(variants)
            rows.append([LABELS.get(system, system), split, *(_num(variants.get(n)) for n in names)])
    if not rows:
        return ["Not measured in this run."]
    counts = {
        r.get("variant_questions") for result in quality.values() if "error" not in result for r in result.values()
    }
    return [
        f"Sentence Recall@1 (percent) on the first {'/'.join(str(c) for c in sorted(counts - {None}))} answerable "
        "questions of each split, asked as written and rewritten as people type (see `benchmarks/variants.py`: "
        "ZWNJ left out or typed as a space, Arabic ي/ك, diacritics and «ٔ», spoken question words, one letter "
        "dropped from the longest word).",
        "",
        *_table(["system", "split", *names], rows),
    ]


def _no_answer_section(results: dict[str, Any]) -> list[str]:
    quality = results["quality"]
    if not quality:
        return ["Not measured in this run."]
    rates = _pasokh_refusal_rates(quality)
    rows = []
    for system, result in quality.items():
        if "error" in result:
            rows.append([LABELS.get(system, system), "—", _failed(result["error"]), "—", "—", "—"])
            continue
        for split, r in result.items():
            label = LABELS.get(system, system)
            separation = _num(auc(r["confidence"], r["confidence_unanswerable"]), 3)
            if r.get("answered") is not None and r.get("answered_unanswerable") is not None:
                refused = 100 * (1 - float(np.mean(r["answered"]))) if r["answered"] else None
                unanswered = r["answered_unanswerable"]
                refused_un = 100 * (1 - float(np.mean(unanswered))) if unanswered else None
                rows.append([label, split, f"own rule: {r['rule']}", _num(refused), _num(refused_un), separation])
            if split in rates and r["confidence"] and r["confidence_unanswerable"]:
                threshold, refused, refused_un = matched_refusals(
                    r["confidence"], r["confidence_unanswerable"], rates[split]
                )
                rule = f"confidence < {threshold:.3g} (matched to Pasokh's answerable refusals)"
                rows.append([label, split, rule, _num(refused), _num(refused_un), separation])
            elif r.get("answered") is None:
                rows.append([label, split, "none (no threshold defined)", "n/a", "n/a", separation])
    header = ["system", "split", "rule", "answerable refused %", "unanswerable refused %", "AUC"]
    return [
        "Share of questions each system declines to answer, on the splits' answerable (`questions.jsonl`) and "
        "unanswerable (`unanswerable.jsonl`) questions, with the split's own paragraphs indexed. Pasokh "
        "decides with its own rule. The references have none: for them (and for Pasokh, as a check) the "
        "threshold on the best hit's confidence (Pasokh: coverage; others: the best score) is set so that "
        "they refuse as many answerable questions as Pasokh does, calibrated on these same questions; then the "
        "unanswerable column compares like with like. AUC: chance that an answerable question gets more "
        "confidence than an unanswerable one (threshold-free). Some unanswerable questions are answered by "
        "another paragraph, so 100% is not the goal.",
        "",
        *_table(header, rows),
    ]


_CORPUS_KEYS = ("sentences", "distinct_sentences", "articles", "copies", "text_mb", "seconds")


def _corpus_section(results: dict[str, Any]) -> list[str]:
    corpora = results["corpora"]
    lines = [CORPUS_TEXT, ""]
    rows = []
    for size, c in corpora.items():
        if "error" in c:
            rows.append([_num(int(size)), _failed(c["error"]), "—", "—", "—", "—", "—"])
        else:
            rows.append([_num(int(size))] + [_num(c.get(key)) for key in _CORPUS_KEYS])
    if rows:
        header = ["size", "sentences", "distinct sentences", "articles", "copies", "text MB (UCS-2)", "generation s"]
        lines += _table(header, rows)
    sample = results.get("sample")
    if sample and "error" not in sample:
        lines += [
            "",
            f"Question sample for latency: {sample['qa']} questions drawn from `pquad_val` and `persianqa_test` "
            f"(answerable and unanswerable) and {sample['titles']} news titles typed with Persian ی/ک, from "
            "articles in every corpus, shuffled together (`questions.json`). Title top-1 / top-10: the best / "
            "any of the 10 sentences comes from that article or one of its copies.",
        ]
    elif sample:
        lines += ["", f"Question sample: {_failed(sample['error'])}"]
    return lines


def _rss_after_load(load: dict[str, Any]) -> str:
    after = _num(load.get("rss_after_load_mb"), 0)
    return f"{after} / {_num(load['rss_after_queries_mb'], 0)}" if "rss_after_queries_mb" in load else after


def _scale_rows(rows: dict[str, Any]) -> list[list[str]]:
    out = []
    for system, row in rows.items():
        label = LABELS.get(system, system)
        build = row.get("build") or {}
        load = row.get("load") or {}
        if "error" in row:
            peak = row.get("watched_peak_mb")
            status = _failed(row["error"]) + (f" (peak seen {_num(peak, 0)} MB)" if peak else "")
            out.append([label, *["—"] * 12, status])
            continue
        status = "ok"
        if "error" in load:
            status = f"load {_failed(load['error'])}"
        elif load and load["same_rankings"] != load["compared"]:
            status = f"loaded index ranks {load['same_rankings']}/{load['compared']} sample questions as built"
        queries = str(build["queries"])
        if build["queries"] < build["of_queries"]:
            queries += f" of {build['of_queries']}"
        out.append(
            [
                label,
                _num(build["build_s"]),
                _num(build["disk_mb"]),
                _num(build["rss_after_build_mb"], 0),
                _num(build["peak_mb"], 0),
                _num(load.get("load_s"), 2),
                _rss_after_load(load),
                _ms(build.get("median_ms")),
                _ms(build.get("p99_ms")),
                queries,
                _num(build.get("title_hit_1")),
                _num(build.get("title_hit_10")),
                _num(build.get("save_s"), 1),
                status,
            ]
        )
    return out


def _scale_section(results: dict[str, Any]) -> list[str]:
    if not results["scale"]:
        return ["Not measured in this run."]
    header = ["system", "build s", "disk MB", "RSS after build MB", "peak MB", "load s",
              "RSS after load / +20 queries MB", "median ms", "p99 ms", "queries", "title top-1 %", "title top-10 %",
              "save s", "status"]  # fmt: skip
    lines = [
        "Build: from sentences in memory to a searchable index (analysis included; Tantivy writes its index to "
        "disk as it builds, so its save is empty). Disk: the saved folder (Pasokh's holds its articles and "
        "sentence texts too; bm25s, Tantivy and scikit-learn store only ids and weights). RSS after build: the "
        "measuring process with its corpus still in memory; peak: its maximum while building, querying and "
        "saving. Load: opening the saved index in a fresh process (the question analyzer not included); RSS "
        "after load: that process, libraries included, then after the 20 questions that check the loaded index "
        "ranks as the built one (an index read through memory maps is resident only where queries touched it). "
        "Latency: one question at a time, analysis included.",
    ]
    baselines: dict[str, list[float]] = {}
    for size, rows in results["scale"].items():
        lines += ["", f"### {int(size):,} sentences", "", *_table(header, _scale_rows(rows))]
        for system, row in rows.items():
            if "baseline_mb" in (row.get("load") or {}):
                baselines.setdefault(system, []).append(row["load"]["baseline_mb"])
    if baselines:
        starts = ", ".join(f"{system} {min(values):,.0f} MB" for system, values in baselines.items())
        lines += ["", f"A measuring process starts, before any index, at: {starts} (resident)."]
    return lines


# -- charts ----------------------------------------------------------------------------------------


def _series(
    results: dict[str, Any], pick: Callable[[dict[str, Any]], float | None]
) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for size, rows in results["scale"].items():
        for system, row in rows.items():
            if "error" in row:
                continue
            value = pick(row)
            if value is not None and value > 0:
                series.setdefault(system, []).append((results["corpora"][size]["sentences"], value))
    return series


def _latency_chart(results: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    medians = _series(results, lambda r: r["build"].get("median_ms"))
    if not medians:
        return False
    p99 = _series(results, lambda r: r["build"].get("p99_ms"))
    fig, ax = plt.subplots(figsize=(8, 5))
    for system, points in medians.items():
        color = COLORS.get(system)
        ax.plot(*zip(*points, strict=True), "o-", color=color, label=f"{system} median")
        if system in p99:
            ax.plot(*zip(*p99[system], strict=True), "x--", color=color, alpha=0.6, label=f"{system} p99")
    ax.set(xscale="log", yscale="log", xlabel="corpus size (sentences)", ylabel="query latency (ms)",
           title="Query latency against corpus size (one thread, analysis included)")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _scale_chart(results: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    panels = [
        ("build time (s)", lambda r: r["build"]["build_s"]),
        ("index on disk (MB)", lambda r: r["build"]["disk_mb"]),
        ("resident after load (MB)", lambda r: (r.get("load") or {}).get("rss_after_load_mb")),
    ]
    if not _series(results, panels[0][1]):
        return False
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    for ax, (title, pick) in zip(axes, panels, strict=True):
        for system, points in _series(results, pick).items():
            ax.plot(*zip(*points, strict=True), "o-", color=COLORS.get(system), label=system)
        ax.set(xscale="log", yscale="log", xlabel="corpus size (sentences)", title=title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _quality_chart(results: dict[str, Any], path: Path) -> bool:
    import matplotlib.pyplot as plt

    systems = [s for s, r in results["quality"].items() if "error" not in r]
    if not systems:
        return False
    metrics = [("recall_1", "R@1"), ("recall_5", "R@5"), ("mrr_10", "MRR@10")]
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(12, 4.5), sharey=True)
    width = 0.8 / len(systems)
    for ax, split in zip(axes, SPLITS, strict=True):
        for i, system in enumerate(systems):
            values = [results["quality"][system].get(split, {}).get(key, 0.0) for key, _ in metrics]
            xs = np.arange(len(metrics)) + (i - (len(systems) - 1) / 2) * width
            bars = ax.bar(xs, values, width, color=COLORS.get(system), label=system)
            ax.bar_label(bars, fmt="%.0f", fontsize=6)
        ax.set(title=split, xticks=range(len(metrics)), xticklabels=[m for _, m in metrics], ylim=(0, 108))
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("percent")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(systems), fontsize=8)
    fig.suptitle("Sentence retrieval quality on the QA sets")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def charts(out: Path, results: dict[str, Any]) -> list[str]:
    """Draw the charts there is data for into ``out``; return Markdown lines that show them."""
    import matplotlib

    matplotlib.use("Agg")
    lines = []
    for name, draw in (("quality", _quality_chart), ("latency", _latency_chart), ("scale", _scale_chart)):
        try:
            if draw(results, out / f"{name}.png"):
                lines.append(f"![{name}]({name}.png)")
        except Exception as exc:  # a chart never costs the report
            lines.append(f"(chart {name} failed: {type(exc).__name__}: {exc})")
    return lines


# -- the report ------------------------------------------------------------------------------------


def render(results: dict[str, Any], chart_lines: Sequence[str] = ()) -> str:
    """The report as Markdown."""
    sections = [
        "# Pasokh against reference engines",
        "",
        "Made by `python -m benchmarks.run` (raw numbers in `results.json`, logs of each measurement in `logs/`).",
        "",
        *_machine_section(results),
        "",
        "## Quality on the QA sets",
        "",
        *_quality_section(results),
        "",
        "### Typed as people type",
        "",
        *_variants_section(results),
        "",
        "## No answer: refusing unanswerable questions",
        "",
        *_no_answer_section(results),
        "",
        "## Scale",
        "",
        "### Corpora",
        "",
        *_corpus_section(results),
        "",
        *_scale_section(results),
    ]
    if chart_lines:
        sections += ["", "## Charts", "", *chart_lines]
    return "\n".join(sections) + "\n"


def write(out: Path, results: dict[str, Any]) -> Path:
    """Write ``report.md`` and the charts into ``out``."""
    path = out / "report.md"
    path.write_text(render(results, charts(out, results)), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("folder", type=Path, help="a folder written by benchmarks.run (with results.json)")
    args = parser.parse_args(argv)
    results = json.loads((args.folder / "results.json").read_text(encoding="utf-8"))
    print(write(args.folder, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
