"""What checking a saved index costs when it loads, at a million sentences (issue 13 §2).

    uv run python -m benchmarks.store_cost [--out DIR] [--sentences 1000000] [--repeat 3] [--rebuild]

Writes the scale corpus of ``benchmarks.corpus`` to ``DIR/corpus.jsonl`` (kept), builds Pasokh's index
over it and saves it to ``DIR/index`` (kept: a later run reuses it unless ``--rebuild`` or it no longer
loads). Then measures, each time in a fresh process, ``--repeat`` times (best and median reported):

- ``load``: ``load_index`` as shipped, every check included;
- ``load, unchecked``: the same reads, maps and ``Index`` without checksums or structural checks
  (what loading cost before them);
- ``CRC-32``: every file's checksum as the loader computes it, in its threads and in one thread;
  ``SHA-256`` and ``BLAKE2b`` in one thread, the hashes it could have used instead;
- ``structural checks``: ``retrieval.integrity.check_arrays`` over the mapped arrays;

with the index's pages in the page cache (``warm``: a restart on the same machine), and for the loads
and hashes also evicted first with ``posix_fadvise(DONTNEED)`` on its files only (``cold``: the first
load after a reboot or a copy; Linux). CPU time (all threads, user and system) is reported beside the
wall time: on a machine shared with other work it says more. Prints a Markdown table and writes it to
``DIR/store_cost.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.quality import DATA

REPO = Path(__file__).resolve().parent.parent
MEASURES = (
    "load",
    "load, unchecked",
    "CRC-32, loader's threads",
    "CRC-32, one thread",
    "SHA-256, one thread",
    "BLAKE2b, one thread",
    "structural checks",
)
WARM_ONLY = ("structural checks",)


def _evict(folder: Path) -> None:
    """Drop the folder's files from the page cache (clean pages only: they were synced when saved)."""
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _hash_all(folder: Path, algorithm: str, workers: int) -> None:
    from retrieval.folders import Checksum

    def digest(path: Path) -> str:
        h = Checksum() if algorithm == "crc32" else hashlib.new(algorithm)
        buffer = bytearray(1 << 20)
        view = memoryview(buffer)
        with path.open("rb", buffering=0) as file:
            while read := file.readinto(buffer):
                h.update(view[:read])
        return h.hexdigest()

    paths = sorted(folder.iterdir(), key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(digest, paths))


def _unchecked_load(folder: Path) -> None:
    from retrieval import store
    from retrieval.folders import ReadFolder

    store.check_arrays = lambda *args, **kwargs: None  # type: ignore[assignment]
    opened_folder = ReadFolder(folder, store.damaged)
    manifest = store.read_manifest(opened_folder)
    opened = {name: store.open_file(opened_folder, name) for name in store.FILES}
    store._build(folder, opened, manifest)


def _checks(folder: Path) -> tuple[float, float]:
    """Seconds and CPU seconds of the structural checks alone, over an index loaded first."""
    from retrieval import integrity, store

    index = store.load_index(folder)
    arrays = {name.removesuffix(".npy"): a for name, a in store._arrays_of(index).items()}
    grams = sorted(index.fuzzy.grams, key=index.fuzzy.grams.__getitem__)
    seeds = index.manifest["seeds"]
    cpu, started = time.process_time(), time.perf_counter()
    integrity.check_arrays(
        arrays, grams, sentences=seeds["sentences"], articles=seeds["articles"], terms=index.manifest["terms"]
    )
    return time.perf_counter() - started, time.process_time() - cpu


def measure(what: str, folder: Path, cold: bool) -> dict[str, float]:
    """One measurement in this process: seconds, and resident memory after it (MB)."""
    import retrieval.store  # imported before timing: import time is not the load's

    threads = min(4, os.cpu_count() or 1)
    if cold:
        _evict(folder)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if what == "load":
        retrieval.store.load_index(folder)
    elif what == "load, unchecked":
        _unchecked_load(folder)
    elif what.startswith(("CRC-32", "SHA-256", "BLAKE2b")):
        algorithm = {"CRC": "crc32", "SHA": "sha256", "BLA": "blake2b"}[what[:3]]
        _hash_all(folder, algorithm, 1 if "one thread" in what else threads)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if what == "structural checks":
        seconds, cpu = _checks(folder)
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss, "max_rss_mb": after.ru_maxrss / 1024}


def _in_fresh_process(what: str, folder: Path, cold: bool) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.store_cost", "--measure", what, "--index", str(folder)]
    cold_flag = ["--cold"] if cold else []
    done = subprocess.run([*command, *cold_flag], check=False, capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"{what}: {done.stderr.strip()}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def _build(out: Path, sentences: int, data: Path, rebuild: bool) -> tuple[Path, dict[str, object]]:
    from benchmarks.corpus import read_corpus, write_corpus
    from retrieval import IndexFileError, build_index
    from retrieval.store import load_index, save_index

    corpus, folder = out / "corpus.jsonl", out / "index"
    if not rebuild and (folder / "manifest.json").exists():
        try:
            load_index(folder)
            return folder, {"reused": True}
        except IndexFileError as exc:
            print(f"rebuilding: {exc}", file=sys.stderr)
    if not corpus.exists():
        print(f"writing the corpus: {write_corpus(data, sentences, corpus)}", file=sys.stderr)
    articles = read_corpus(corpus, texts=False).articles
    assert articles is not None
    started = time.perf_counter()
    index = build_index(articles)
    built = time.perf_counter() - started
    started = time.perf_counter()
    save_index(index, folder)
    return folder, {"build_s": round(built, 1), "save_s": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_cost", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "store_cost")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.index, args.cold)))
        return 0

    folder, build = _build(args.out, args.sentences, args.data, args.rebuild)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    size = sum(entry["bytes"] for entry in manifest["files"].values())
    lines = [
        f"{manifest['seeds']['sentences']:,} sentences, {manifest['seeds']['articles']:,} articles, "
        f"{len(manifest['files'])} files, {size / 1e6:,.0f} MB; {os.cpu_count()} CPUs; "
        f"load average at the start {os.getloadavg()[0]:.2f}; {build}",
        "",
        "| measure | page cache | best s | median s | CPU s (median; all threads) | RSS after, MB |",
        "|---|---|---|---|---|---|",
    ]
    for what in MEASURES:
        for cold in (False, True):
            if cold and what in WARM_ONLY:
                continue
            runs = [_in_fresh_process(what, folder, cold) for _ in range(args.repeat)]
            seconds = [r["seconds"] for r in runs]
            rss = statistics.median(r["rss_mb"] for r in runs)
            cpu = statistics.median(r["cpu_seconds"] for r in runs)
            lines.append(
                f"| {what} | {'cold' if cold else 'warm'} | {min(seconds):.2f} | {statistics.median(seconds):.2f} | "
                f"{cpu:.2f} | {rss:,.0f} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    lines.append("")
    lines.append(f"load average at the end {os.getloadavg()[0]:.2f}")
    report = "\n".join(lines)
    print(report)
    (args.out / "store_cost.md").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
