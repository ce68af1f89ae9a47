"""Saving and loading an index as plain files: JSON and NumPy ``.npy`` arrays, never a pickle.

A saved index is a folder:

- ``manifest.json``: format, recipe (analysis and scoring settings), library versions, seeds
  fingerprint and counts, build time, and for every other file its size and CRC-32 (arrays: also
  their dtype and shape);
- ``articles.json``: each article's id, title, date, file digest and display title;
- ``grams.json``: the character trigrams of the fuzzy word index, in id order;
- one ``.npy`` file per array (sentence columns, texts and display texts, term keys and idf, postings).

Saving writes a new folder beside the old one and swaps it in whole (``retrieval.folders``): a reader
finds the old index or the new one, never a mix.

Loading trusts nothing in the folder. It opens regular files only (no links, FIFOs or devices, and
without blocking), reads a manifest of at most ``MANIFEST_LIMIT`` bytes, refuses one built by other
settings or from other seeds (``RecipeMismatch``), then checks every file's size and checksum against
the manifest (in threads, while the rest goes on), every array's dtype and shape against the code's,
and the invariants the scorer relies on (``retrieval.integrity``). Any damage is an ``IndexFileError``
with a one-line message naming the file. Arrays are memory-mapped read-only, so several processes
serving one index share its pages. At a million sentences the checks cost about 1 s of CPU
(``benchmarks/store_cost.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import IndexFileError, RecipeMismatch
from retrieval.folders import (
    CHECKSUM,
    ReadFolder,
    checksum,
    forget_pages,
    map_npy,
    new_file,
    one_line,
    read_bounded,
    replace_folder,
)
from retrieval.fuzzy import FuzzyWords
from retrieval.index import ArticleInfo, Index, library_versions, scoring_recipe
from retrieval.integrity import Damaged, check_arrays
from retrieval.postings import Postings

__all__ = [
    "CHECKSUM",
    "DTYPES",
    "FILES",
    "FORMAT",
    "MANIFEST_LIMIT",
    "check_manifest",
    "damaged",
    "load_index",
    "open_file",
    "read_grams",
    "read_manifest",
    "save_index",
    "write_array",
    "write_json",
]

FORMAT = 7
"""7: sizes, checksums, dtypes and shapes of the files in the manifest; saved by swapping whole folders."""
MANIFEST_LIMIT = 1_000_000
"""Bytes: a larger manifest is refused unread (it holds settings and one line per file)."""
# Versions that change analysis (stems, stopwords, sentence splits): an index built with another is
# refused. numpy and scipy only store the arrays, in formats that do not change.
_BINDING_LIBRARIES = ("hazm",)
_REBUILD = "rebuild it with `pasokh index build`"
_LOAD_ATTEMPTS = 10
"""Reads of a folder that saves keep replacing mid-read (each retry only after a replacement: on a loaded
machine two savers in a loop outran three)."""

_I32: np.dtype[Any] = np.dtype(np.int32)
_I64: np.dtype[Any] = np.dtype(np.int64)
_U64: np.dtype[Any] = np.dtype(np.uint64)
_F32: np.dtype[Any] = np.dtype(np.float32)
_U8: np.dtype[Any] = np.dtype(np.uint8)
_BOOL: np.dtype[Any] = np.dtype(np.bool_)
_ARRAYS = {
    "sentence_article": _I32,
    "sentence_position": _I32,
    "sentence_paragraph": _I32,
    "paragraph_of": _I32,
    "paragraph_start": _I64,
    "first_word": _I32,
    "digits": _BOOL,
    "anaphoric": _BOOL,
    "text_offsets": _I64,
    "text_bytes": _U8,
    "display_offsets": _I64,
    "display_bytes": _U8,
    "term_keys": _U64,
    "idf": _F32,
}
_POSTINGS = ("sentences", "paragraphs")
_POSTING_PARTS = {"indptr": _I64, "rows": _I32, "weights": _F32, "max_weight": _F32, "skip_indptr": _I64, "skips": _I32}
_FUZZY_PARTS = {"indptr": _I64, "words": _I32, "word_terms": _I64, "word_text": _U8, "word_offsets": _I64}
DTYPES: Mapping[str, np.dtype[Any]] = {
    **_ARRAYS,
    **{f"{name}.{part}": dtype for name in _POSTINGS for part, dtype in _POSTING_PARTS.items()},
    **{f"fuzzy.{part}": dtype for part, dtype in _FUZZY_PARTS.items()},
}
"""Every array of a saved index (its file is the name and ``.npy``) and the dtype its readers expect."""
FILES = ("articles.json", "grams.json", *(f"{name}.npy" for name in DTYPES))
"""Every file of a saved index that the manifest lists (all but the manifest itself)."""


# -- saving --------------------------------------------------------------------------------------


def write_json(path: Path, value: object) -> dict[str, object]:
    with new_file(path) as out:
        out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return {"bytes": out.size, CHECKSUM: out.hash.hexdigest()}


def write_array(path: Path, array_: np.ndarray) -> dict[str, object]:
    array_ = np.ascontiguousarray(array_)
    with new_file(path) as out:
        np.lib.format.write_array(out, array_, allow_pickle=False)
    return {"bytes": out.size, CHECKSUM: out.hash.hexdigest(), "dtype": array_.dtype.str, "shape": list(array_.shape)}


def _arrays_of(index: Index) -> dict[str, np.ndarray]:
    arrays = {name: getattr(index, name) for name in _ARRAYS}
    for name in _POSTINGS:
        postings = getattr(index, name)
        arrays |= {f"{name}.{part}": getattr(postings, part) for part in _POSTING_PARTS}
    arrays |= {f"fuzzy.{part}": getattr(index.fuzzy, part) for part in _FUZZY_PARTS}
    return arrays


def _write_files(index: Index, folder: Path) -> None:
    """Write every file of ``index`` into ``folder``, the manifest (with the others' checksums) last."""
    articles = [
        [a.id, a.title, a.date.isoformat() if a.date else None, a.digest, a.display_title] for a in index.articles
    ]
    grams = sorted(index.fuzzy.grams, key=index.fuzzy.grams.__getitem__)
    files = {"articles.json": write_json(folder / "articles.json", articles)}
    files["grams.json"] = write_json(folder / "grams.json", grams)
    for name, array_ in _arrays_of(index).items():
        files[f"{name}.npy"] = write_array(folder / f"{name}.npy", array_)
    write_json(folder / "manifest.json", dict(index.manifest) | {"format": FORMAT, "files": files})


def _replaceable(names: list[str]) -> bool:
    """Whether a folder holding ``names`` is a saved index (of this format or an older one)."""
    index_like = all(name.endswith((".npy", ".json")) or name.startswith(".saving-") for name in names)
    return index_like and ("manifest.json" in names or set(names) <= set(FILES))


def save_index(index: Index, folder: Path) -> None:
    """Write ``index`` to ``folder`` (parents created if needed), replacing a saved index there whole.

    The files go to a new folder beside it, synced to disk, which then takes its place: a reader of
    ``folder`` sees the old index or the new one, never a mix, even with several saves at once (the
    last one wins). A folder holding anything but a saved index is not replaced (``FileExistsError``).
    """
    replace_folder(folder, lambda new: _write_files(index, new), _replaceable)


# -- loading -------------------------------------------------------------------------------------


def damaged(path: Path | str, problem: object) -> IndexFileError:
    return IndexFileError(f"damaged index file {path}: {one_line(problem)}: {_REBUILD}")


def open_file(folder: ReadFolder, name: str) -> tuple[int, int]:
    try:
        return folder.open(name)
    except FileNotFoundError:
        if name == "manifest.json":
            raise IndexFileError(f"not a saved index (no manifest.json): {folder.path}") from None
        raise IndexFileError(f"incomplete index: {name} is missing in {folder.path}: {_REBUILD}") from None


def read_manifest(folder: ReadFolder) -> dict[str, Any]:
    fd, size = open_file(folder, "manifest.json")
    path = folder.path / "manifest.json"
    try:
        if size > MANIFEST_LIMIT:
            raise damaged(path, f"is {size} bytes, more than a manifest's {MANIFEST_LIMIT}")
        manifest = json.loads(read_bounded(fd, MANIFEST_LIMIT))
    except (OSError, ValueError, RecursionError) as exc:
        raise damaged(path, exc) from None
    finally:
        os.close(fd)
    if not isinstance(manifest, dict):
        raise damaged(path, "is not a JSON object")
    return manifest


def check_manifest(manifest: Mapping[str, Any], *, seeds_fingerprint: str | None = None) -> None:
    """Raise ``RecipeMismatch`` unless an index with ``manifest`` can be used by the running code."""
    if manifest.get("format") != FORMAT:
        raise RecipeMismatch(f"index format {manifest.get('format')} is not {FORMAT}: {_REBUILD}")
    if manifest.get("recipe") != scoring_recipe():
        raise RecipeMismatch(f"index was built with other analysis or scoring settings: {_REBUILD}")
    saved, running = manifest.get("versions"), library_versions()
    saved = saved if isinstance(saved, dict) else {}
    for name in _BINDING_LIBRARIES:
        if saved.get(name) != running[name]:
            raise RecipeMismatch(
                f"index was built with {name} {saved.get(name)}, this is {name} {running[name]}: {_REBUILD}"
            )
    seeds = manifest.get("seeds")
    fingerprint = seeds.get("fingerprint") if isinstance(seeds, dict) else None
    if seeds_fingerprint is not None and fingerprint != seeds_fingerprint:
        raise RecipeMismatch(f"index was built from other seed files than the seeds folder holds: {_REBUILD}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_manifest_fields(manifest: Mapping[str, Any], path: Path) -> None:
    """The fields the loader and ``pasokh index stats`` read, with their types."""
    seeds, files = manifest.get("seeds"), manifest.get("files")
    if not (
        isinstance(seeds, dict)
        and _whole(seeds.get("sentences"))
        and _whole(seeds.get("articles"))
        and isinstance(seeds.get("fingerprint"), str)
        and _whole(manifest.get("terms"))
        and isinstance(manifest.get("built_at"), str)
        and isinstance(manifest.get("build_seconds"), int | float)
        and isinstance(files, dict)
    ):
        raise damaged(path, "lacks counts, build details or the list of files")
    for name in FILES:
        entry = files.get(name)
        if not (isinstance(entry, dict) and _whole(entry.get("bytes")) and isinstance(entry.get(CHECKSUM), str)):
            raise damaged(path, f"has no size and {CHECKSUM} for {name}")
        if name.endswith(".npy") and not (
            entry.get("dtype") == DTYPES[name.removesuffix(".npy")].str
            and isinstance(entry.get("shape"), list)
            and len(entry["shape"]) == 1
            and _whole(entry["shape"][0])
        ):
            raise damaged(path, f"gives {name} another dtype or shape than an index has")


def _read_articles(data: bytes, path: Path) -> tuple[ArticleInfo, ...]:
    try:
        rows = json.loads(data)
        if not isinstance(rows, list):
            raise TypeError("not a list")
        articles = []
        for id_, title, date, digest, shown in rows:
            if not (
                type(id_) is type(title) is type(digest) is type(shown) is str and (date is None or type(date) is str)
            ):
                raise TypeError("an article with a field of the wrong type")
            articles.append(ArticleInfo(id_, title, dt.date.fromisoformat(date) if date else None, digest, shown))
    except (TypeError, ValueError, RecursionError) as exc:
        raise damaged(path, exc) from None
    return tuple(articles)


def read_grams(data: bytes, path: Path) -> list[str]:
    try:
        grams = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise damaged(path, exc) from None
    if not isinstance(grams, list) or not all(isinstance(g, str) for g in grams):
        raise damaged(path, "is not a list of strings")
    return grams


def _build(path: Path, opened: Mapping[str, tuple[int, int]], manifest: Mapping[str, Any]) -> Index:
    """Map the arrays, read the JSON files, check that they hold together, and make the ``Index``."""
    files, seeds = manifest["files"], manifest["seeds"]
    arrays = {}
    for name, dtype in DTYPES.items():
        try:
            arrays[name] = map_npy(*opened[f"{name}.npy"], dtype, files[f"{name}.npy"]["shape"][0])
        except (OSError, ValueError, EOFError) as exc:
            raise damaged(path / f"{name}.npy", exc) from None
    articles = _read_articles(read_bounded(*opened["articles.json"]), path / "articles.json")
    grams = read_grams(read_bounded(*opened["grams.json"]), path / "grams.json")
    if len(articles) != seeds["articles"]:
        raise damaged(path / "articles.json", f"holds {len(articles)} articles, the manifest says {seeds['articles']}")
    try:
        check_arrays(arrays, grams, sentences=seeds["sentences"], articles=len(articles), terms=manifest["terms"])
    except Damaged as exc:
        raise damaged(path / (exc.name if exc.name.endswith(".json") else f"{exc.name}.npy"), exc.problem) from None
    forget_pages(arrays.values())
    sentences, paragraphs = (Postings(*(arrays[f"{name}.{part}"] for part in _POSTING_PARTS)) for name in _POSTINGS)
    fuzzy = FuzzyWords.from_arrays(grams, [arrays[f"fuzzy.{part}"] for part in _FUZZY_PARTS])
    return Index(
        articles=articles,
        **{name: arrays[name] for name in _ARRAYS},
        sentences=sentences,
        paragraphs=paragraphs,
        fuzzy=fuzzy,
        manifest=manifest,
    )


def _load(folder: ReadFolder, seeds_fingerprint: str | None) -> Index:
    manifest = read_manifest(folder)
    check_manifest(manifest, seeds_fingerprint=seeds_fingerprint)
    _check_manifest_fields(manifest, folder.path / "manifest.json")
    files = manifest["files"]
    with contextlib.ExitStack() as stack:
        opened: dict[str, tuple[int, int]] = {}
        for name in FILES:
            opened[name] = open_file(folder, name)
            stack.callback(os.close, opened[name][0])
        for name, (_, size) in opened.items():
            if size != files[name]["bytes"]:
                raise damaged(folder.path / name, f"is {size} bytes, the manifest says {files[name]['bytes']}")
        # Checksums in threads (zlib releases the GIL), largest files first, while this thread checks
        # the arrays; a checksum that differs is reported first: it says the most.
        pool = stack.enter_context(ThreadPoolExecutor(min(4, os.cpu_count() or 1), "pasokh-checksum"))
        by_size = sorted(opened, key=lambda name: -opened[name][1])
        digests: dict[str, Future[str]] = {name: pool.submit(checksum, opened[name][0]) for name in by_size}
        problem: IndexFileError | None = None
        try:
            index = _build(folder.path, opened, manifest)
        except IndexFileError as exc:
            problem = exc
        for name in FILES:
            if digests[name].result() != files[name][CHECKSUM]:
                raise damaged(folder.path / name, f"{CHECKSUM} differs from the manifest's: changed since it was saved")
        if problem is not None:
            raise problem
        return index


def load_index(folder: Path, *, seeds_fingerprint: str | None = None) -> Index:
    """Load an index saved by ``save_index``; refuse a damaged one, or one built by other settings or seeds.

    Raises ``IndexFileError`` (one line: which file, what is wrong) for anything but a whole, intact
    index, and ``RecipeMismatch`` for one this code cannot use. A save that replaces the folder while
    it is read makes it read again, from the new index.
    """
    for attempt in range(_LOAD_ATTEMPTS):
        opened = ReadFolder(folder, damaged)
        try:
            return _load(opened, seeds_fingerprint)
        except IndexFileError:
            if attempt + 1 < _LOAD_ATTEMPTS and opened.replaced():
                continue
            raise
        except (ArithmeticError, LookupError, OSError, TypeError, ValueError, EOFError, RecursionError) as exc:
            # Damage the checks above did not foresee: still an unusable index, never a traceback.
            if attempt + 1 < _LOAD_ATTEMPTS and opened.replaced():
                continue
            raise IndexFileError(
                f"damaged index in {folder}: {one_line(exc) or type(exc).__name__}: {_REBUILD}"
            ) from None
        finally:
            opened.close()
    raise AssertionError("unreachable")
