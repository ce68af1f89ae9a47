"""Saving and loading an index as plain files: JSON and NumPy ``.npy`` arrays, never a pickle.

A saved index is a folder:

- ``manifest.json``: format, recipe (analysis and scoring settings), library versions, seeds
  fingerprint and counts, build time;
- ``articles.json``: each article's id, title, date, file digest and display title;
- ``grams.json``: the character trigrams of the fuzzy word index, in id order;
- one ``.npy`` file per array (sentence columns, texts and display texts, term keys and idf, postings).

Arrays are memory-mapped read-only, so loading takes milliseconds whatever the size, and several
processes serving one index share its pages. Loading checks the manifest against the running code
first and refuses any difference with a message that says how to rebuild.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import IndexFileError, RecipeMismatch
from retrieval.fuzzy import FuzzyWords
from retrieval.index import ArticleInfo, Index, library_versions, scoring_recipe
from retrieval.postings import Postings

__all__ = ["FORMAT", "check_manifest", "load_index", "save_index"]

FORMAT = 6
# Versions that change analysis (stems, stopwords, sentence splits): an index built with another is
# refused. numpy and scipy only store the arrays, in formats that do not change.
_BINDING_LIBRARIES = ("hazm",)
_ARRAYS = (
    "sentence_article",
    "sentence_position",
    "sentence_paragraph",
    "paragraph_of",
    "paragraph_start",
    "first_word",
    "digits",
    "anaphoric",
    "text_offsets",
    "text_bytes",
    "display_offsets",
    "display_bytes",
    "term_keys",
    "idf",
)
_POSTINGS = ("sentences", "paragraphs")
_POSTING_PARTS = ("indptr", "rows", "weights", "max_weight", "skip_indptr", "skips")
_FUZZY_PARTS = ("indptr", "words", "word_terms", "word_text", "word_offsets")


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _arrays_of(index: Index) -> dict[str, np.ndarray]:
    arrays = {name: getattr(index, name) for name in _ARRAYS}
    for name in _POSTINGS:
        postings = getattr(index, name)
        arrays |= {f"{name}.{part}": getattr(postings, part) for part in _POSTING_PARTS}
    arrays |= {f"fuzzy.{part}": getattr(index.fuzzy, part) for part in _FUZZY_PARTS}
    return arrays


def save_index(index: Index, folder: Path) -> None:
    """Write ``index`` to ``folder`` (created if needed); the files are replaced only once all are written."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".saving-"))
    try:
        _write_json(staging / "manifest.json", dict(index.manifest) | {"format": FORMAT})
        _write_json(
            staging / "articles.json",
            [
                [a.id, a.title, a.date.isoformat() if a.date else None, a.digest, a.display_title]
                for a in index.articles
            ],
        )
        _write_json(staging / "grams.json", sorted(index.fuzzy.grams, key=index.fuzzy.grams.__getitem__))
        for name, array_ in _arrays_of(index).items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array_), allow_pickle=False)
        # The manifest goes last: a folder with a manifest holds a complete index.
        names = sorted(p.name for p in staging.iterdir() if p.name != "manifest.json")
        for name in [*names, "manifest.json"]:
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFileError(f"not a saved index (no {path.name}): {path.parent}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"damaged index file {path}: {exc}") from None


def check_manifest(manifest: Mapping[str, Any], *, seeds_fingerprint: str | None = None) -> None:
    """Raise ``RecipeMismatch`` unless an index with ``manifest`` can be used by the running code."""
    rebuild = "rebuild it with `pasokh index build`"
    if manifest.get("format") != FORMAT:
        raise RecipeMismatch(f"index format {manifest.get('format')} is not {FORMAT}: {rebuild}")
    if manifest.get("recipe") != scoring_recipe():
        raise RecipeMismatch(f"index was built with other analysis or scoring settings: {rebuild}")
    saved, running = manifest.get("versions", {}), library_versions()
    for name in _BINDING_LIBRARIES:
        if saved.get(name) != running[name]:
            raise RecipeMismatch(
                f"index was built with {name} {saved.get(name)}, this is {name} {running[name]}: {rebuild}"
            )
    if seeds_fingerprint is not None and manifest.get("seeds", {}).get("fingerprint") != seeds_fingerprint:
        raise RecipeMismatch(f"index was built from other seed files than the seeds folder holds: {rebuild}")


def _load_array(folder: Path, name: str) -> np.ndarray:
    path = folder / f"{name}.npy"
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise IndexFileError(f"incomplete index: {path.name} is missing in {folder}: rebuild it") from None
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"damaged index file {path}: {exc}") from None
    # A plain read-only view of the mapped pages: indexing a np.memmap goes through Python code.
    array_: np.ndarray = mapped.view(np.ndarray)
    return array_


def load_index(folder: Path, *, seeds_fingerprint: str | None = None) -> Index:
    """Load an index saved by ``save_index``; refuse one built by other settings or from other seeds."""
    manifest = _read_json(folder / "manifest.json")
    check_manifest(manifest, seeds_fingerprint=seeds_fingerprint)
    try:
        articles = tuple(
            ArticleInfo(id_, title, dt.date.fromisoformat(date) if date else None, digest, shown)
            for id_, title, date, digest, shown in _read_json(folder / "articles.json")
        )
    except (TypeError, ValueError) as exc:
        raise IndexFileError(f"damaged index file {folder / 'articles.json'}: {exc}") from None
    arrays = {name: _load_array(folder, name) for name in _ARRAYS}
    sentences, paragraphs = (
        Postings(*(_load_array(folder, f"{name}.{part}") for part in _POSTING_PARTS)) for name in _POSTINGS
    )
    fuzzy = FuzzyWords.from_arrays(
        _read_json(folder / "grams.json"), [_load_array(folder, f"fuzzy.{part}") for part in _FUZZY_PARTS]
    )
    index = Index(
        articles=articles, **arrays, sentences=sentences, paragraphs=paragraphs, fuzzy=fuzzy, manifest=manifest
    )
    seeds = manifest.get("seeds", {})
    if len(index) != seeds.get("sentences") or len(articles) != seeds.get("articles"):
        raise IndexFileError(f"index files in {folder} do not agree with its manifest: rebuild it")
    if (
        len(index.text_offsets) != len(index) + 1
        or len(index.display_offsets) != len(index) + 1
        or index.sentences.terms != len(index.term_keys)
    ):
        raise IndexFileError(f"index arrays in {folder} do not agree with each other: rebuild it")
    return index
